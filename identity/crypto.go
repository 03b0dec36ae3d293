package identity

import (
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
)

func equalHash(a, b []byte) bool { return len(a) > 0 && subtle.ConstantTimeCompare(a, b) == 1 }

func rsaPublicKey(c *x509.Certificate) (*rsa.PublicKey, bool) {
	k, ok := c.PublicKey.(*rsa.PublicKey)
	return k, ok
}
