package identity

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

func cacheable(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "max-age=86400, private")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
}

// instanceDiscovery answers GET /common/discovery/instance (§3). A client
// asks it about the authority it was given; this service knows only its own
// host (and answers 50049 invalid_instance for any other, as Entra does
// for hosts it does not serve).
func (s *Server) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ae := q.Get("authorization_endpoint")
	base, _ := url.Parse(s.base)
	host := base.Host
	tenantSeg := segCommon
	if ae != "" {
		u, err := url.Parse(ae)
		if err != nil || !strings.EqualFold(u.Host, host) {
			s.writeError(w, r, badRequest("invalid_instance", 50049, "Unknown or invalid instance."))
			return
		}
		if parts := strings.Split(strings.Trim(u.Path, "/"), "/"); parts[0] != "" {
			tenantSeg = parts[0]
		}
	}
	cacheable(w)
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": s.base + "/" + tenantSeg + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}},
	})
}

// openIDConfig serves the OpenID Provider Metadata (OpenID Connect Discovery
// 1.0 section 3) in Entra's v2 (§4.1) or v1 (§4.2) form. A tenant addressed
// by domain gets the GUID-based document; common and organizations get the
// {tenantid} issuer template.
func (s *Server) openIDConfig(ver int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		seg := strings.ToLower(r.PathValue("tenant"))
		tid, issuerTID := seg, seg
		regionScope := any(nil)
		if !isMultiTenantSeg(seg) {
			t, e := s.tenant(r.Context(), seg, "invalid_tenant")
			if e != nil {
				s.writeError(w, r, e)
				return
			}
			tid, issuerTID = t.ID, t.ID
			regionScope = "WW"
		} else {
			issuerTID = "{tenantid}"
		}
		b := s.base + "/" + tid
		var doc map[string]any
		if ver == 2 {
			doc = map[string]any{
				"token_endpoint":                        b + "/oauth2/v2.0/token",
				"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
				"jwks_uri":                              b + "/discovery/v2.0/keys",
				"response_modes_supported":              []string{"query", "fragment", "form_post"},
				"subject_types_supported":               []string{"pairwise"},
				"id_token_signing_alg_values_supported": []string{"RS256"},
				"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
				"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
				"issuer":                                s.base + "/" + issuerTID + "/v2.0",
				"request_uri_parameter_supported":       false,
				"authorization_endpoint":                b + "/oauth2/v2.0/authorize",
				"http_logout_supported":                 true,
				"frontchannel_logout_supported":         true,
				"end_session_endpoint":                  b + "/oauth2/v2.0/logout",
				"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "preferred_username", "name", "tid", "ver", "oid", "email"},
				"code_challenge_methods_supported":      []string{"S256", "plain"},
				"tenant_region_scope":                   regionScope,
				"cloud_instance_name":                   "dvs2s.local",
			}
		} else {
			doc = map[string]any{
				"token_endpoint":                        b + "/oauth2/token",
				"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
				"jwks_uri":                              b + "/discovery/keys",
				"response_modes_supported":              []string{"query", "fragment", "form_post"},
				"subject_types_supported":               []string{"pairwise"},
				"id_token_signing_alg_values_supported": []string{"RS256"},
				"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token", "token"},
				"scopes_supported":                      []string{"openid"},
				"issuer":                                s.base + "/" + issuerTID + "/",
				"microsoft_multi_refresh_token":         true,
				"authorization_endpoint":                b + "/oauth2/authorize",
				"http_logout_supported":                 true,
				"frontchannel_logout_supported":         true,
				"end_session_endpoint":                  b + "/oauth2/logout",
				"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "tid", "ver", "oid", "upn", "unique_name"},
				"tenant_region_scope":                   regionScope,
				"cloud_instance_name":                   "dvs2s.local",
			}
		}
		cacheable(w)
		writeJSON(w, http.StatusOK, doc)
	}
}

type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer"`
}

// jwks serves the JSON Web Key Set (RFC 7517 section 5; shape of §5): every
// published key, current and overlapping. Keys are tenant-independent, so
// each carries the {tenantid} issuer template.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	if seg := strings.ToLower(r.PathValue("tenant")); seg != "" && !isMultiTenantSeg(seg) {
		if _, e := s.tenant(r.Context(), seg, "invalid_tenant"); e != nil {
			s.writeError(w, r, e)
			return
		}
	}
	issuer := s.base + "/{tenantid}/v2.0"
	if !strings.Contains(r.URL.Path, "/v2.0/") {
		issuer = s.base + "/{tenantid}/"
	}
	keys := []jwk{}
	for _, k := range s.keys.published() {
		pub := k.key.PublicKey
		keys = append(keys, jwk{
			Kty: "RSA", Use: "sig", Kid: k.kid, X5t: k.kid,
			N:      b64(pub.N.Bytes()),
			E:      b64(bigEndian(pub.E)),
			X5c:    []string{base64.StdEncoding.EncodeToString(k.certDER)},
			Issuer: issuer,
		})
	}
	cacheable(w)
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func bigEndian(e int) []byte {
	var b []byte
	for e > 0 {
		b = append([]byte{byte(e)}, b...)
		e >>= 8
	}
	return b
}
