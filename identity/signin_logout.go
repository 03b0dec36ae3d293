package identity

import (
	"log/slog"
	"net/http"
	"strings"
)

// logout serves the end-session endpoint, v2 /{tenant}/oauth2/v2.0/logout
// (the discovery document's end_session_endpoint, §4.1) and v1
// /{tenant}/oauth2/logout: OpenID Connect RP-Initiated Logout 1.0. It ends
// the browser session (deleted from the store, cookie cleared), then returns
// the browser to post_logout_redirect_uri with state, but only when that
// URI is registered for the client named by client_id or by the audience of
// a valid id_token_hint (signed by this service; it may have expired).
// Otherwise it shows a signed-out page: an unregistered URI is never
// followed.
//
// The session ends without asking the user to confirm: a forged logout only
// signs the user out.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	params, _, e := s.browserParams(w, r)
	if e != nil {
		s.showError(w, r, badRequest("invalid_request", 50061, "Unable to complete sign out. The request was invalid."), nil)
		return
	}
	if err := s.endSession(ctx, w, r); err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "session ended", slogStr("correlation_id", correlationID(r)))
	target := params.Get("post_logout_redirect_uri")
	if target == "" {
		s.render(w, r, http.StatusOK, "signedout", &page{Title: "Signed out"}, "")
		return
	}
	clientID := strings.ToLower(params.Get("client_id"))
	if hint := params.Get("id_token_hint"); hint != "" {
		aud := s.hintAudience(hint)
		if clientID != "" && !strings.EqualFold(aud, clientID) {
			clientID = "" // contradictory: trust neither
		} else {
			clientID = strings.ToLower(aud)
		}
	}
	if clientID != "" && len(params["post_logout_redirect_uri"]) == 1 {
		if app, err := s.view.app(ctx, clientID); err == nil && redirectRegistered(app.RedirectURIs, target, false) {
			var resp [][2]string
			if st := params.Get("state"); st != "" && len(st) <= maxState {
				resp = append(resp, [2]string{"state", st})
			}
			if len(resp) == 0 {
				w.Header().Set("Location", target)
				w.Header().Set("Referrer-Policy", "no-referrer")
				noStore(w)
				w.WriteHeader(http.StatusFound)
				return
			}
			s.respond(w, r, target, "query", resp)
			return
		}
	}
	s.render(w, r, http.StatusOK, "signedout", &page{Title: "Signed out",
		Message: "The application's sign-out address is not registered for it, so you were not sent back to it."}, "")
}

// hintAudience returns the client id (aud) of an ID token this service
// signed, expired or not, or "" if hint is not one.
func (s *Server) hintAudience(hint string) string {
	j, err := parseJWS(hint)
	if err != nil || j.header.Alg != "RS256" {
		return ""
	}
	for _, k := range s.keys.published() {
		if k.kid != j.header.Kid {
			continue
		}
		if !j.verify(&k.key.PublicKey) || !strings.HasPrefix(j.str("iss"), s.base+"/") {
			return ""
		}
		if aud := j.aud(); len(aud) == 1 {
			return aud[0]
		}
		return ""
	}
	return ""
}
