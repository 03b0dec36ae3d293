package identity

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store"
)

// signingKey is an unsealed token-signing key.
type signingKey struct {
	kid        string
	key        *rsa.PrivateKey
	certDER    []byte
	createdAt  time.Time
	activateAt time.Time
	retireAt   time.Time
	hdrV1      string // encoded JOSE header of v1 tokens (with x5t)
	hdrV2      string // encoded JOSE header of v2 tokens
}

// keyRing holds the signing keys, rotates them and signs tokens.
//
// Rotation with overlap: a new key is published at creation and starts
// signing Overlap later, so validators that cache the JWKS see it first; the
// old key stays published for Overlap after it stops signing, so tokens it
// signed still validate. Rotation is decided through the store
// (AddSigningKey refuses a second key for the same period), so instances
// sharing a database never race.
type keyRing struct {
	st      store.SigningKeys
	seal    *secret.Keys
	period  time.Duration
	overlap time.Duration
	now     func() time.Time

	mu   sync.RWMutex
	keys []*signingKey // newest first
}

// refresh reloads the keys from the store, creating or rotating as needed.
func (k *keyRing) refresh(ctx context.Context) error {
	now := k.now()
	keys, err := k.load(ctx, now)
	if err != nil {
		return err
	}
	var newest *signingKey
	if len(keys) > 0 {
		newest = keys[0]
	}
	if newest == nil || !now.Before(newest.activateAt.Add(k.period-k.overlap)) {
		activate := now.Add(k.overlap)
		if newest == nil || !newest.activateAt.After(now) && newest.retireAt.Before(activate) {
			activate = now // nothing else can sign meanwhile
		}
		var notBefore time.Time
		if newest != nil {
			notBefore = newest.createdAt
		}
		if err := k.create(ctx, now, activate, notBefore); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		if keys, err = k.load(ctx, now); err != nil {
			return err
		}
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}

func (k *keyRing) load(ctx context.Context, now time.Time) ([]*signingKey, error) {
	rows, err := k.st.SigningKeys(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("identity: load signing keys: %w", err)
	}
	out := make([]*signingKey, 0, len(rows))
	for _, r := range rows {
		der, err := k.seal.Open(r.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("identity: signing key %s: %w", r.KID, err)
		}
		pk, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("identity: signing key %s: %w", r.KID, err)
		}
		rk, ok := pk.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("identity: signing key %s is not RSA", r.KID)
		}
		rk.Precompute()
		sk := newSigningKey(r.KID, rk, r.CertDER, r.ActivateAt, r.RetireAt)
		sk.createdAt = r.CreatedAt
		out = append(out, sk)
	}
	return out, nil
}

func newSigningKey(kid string, key *rsa.PrivateKey, certDER []byte, activate, retire time.Time) *signingKey {
	h1, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "x5t": kid, "kid": kid})
	h2, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": kid})
	return &signingKey{kid: kid, key: key, certDER: certDER, activateAt: activate, retireAt: retire,
		hdrV1: b64(h1), hdrV2: b64(h2)}
}

// create makes a new RSA-2048 key with a self-signed certificate (published
// in x5c) whose kid and x5t are the base64url SHA-1 thumbprint, as Entra's.
func (k *keyRing) create(ctx context.Context, now, activate, notBefore time.Time) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	retire := activate.Add(k.period + k.overlap)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "dvs2s token signing"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     retire.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	sum := sha1.Sum(der)
	return k.st.AddSigningKey(ctx, store.SigningKey{
		KID: b64(sum[:]), PrivateKey: k.seal.Seal(pk), CertDER: der,
		CreatedAt: now, ActivateAt: activate, RetireAt: retire,
	}, notBefore)
}

// active returns the key that signs now: the newest already active.
func (k *keyRing) active() (*signingKey, error) {
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, sk := range k.keys {
		if !sk.activateAt.After(now) && sk.retireAt.After(now) {
			return sk, nil
		}
	}
	return nil, errors.New("identity: no active signing key")
}

// published returns the keys to publish in the JWKS.
func (k *keyRing) published() []*signingKey {
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]*signingKey, 0, len(k.keys))
	for _, sk := range k.keys {
		if sk.retireAt.After(now) {
			out = append(out, sk)
		}
	}
	return out
}

// sign returns a compact RS256 JWS of claims (RFC 7515 section 7.1).
func (k *keyRing) sign(claims any, v1 bool) (string, error) {
	sk, err := k.active()
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	hdr := sk.hdrV2
	if v1 {
		hdr = sk.hdrV1
	}
	buf := make([]byte, 0, len(hdr)+1+base64.RawURLEncoding.EncodedLen(len(payload))+1+342)
	buf = append(buf, hdr...)
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, payload)
	sum := sha256.Sum256(buf)
	sig, err := rsa.SignPKCS1v15(nil, sk.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, sig)
	return string(buf), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
