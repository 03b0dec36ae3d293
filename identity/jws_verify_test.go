package identity

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// TestVerifyCache checks that remembering valid signatures changes no
// answer: a valid signature stays valid, a tampered one or another key
// stays invalid, before and after the valid one was remembered.
func TestVerifyCache(t *testing.T) {
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"RS256", "PS256"} {
		t.Run(alg, func(t *testing.T) {
			in := b64([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." + b64([]byte(`{"iss":"x","jti":"`+rand.Text()+`"}`))
			sum := sha256.Sum256([]byte(in))
			var sig []byte
			if alg == "RS256" {
				sig, err = rsa.SignPKCS1v15(nil, k1, crypto.SHA256, sum[:])
			} else {
				sig, err = rsa.SignPSS(rand.Reader, k1, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			}
			if err != nil {
				t.Fatal(err)
			}
			tok := in + "." + base64.RawURLEncoding.EncodeToString(sig)
			bad := append([]byte(nil), sig...)
			bad[len(bad)-1] ^= 1
			tampered := in + "." + base64.RawURLEncoding.EncodeToString(bad)

			check := func(tok string, pub *rsa.PublicKey, want bool) {
				t.Helper()
				j, err := parseJWS(tok)
				if err != nil {
					t.Fatal(err)
				}
				if got := j.verify(pub); got != want {
					t.Errorf("verify = %v, want %v", got, want)
				}
				if want && !verifiedSigs.has(j.verifyKey(pub)) {
					t.Error("valid signature not remembered")
				}
				if !want && verifiedSigs.has(j.verifyKey(pub)) {
					t.Error("invalid signature remembered")
				}
			}
			check(tampered, &k1.PublicKey, false)
			check(tok, &k2.PublicKey, false)
			for range 2 { // the second time from the cache
				check(tok, &k1.PublicKey, true)
				check(tampered, &k1.PublicKey, false)
				check(tok, &k2.PublicKey, false)
			}
		})
	}
}
