// Package identity is the Entra ID-compatible token service: discovery
// documents, JWKS, the v1 and v2 token endpoints (client credentials with a
// secret or a certificate assertion, authorization code with PKCE, refresh
// token), admin consent and OpenID Connect sign-in. It knows nothing of
// Dataverse; the resources it issues tokens for are URIs registered per
// tenant.
//
// Paths, parameters and JSON shapes follow ../shared/reference/entra.md; the
// sections cited in comments (§n) are that document's.
package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store"
	"github.com/google/uuid"
)

// Config configures a Server.
type Config struct {
	// BaseURL is the authority host, e.g. "https://localhost:8443". Issuers
	// and endpoints are built on it.
	BaseURL string
	Store   store.Store
	Keys    *secret.Keys
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheTTL bounds how long directory reads on the token path are cached
	// (0: one second; negative: no cache). Changes made through this
	// process's Directory are seen at once; changes made by another process
	// (the CLI, another instance) within CacheTTL.
	CacheTTL time.Duration
	// KeyRotation is how long a signing key signs (default 30 days);
	// KeyOverlap how long a new key is published before it signs and an
	// old one after it stops (default 24 hours).
	KeyRotation time.Duration
	KeyOverlap  time.Duration
	// TokenLifetime of access tokens (default 1 hour, as Entra's 60-90 minutes).
	TokenLifetime time.Duration
	// Refused lists credentials that must not work: the ids of well-known
	// demo password credentials and demo users, when the server is reachable
	// beyond loopback.
	Refused map[string]bool
	// OnToken, if set, is called for every access token issued, with the
	// grant type and the tenant id (metrics).
	OnToken func(grant, tenant string)
}

// Server serves the identity endpoints.
type Server struct {
	base     string
	store    store.Store
	secrets  *secret.Keys
	dir      *directory.Directory
	log      *slog.Logger
	clock    func() time.Time
	keys     *keyRing
	view     *view
	lifetime time.Duration
	refused  map[string]bool
	onToken  func(grant, tenant string)
	mux      *http.ServeMux
}

// New creates a Server and loads (or creates) its signing keys.
func New(ctx context.Context, c Config) (*Server, error) {
	s := &Server{
		base:     strings.TrimRight(c.BaseURL, "/"),
		store:    c.Store,
		secrets:  c.Keys,
		log:      c.Logger,
		clock:    c.Now,
		lifetime: c.TokenLifetime,
		refused:  c.Refused,
		onToken:  c.OnToken,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.lifetime <= 0 {
		s.lifetime = time.Hour
	}
	rot, ov := c.KeyRotation, c.KeyOverlap
	if rot <= 0 {
		rot = 30 * 24 * time.Hour
	}
	if ov <= 0 {
		ov = 24 * time.Hour
	}
	if ov > rot/2 {
		ov = rot / 2
	}
	s.keys = &keyRing{st: c.Store, seal: c.Keys, period: rot, overlap: ov, now: s.now}
	if err := s.keys.refresh(ctx); err != nil {
		return nil, err
	}
	ttl := c.CacheTTL
	if ttl == 0 {
		ttl = time.Second
	}
	s.view = newView(c.Store, ttl, s.now)
	s.dir = s.Directory()
	s.routes()
	return s, nil
}

// tokenIssued reports an issued access token to Config.OnToken.
func (s *Server) tokenIssued(grant, tenant string) {
	if s.onToken != nil {
		s.onToken(grant, tenant)
	}
}

// Directory returns a Directory whose changes this server sees at once.
func (s *Server) Directory() *directory.Directory {
	return &directory.Directory{Store: s.store, Keys: s.secrets, Now: s.now, Changed: s.view.flush}
}

// Run does periodic work until ctx ends: picks up signing keys created by
// other instances, rotates keys and deletes expired grants.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.keys.refresh(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("signing key refresh failed", "err", err)
			}
			if err := s.store.DeleteExpired(ctx, s.now()); err != nil && ctx.Err() == nil {
				s.log.Error("deleting expired grants failed", "err", err)
			}
		}
	}
}

