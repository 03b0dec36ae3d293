package identity

import "net/http"

// signInRoutes registers the user-facing endpoints: authorize, sign-in,
// logout and admin consent.
func (s *Server) signInRoutes(m *http.ServeMux) {}

func (s *Server) authorizationCode(w http.ResponseWriter, req *tokenRequest) {
	s.writeError(w, req.r, badRequest("unsupported_grant_type", 70003, "The app requested an unsupported grant type 'authorization_code'."))
}

func (s *Server) refreshToken(w http.ResponseWriter, req *tokenRequest) {
	s.writeError(w, req.r, badRequest("unsupported_grant_type", 70003, "The app requested an unsupported grant type 'refresh_token'."))
}
