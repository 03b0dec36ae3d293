package identity

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// jws is a parsed compact JWS (RFC 7515 section 7.1) whose signature has not
// been checked yet.
type jws struct {
	header struct {
		Alg     string   `json:"alg"`
		Typ     string   `json:"typ"`
		Kid     string   `json:"kid"`
		X5t     string   `json:"x5t"`
		X5tS256 string   `json:"x5t#S256"`
		X5c     []string `json:"x5c"`
	}
	claims    map[string]any
	signed    []byte // header "." payload, as received
	signature []byte
}

var errMalformed = errors.New("malformed JWT")

// parseJWS splits and decodes a compact JWS. It checks the shape only.
func parseJWS(tok string) (*jws, error) {
	if len(tok) > 16<<10 {
		return nil, errMalformed
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errMalformed
	}
	var j jws
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errMalformed
	}
	if err := json.Unmarshal(hb, &j.header); err != nil {
		return nil, errMalformed
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errMalformed
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	if err := dec.Decode(&j.claims); err != nil || j.claims == nil {
		return nil, errMalformed
	}
	if j.signature, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, errMalformed
	}
	j.signed = []byte(tok[:len(parts[0])+1+len(parts[1])])
	return &j, nil
}

// verify checks the RS256 or PS256 signature (RFC 7518 sections 3.3, 3.5).
// PSS verification accepts any salt length: MSAL Go and node sign with salt
// = hash length, other signers use the maximum.
func (j *jws) verify(pub *rsa.PublicKey) bool {
	sum := sha256.Sum256(j.signed)
	switch j.header.Alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], j.signature) == nil
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, sum[:], j.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	}
	return false
}

// str returns a string claim.
func (j *jws) str(name string) string {
	s, _ := j.claims[name].(string)
	return s
}

// num returns a numeric date claim (RFC 7519 section 2) and whether it was
// present and numeric.
func (j *jws) num(name string) (int64, bool) {
	switch v := j.claims[name].(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, true
		}
		if f, err := v.Float64(); err == nil {
			return int64(f), true
		}
	}
	return 0, false
}

// aud returns the audience values (a string or an array, RFC 7519 4.1.3).
func (j *jws) aud() []string {
	switch v := j.claims["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, a := range v {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// decodeThumbprint decodes an x5t or x5t#S256 value sent as base64url (the
// specification) or padded standard base64 (what MSAL Go sends).
func decodeThumbprint(s string) []byte {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}
