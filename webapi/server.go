// Package webapi is the Dataverse-compatible Web API (OData v4 at
// /api/data/v9.2/): authentication exactly as Dataverse does it, mapping of
// the token to a systemuser (application user or user), and the handlers
// for the service document, metadata, WhoAmI, rows and queries. Shapes,
// headers and error codes follow ../shared/reference/dataverse.md (§n in
// comments).
package webapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/odata"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/throttle"
)

// Config configures a Server.
type Config struct {
	Envs *environment.Manager
	// Authority is the built-in identity service's authority host (no
	// tenant); environments with their own Authority trust that instead.
	Authority string
	// Client fetches identity metadata; it must trust the authorities' CAs.
	Client *http.Client
	Logger *slog.Logger
	// MaxBody bounds request bodies (default 16 MiB).
	MaxBody int64
	// Limits are the service protection limits of every environment (zero
	// fields: Dataverse's defaults); EnvLimits override them per
	// environment name (lower case). ThrottleNow is their clock (window and
	// execution time; nil: time.Now). See webapi/throttle.go.
	Limits      throttle.Limits
	EnvLimits   map[string]throttle.Limits
	ThrottleNow func() time.Time
	// Observer receives request measurements (metrics); may be nil.
	Observer Observer
}

// Server serves the Web API of every environment.
type Server struct {
	c   Config
	log *slog.Logger

	mu         sync.Mutex
	principals map[string]principalEntry
	verifiers  map[string]*Verifier
	functions  map[string]func(*request, []odata.Segment)
	limiters   sync.Map // environment id → *envLimiter
}

// verifier returns the token verifier of an environment's authority.
func (s *Server) verifier(env *environment.Env) (*Verifier, string) {
	auth := strings.TrimRight(env.Authority, "/")
	if auth == "" {
		auth = strings.TrimRight(s.c.Authority, "/")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.verifiers[auth]
	if v == nil {
		v = &Verifier{Authority: auth, Client: s.c.Client}
		s.verifiers[auth] = v
	}
	return v, auth
}

// New returns a Server.
func New(c Config) *Server {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 16 << 20
	}
	s := &Server{c: c, log: c.Logger, principals: map[string]principalEntry{}, verifiers: map[string]*Verifier{}}
	s.functions = map[string]func(*request, []odata.Segment){
		"WhoAmI":                  (*request).whoAmI,
		"EntityDefinitions":       (*request).entityDefinitions,
		"RelationshipDefinitions": (*request).relationshipDefinitions,
	}
	for name, h := range unbound {
		s.functions[name] = h
	}
	return s
}

// Handler serves one environment (one origin per environment).
func (s *Server) Handler(envID string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env, err := s.c.Envs.Open(r.Context(), envID)
		if err != nil {
			s.log.Error("environment unavailable", "env", envID, "err", err)
			writeError(w, errorf(http.StatusServiceUnavailable, codeUnexpected, "The environment is not available."))
			return
		}
		s.serve(w, r, env)
	})
}

// HostHandler serves every environment on one listener, choosing the
// environment by the request's host name: <name>.<baseDomain>.
func (s *Server) HostHandler(baseDomain string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(r.Host)
		if i := strings.LastIndexByte(host, ':'); i > 0 && !strings.Contains(host[i:], "]") {
			host = host[:i]
		}
		name, ok := strings.CutSuffix(host, "."+strings.ToLower(baseDomain))
		if !ok || strings.Contains(name, ".") {
			writeError(w, noResource(r.URL.String()))
			return
		}
		env, err := s.c.Envs.Open(r.Context(), name)
		if err != nil {
			writeError(w, noResource(r.URL.String()))
			return
		}
		s.serve(w, r, env)
	})
}