// RotateKeys forces a new signing key (published now, signing after the
// overlap) regardless of the rotation period.
func (s *Server) RotateKeys(ctx context.Context) error {
	now := s.now()
	if err := s.keys.create(ctx, now, now.Add(s.keys.overlap), now); err != nil {
		return err
	}
	return s.keys.refresh(ctx)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) now() time.Time { return s.clock().UTC() }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /common/discovery/instance", s.instanceDiscovery)
	m.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfig(2))
	m.HandleFunc("GET /{tenant}/.well-known/openid-configuration", s.openIDConfig(1))
	m.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.jwks)
	m.HandleFunc("GET /{tenant}/discovery/keys", s.jwks)
	m.HandleFunc("GET /discovery/v2.0/keys", s.jwks)
	m.HandleFunc("GET /discovery/keys", s.jwks)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token(2))
	m.HandleFunc("POST /{tenant}/oauth2/token", s.token(1))
	m.HandleFunc("/{tenant}/oauth2/v2.0/token", s.postOnly)
	m.HandleFunc("/{tenant}/oauth2/token", s.postOnly)
	m.HandleFunc("GET /error", s.errorPage)
	s.mux = m
	s.signInRoutes(m)
}

func (s *Server) postOnly(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, badRequest("invalid_request", 900561, "The endpoint only accepts POST requests. Received a %s request.", r.Method))
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("dvs2s identity service error code " + r.URL.Query().Get("code") + ". See https://learn.microsoft.com/entra/identity-platform/reference-error-codes\n"))
}

// Special tenant segments (§2.1).
const (
	segCommon        = "common"
	segOrganizations = "organizations"
	segConsumers     = "consumers"
)

// isMultiTenantSeg reports whether seg is one of the non-tenant authorities.
func isMultiTenantSeg(seg string) bool {
	return seg == segCommon || seg == segOrganizations || seg == segConsumers
}

// tenant resolves a path segment (GUID or verified domain,
// case-insensitive) to a tenant, or returns the Entra error (§9.2: 900023
// for a malformed value, 90002 for an unknown tenant).
func (s *Server) tenant(ctx context.Context, seg, oauthErr string) (store.Tenant, *Error) {
	seg = strings.ToLower(seg)
	if !directory.IsGUID(seg) && !validDomain(seg) {
		return store.Tenant{}, badRequest("invalid_request", 900023, "Specified tenant identifier '%s' is neither a valid DNS name, nor a valid external domain.", seg)
	}
	t, err := s.view.tenant(ctx, seg)
	if err != nil {
		if err == store.ErrNotFound {
			return t, badRequest(oauthErr, 90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", seg)
		}
		s.log.Error("tenant lookup failed", "err", err)
		return t, newErr(http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
	}
	return t, nil
}

func validDomain(s string) bool {
	if len(s) == 0 || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Issuers (§8.3): v1 tokens carry "{base}/{tid}/" (Entra's
// https://sts.windows.net/{tid}/ moved onto our host), v2 "{base}/{tid}/v2.0".
func (s *Server) issuerV1(tid string) string { return s.base + "/" + tid + "/" }
func (s *Server) issuerV2(tid string) string { return s.base + "/" + tid + "/v2.0" }

func newGUID() string { return uuid.NewString() }

// newUTI returns a 22-character token identifier like Entra's uti.
func newUTI() string {
	b := make([]byte, 16)
	rand.Read(b)
	return b64(b)
}

// newRH returns an opaque value like Entra's rh claim.
func newRH() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "0.A" + hex.EncodeToString(b)
}

func slogStr(k, v string) slog.Attr     { return slog.String(k, v) }
func slogInt(k string, v int) slog.Attr { return slog.Int(k, v) }

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
