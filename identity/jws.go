package identity

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"sync"
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
//
// Signatures already found valid are remembered (verifiedSigs), because
// msal-node re-sends the same client assertion for its whole lifetime
// (§6.2) and the RSA verification is most of what checking it costs. The
// answer is the same either way: it depends only on the algorithm, the key
// and the bytes, all part of the cache key.
func (j *jws) verify(pub *rsa.PublicKey) bool {
	key := j.verifyKey(pub)
	if verifiedSigs.has(key) {
		return true
	}
	sum := sha256.Sum256(j.signed)
	ok := false
	switch j.header.Alg {
	case "RS256":
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], j.signature) == nil
	case "PS256":
		ok = rsa.VerifyPSS(pub, crypto.SHA256, sum[:], j.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	}
	if ok {
		verifiedSigs.add(key)
	}
	return ok
}

// verifyKey is SHA-256 over everything the verification depends on: the
// algorithm, the public key (modulus and exponent), the signing input and
// the signature, each length-prefixed so no two inputs share a key.
func (j *jws) verifyKey(pub *rsa.PublicKey) [sha256.Size]byte {
	h := sha256.New()
	field := func(b []byte) {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	field([]byte(j.header.Alg))
	field(pub.N.Bytes())
	field(binary.BigEndian.AppendUint64(nil, uint64(pub.E)))
	field(j.signed)
	field(j.signature)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// sigCache is a bounded set of verification keys of valid signatures. Only
// valid signatures are added, and only their owners can make those, so it
// cannot be flooded from outside; when full it starts over.
type sigCache struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]struct{}
}

const sigCacheMax = 8192

var verifiedSigs = &sigCache{m: map[[sha256.Size]byte]struct{}{}}

func (c *sigCache) has(k [sha256.Size]byte) bool {
	c.mu.RLock()
	_, ok := c.m[k]
	c.mu.RUnlock()
	return ok
}

func (c *sigCache) add(k [sha256.Size]byte) {
	c.mu.Lock()
	if len(c.m) >= sigCacheMax {
		c.m = make(map[[sha256.Size]byte]struct{}, sigCacheMax)
	}
	c.m[k] = struct{}{}
	c.mu.Unlock()
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
