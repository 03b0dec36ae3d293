package identity_test

// Token-path benchmarks: the client-credentials handler called directly
// (no TLS, no sockets) next to the raw RSA-2048 signature that every token
// costs, so the ratio tokens/s ÷ signatures/s is the share of the handler's
// CPU that goes to signing. The whole server over HTTPS is measured by
// bench/tokens; docs/benchmarks.md has the figures and commands:
//
//	go test ./identity -run '^$' -bench 'RSASign|ClientCredentials' -count 5

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/identity"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store/sqlite"
	"github.com/google/uuid"
)

const (
	benchBase     = "https://localhost:8443"
	benchResource = "https://localhost:8444"
)

// benchServer is an identity server on a fresh SQLite database seeded with
// the demo, and the demo environment registered in contoso.
func benchServer(b *testing.B) (*identity.Server, *demo.Seed) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "dvs2s.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := secret.NewKeys(master)
	if err != nil {
		b.Fatal(err)
	}
	d := &directory.Directory{Store: db, Keys: keys, Now: time.Now}
	seed, err := demo.Ensure(ctx, d, filepath.Join(dir, "demo"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.RegisterResource(ctx, demo.ContosoTenantID, benchResource, directory.DataverseAppID, "bench environment", 1); err != nil {
		b.Fatal(err)
	}
	s, err := identity.New(ctx, identity.Config{BaseURL: benchBase, Store: db, Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return s, seed
}

var benchTokenPath = "/" + demo.ContosoTenantID + "/oauth2/v2.0/token"

// benchTokens posts bodies round-robin to the token endpoint from
// GOMAXPROCS goroutines and reports tokens/s; every answer must be 200.
func benchTokens(b *testing.B, s *identity.Server, bodies []string) {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Value
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			r := httptest.NewRequest(http.MethodPost, benchTokenPath, strings.NewReader(bodies[int(i)%len(bodies)]))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				failed.Store(w.Body.String())
			}
		}
	})
	b.StopTimer()
	reportCPU(b, cpu0)
	if f := failed.Load(); f != nil {
		b.Fatalf("token endpoint did not answer 200: %s", f)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// reportCPU reports the process CPU time per operation since cpu0.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu := processCPU(); cpu0 >= 0 && cpu >= 0 && b.N > 0 {
		b.ReportMetric(float64((cpu-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	}
}

// BenchmarkRSASign is the ceiling: one RSA-2048 PKCS#1 v1.5 SHA-256
// signature over a token-sized input, as the server signs each token.
func BenchmarkRSASign(b *testing.B) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	k.Precompute()
	in := []byte(strings.Repeat("eyJ4", 225))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sum := sha256.Sum256(in)
			if _, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportCPU(b, cpu0)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
}

// BenchmarkClientCredentialsSecret: the portal gets a token in contoso with
// its client secret.
func BenchmarkClientCredentialsSecret(b *testing.B) {
	s, _ := benchServer(b)
	body := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {demo.PortalAppID},
		"client_secret": {demo.PortalSecret},
		"scope":         {benchResource + "/.default"},
	}.Encode()
	benchTokens(b, s, []string{body})
}

// BenchmarkClientCredentialsCertificate: the same with a certificate
// assertion (PS256, x5t#S256) from a pre-built pool of 64 with distinct jti,
// sent round-robin as msal-node re-sends its assertion, so the benchmark
// measures the server, not the client's signing.
func BenchmarkClientCredentialsCertificate(b *testing.B) {
	s, seed := benchServer(b)
	app := seed.Apps[0]
	certDER, key := loadPair(b, app.CertFile, app.KeyFile)
	bodies := make([]string, 64)
	for i := range bodies {
		bodies[i] = url.Values{
			"grant_type":            {"client_credentials"},
			"client_id":             {demo.PortalAppID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion(b, certDER, key)},
			"scope":                 {benchResource + "/.default"},
		}.Encode()
	}
	benchTokens(b, s, bodies)
}

// BenchmarkClientCredentialsCertificateFresh: every request carries an
// assertion never seen before (as MSAL Go and azidentity send them), so the
// server verifies each signature instead of remembering it.
func BenchmarkClientCredentialsCertificateFresh(b *testing.B) {
	s, seed := benchServer(b)
	app := seed.Apps[0]
	certDER, key := loadPair(b, app.CertFile, app.KeyFile)
	bodies := make([]string, b.N+1)
	for i := range bodies {
		bodies[i] = url.Values{
			"grant_type":            {"client_credentials"},
			"client_id":             {demo.PortalAppID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion(b, certDER, key)},
			"scope":                 {benchResource + "/.default"},
		}.Encode()
	}
	benchTokens(b, s, bodies)
}

func loadPair(b *testing.B, certFile, keyFile string) ([]byte, *rsa.PrivateKey) {
	b.Helper()
	cb, err := os.ReadFile(certFile)
	if err != nil {
		b.Fatal(err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		b.Fatal(err)
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil {
		b.Fatal("demo certificate or key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	return cp.Bytes, k.(*rsa.PrivateKey)
}

// assertion signs a client assertion the way msal-node does with a
// SHA-256 thumbprint.
func assertion(b *testing.B, certDER []byte, key *rsa.PrivateKey) string {
	b.Helper()
	sum := sha256.Sum256(certDER)
	hdr, _ := json.Marshal(map[string]string{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])})
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"aud": benchBase + benchTokenPath, "iss": demo.PortalAppID, "sub": demo.PortalAppID, "jti": uuid.NewString(),
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	in := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims)
	h := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		b.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}
