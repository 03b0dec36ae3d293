// Package secret handles every secret dvs2s keeps: client secrets as a fast
// keyed hash (they are random and high-entropy, so a slow hash would only cap
// token throughput), user passwords as a slow password hash (argon2id),
// private keys sealed with AES-GCM, and the random values themselves.
//
// All keys derive from one 32-byte master key, kept in the data directory
// (mode 0600) or given in DVS2S_MASTER_KEY so several instances share it.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Keys are the working keys derived from a master key.
type Keys struct {
	hashKey []byte
	aead    cipher.AEAD
}

// LoadOrCreateMaster returns the master key: decoded from env when it is not
// empty (64 hex characters), else read from file, else generated and
// written to file with mode 0600.
func LoadOrCreateMaster(file, env string) ([]byte, error) {
	if env != "" {
		k, err := hex.DecodeString(strings.TrimSpace(env))
		if err != nil || len(k) != 32 {
			return nil, errors.New("secret: master key must be 64 hexadecimal characters")
		}
		return k, nil
	}
	if b, err := os.ReadFile(file); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("secret: %s does not hold a 32-byte hex master key", file)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(file, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// NewKeys derives the working keys from a 32-byte master key.
func NewKeys(master []byte) (*Keys, error) {
	hk, err := hkdf.Key(sha256.New, master, nil, "dvs2s client secret hash v1", 32)
	if err != nil {
		return nil, err
	}
	ek, err := hkdf.Key(sha256.New, master, nil, "dvs2s sealing key v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(ek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keys{hashKey: hk, aead: aead}, nil
}

// Hash is the keyed hash (HMAC-SHA-256) of a high-entropy secret: client
// secrets, authorization codes, refresh tokens, session cookies.
func (k *Keys) Hash(s string) []byte {
	m := hmac.New(sha256.New, k.hashKey)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Equal reports, in constant time, whether s hashes to h.
func (k *Keys) Equal(h []byte, s string) bool {
	return subtle.ConstantTimeCompare(h, k.Hash(s)) == 1
}

// Seal encrypts plaintext (a private key) for storage.
func (k *Keys) Seal(plaintext []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plaintext, nil)
}

// Open decrypts what Seal produced.
func (k *Keys) Open(sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("secret: sealed value too short")
	}
	p, err := k.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, errors.New("secret: cannot unseal (wrong master key?)")
	}
	return p, nil
}

// Argon2id parameters (RFC 9106 section 4, second recommended option scaled
// down for a development server: 19 MiB, t=2, as OWASP suggests).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns a PHC-formatted argon2id hash of password.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	sum := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b.EncodeToString(salt), b.EncodeToString(sum))
}

// CheckPassword reports whether password matches a HashPassword result.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b := base64.RawStdEncoding
	salt, err1 := b.DecodeString(parts[4])
	want, err2 := b.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// alphabet of client secrets: letters, digits and the two safe symbols Entra
// uses ("~" and "."), so a secret survives shells and form encoding.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~."

// NewClientSecret returns a 40-character random client secret (Entra's are
// 40 characters from a similar alphabet; about 238 bits of entropy).
func NewClientSecret() string { return randomString(40) }

// NewToken returns an opaque random token (codes, refresh tokens, cookies).
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)] // 256 is a multiple of 64: no bias
	}
	return string(b)
}