// request is one Web API call being served.
type request struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	ctx  context.Context
	env  *environment.Env
	sch  *schema.Schema
	p    *principal
	base string // <env url>/api/data/v9.x/
	path string // escaped path after base

	opts   *odata.Query
	prefer odata.Prefer
	altKey store.Cond // alternate key of a key segment that matched no row
	tx     store.Data // the transaction of the current change, if any
	// txOwner is set while inTx runs the transaction it began; deniedInTx
	// are the denials to audit once it has ended (see auditDenied).
	txOwner    bool
	deniedInTx []*security.Denial
	// contentIDs resolves $n references inside a $batch change set.
	contentIDs map[string]store.Ref
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, env *environment.Env) {
	x := s.observe(w, r, env) // request id, rate-limit headers, metrics, log
	defer x.finish()
	w = x
	h := w.Header()
	id := x.id
	h.Set("OData-Version", "4.0")
	h.Set("REQ_ID", id)
	h.Set("x-ms-service-request-id", id)
	h.Set("Cache-Control", "no-cache")
	path := r.URL.EscapedPath()
	var version string
	for _, v := range []string{"v9.2", "v9.1", "v9.0"} {
		if rest, ok := strings.CutPrefix(path, "/api/data/"+v); ok && (rest == "" || rest[0] == '/') {
			version, path = v, strings.TrimPrefix(rest, "/")
			break
		}
	}
	if version == "" {
		writeError(w, noResource(env.URL+r.URL.RequestURI()))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.c.MaxBody)
	p, e := s.authenticate(r, env)
	if e != nil {
		if e.Status == http.StatusUnauthorized {
			_, auth := s.verifier(env)
			h.Set("WWW-Authenticate", "Bearer authorization_uri="+auth+"/"+env.TenantID+"/oauth2/authorize, resource_id="+env.URL+"/")
		}
		writeError(w, e)
		return
	}
	if !x.admit(p) { // service protection limits: 429
		return
	}
	caller := p
	if p, e = s.impersonate(r, env, p); e != nil {
		if e.Code == codeCannotActOnBehalf { // a denied attempt: audited like the others
			q := &request{s: s, w: w, r: r, ctx: r.Context(), env: env, sch: env.Schema(), p: caller}
			q.auditDenied(&security.Denial{Privilege: security.PrvActOnBehalf, Table: q.sch.Table(schema.TableSystemUser)})
		}
		writeError(w, e)
		return
	}
	q := &request{s: s, w: w, r: r, ctx: r.Context(), env: env, sch: env.Schema(), p: p,
		base: env.URL + "/api/data/" + version + "/", path: path}
	q.route()
}

// principal is the systemuser a request runs as.
type principal struct {
	UserID   string
	BU       string
	ObjectID string
	AppUser  bool
	Roles    []string
	Name     string
	// OnBehalfOf is the actual caller when impersonating ("" otherwise).
	OnBehalfOf string
	AccessMode int64
	// sec holds the effective rights (the intersection with the caller's
	// when impersonating).
	sec *security.Principal
}

// callerID is the actual caller: the impersonator, or the user.
func (p *principal) callerID() string {
	if p.OnBehalfOf != "" {
		return p.OnBehalfOf
	}
	return p.UserID
}

type principalEntry struct {
	p   *principal
	e   *Error
	exp time.Time
}

const principalTTL = 2 * time.Second

// authenticate validates the bearer token and maps it to a systemuser
// (reference §1.6, §1.7): app-only tokens by applicationid, user tokens by
// azureactivedirectoryobjectid.
func (s *Server) authenticate(r *http.Request, env *environment.Env) (*principal, *Error) {
	auth := r.Header.Get("Authorization")
	scheme, raw, _ := strings.Cut(auth, " ")
	if auth == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, errorf(http.StatusUnauthorized, codeNotAuthenticated, "Request is not authenticated.")
	}
	v, _ := s.verifier(env)
	c, err := v.Verify(r.Context(), strings.TrimSpace(raw), env.TenantID, env.URL)
	if err != nil {
		var ae *errAuth
		if errors.As(err, &ae) {
			return nil, errorf(http.StatusUnauthorized, codeTokenInvalid, "The requested resource requires authentication. %s", ae.msg)
		}
		s.log.Error("token validation failed", "env", env.Name, "err", err)
		return nil, errorf(http.StatusServiceUnavailable, codeUnexpected, "The identity provider's metadata could not be retrieved.")
	}
	appID, appOnly := c.App()
	key := env.ID + "\x00u\x00" + strings.ToLower(c.Oid)
	if appOnly {
		key = env.ID + "\x00a\x00" + appID
	}
	now := time.Now()
	s.mu.Lock()
	pe, ok := s.principals[key]
	s.mu.Unlock()
	if ok && now.Before(pe.exp) {
		return pe.p, pe.e
	}
	p, e := s.resolve(r.Context(), env, c, appID, appOnly)
	s.mu.Lock()
	if len(s.principals) > 10000 {
		s.principals = map[string]principalEntry{}
	}
	s.principals[key] = principalEntry{p: p, e: e, exp: now.Add(principalTTL)}
	s.mu.Unlock()
	return p, e
}

// flushPrincipals drops cached principals (after users, roles or teams
// change).
func (s *Server) flushPrincipals() {
	s.mu.Lock()
	s.principals = map[string]principalEntry{}
	s.mu.Unlock()
}

func (s *Server) resolve(ctx context.Context, env *environment.Env, c *Claims, appID string, appOnly bool) (*principal, *Error) {
	var row store.Row
	var err error
	if appOnly {
		row, err = env.UserByApplicationID(ctx, appID)
	} else {
		row, err = env.UserByObjectID(ctx, c.Oid)
		if errors.Is(err, store.ErrNotFound) {
			// Users of the tenant are provisioned on first access, as
			// Dataverse does from Entra ID.
			if u, uerr := s.c.Envs.Store.User(ctx, strings.ToLower(c.Oid)); uerr == nil && u.TenantID == env.TenantID {
				row, err = env.SyncUser(ctx, u)
			}
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusForbidden, codeUserNotMember, "The user is not a member of the organization.")
	}
	if err != nil {
		s.log.Error("principal lookup failed", "err", err)
		return nil, errorf(http.StatusServiceUnavailable, codeUnexpected, "The user could not be resolved.")
	}
	return s.principalOf(ctx, env, row, appOnly)
}

// impersonate applies CallerObjectId (Entra object id) or MSCRMCallerID
// (systemuserid) (reference §2): the caller needs
// prvActOnBehalfOfAnotherUser (403 0x8004A110); the request then runs as
// the impersonated user with the intersection of both principals' rights,
// and records the caller as createdonbehalfby/modifiedonbehalfby.
// Impersonating oneself is no impersonation.
func (s *Server) impersonate(r *http.Request, env *environment.Env, caller *principal) (*principal, *Error) {
	oid, sid := strings.TrimSpace(r.Header.Get("CallerObjectId")), strings.TrimSpace(r.Header.Get("MSCRMCallerID"))
	if oid == "" && sid == "" {
		return caller, nil
	}
	header, val := "CallerObjectId", oid
	if sid != "" { // MSCRMCallerID wins when both are sent, as in the SDK
		header, val = "MSCRMCallerID", sid
	}
	val = strings.Trim(strings.ToLower(val), "{}")
	if !isGUID(val) {
		return nil, badRequest("The %s header value '%s' is not a valid GUID.", header, val)
	}
	if (sid != "" && val == caller.UserID) || (sid == "" && val == strings.ToLower(caller.ObjectID)) {
		return caller, nil
	}
	if caller.sec.Depth(security.PrvActOnBehalf) == security.None {
		return nil, errorf(http.StatusForbidden, codeCannotActOnBehalf, "User does not have the privilege to act on behalf another user.")
	}
	key := env.ID + "\x00i\x00" + header + "\x00" + val
	now := time.Now()
	s.mu.Lock()
	pe, ok := s.principals[key]
	s.mu.Unlock()
	if !ok || !now.Before(pe.exp) {
		pe = principalEntry{exp: now.Add(principalTTL)}
		var row store.Row
		var err error
		if header == "MSCRMCallerID" {
			row, err = env.Data.Get(r.Context(), env.Schema().Table(schema.TableSystemUser), val, nil)
		} else {
			row, err = env.UserByObjectID(r.Context(), val)
			if errors.Is(err, store.ErrNotFound) {
				if u, uerr := s.c.Envs.Store.User(r.Context(), val); uerr == nil && u.TenantID == env.TenantID {
					row, err = env.SyncUser(r.Context(), u)
				}
			}
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			pe.e = errorf(http.StatusForbidden, codeUserNotMember, "The user to impersonate (%s = %s) is not a member of the organization.", header, val)
		case err != nil:
			pe.e = errorf(http.StatusServiceUnavailable, codeUnexpected, "The user to impersonate could not be resolved.")
		default:
			pe.p, pe.e = s.principalOf(r.Context(), env, row, false)
		}
		s.mu.Lock()
		s.principals[key] = pe
		s.mu.Unlock()
	}
	if pe.e != nil {
		return nil, pe.e
	}
	if pe.p.UserID == caller.UserID {
		return caller, nil
	}
	p := *pe.p
	p.OnBehalfOf = caller.UserID
	p.sec = security.Intersect(caller.sec, pe.p.sec)
	return &p, nil
}

// principalOf builds the principal of a systemuser row: refused when
// disabled (0x80040225) or without any role (0x80042f09).
func (s *Server) principalOf(ctx context.Context, env *environment.Env, row store.Row, appOnly bool) (*principal, *Error) {
	p := &principal{AppUser: appOnly}
	p.UserID, _ = row["systemuserid"].(string)
	p.ObjectID, _ = row["azureactivedirectoryobjectid"].(string)
	p.Name, _ = row["fullname"].(string)
	p.AccessMode, _ = row["accessmode"].(int64)
	if bu, ok := row["businessunitid"].(store.Ref); ok {
		p.BU = bu.ID
	}
	if dis, _ := row["isdisabled"].(bool); dis {
		return nil, errorf(http.StatusForbidden, codeUserDisabled, "The specified user(Id = %s) is disabled. Consider enabling this user. Additional Details: The user is disabled in this environment.", p.UserID)
	}
	sec, err := security.Load(ctx, env.Data, env.Schema(), p.UserID)
	if err != nil {
		s.log.Error("role lookup failed", "err", err)
		return nil, errorf(http.StatusServiceUnavailable, codeUnexpected, "The user's roles could not be read.")
	}
	p.sec = sec
	for _, r := range sec.Roles {
		p.Roles = append(p.Roles, r.ID)
	}
	if len(p.Roles) == 0 {
		return nil, errorf(http.StatusForbidden, codeUserNoRoles, "The user (Id = %s) has not been assigned any roles.", p.UserID)
	}
	return p, nil
}
