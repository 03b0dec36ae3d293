package main

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
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dvs2s/dvs2s/bench/internal/benchkit"
	"github.com/google/uuid"
)

// target is the token request the benchmark sends: the demo Fabrikam
// Portal app (multi-tenant, consented in contoso) asking contoso for a token
// for the demo environment.
type target struct {
	tokenURL string // https://host:port/<contoso id>/oauth2/v2.0/token
	host     string // host:port
	path     string // /<contoso id>/oauth2/v2.0/token
	caFile   string
	clientID string
	secret   string
	scope    string
	resource string
	tenantID string
	certDER  []byte
	key      *rsa.PrivateKey
	client   *http.Client
}

func newTarget(s *benchkit.Server) (*target, error) {
	info := s.Info
	t := &target{caFile: info.CAFile}
	for _, tn := range info.Tenants {
		if tn.Name == "contoso" {
			t.tenantID = tn.ID
		}
	}
	var certFile, keyFile string
	for _, a := range info.Apps {
		if a.Name == "Fabrikam Portal" {
			t.clientID, t.secret, certFile, keyFile = a.ClientID, a.ClientSecret, a.CertificateFile, a.PrivateKeyFile
		}
	}
	if t.tenantID == "" || t.clientID == "" || t.secret == "" || certFile == "" {
		return nil, errors.New("stack.json lacks the demo contoso tenant or the Fabrikam Portal app with a secret and a certificate")
	}
	u, err := url.Parse(info.AuthorityHost)
	if err != nil {
		return nil, err
	}
	t.host = u.Host
	t.path = "/" + t.tenantID + "/oauth2/v2.0/token"
	t.tokenURL = info.AuthorityHost + t.path
	t.resource = "https://" + u.Hostname() + ":" + strconv.Itoa(s.Port+1)
	if len(info.Environments) > 0 {
		t.resource = info.Environments[0].URL
	}
	t.scope = t.resource + "/.default"

	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(cb)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM certificate", certFile)
	}
	t.certDER = blk.Bytes
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	if blk, _ = pem.Decode(kb); blk == nil {
		return nil, fmt.Errorf("%s: no PEM key", keyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		if k, err = x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
			return nil, fmt.Errorf("%s: %w", keyFile, err)
		}
	}
	var ok bool
	if t.key, ok = k.(*rsa.PrivateKey); !ok {
		return nil, fmt.Errorf("%s: not an RSA key", keyFile)
	}
	if t.client, err = benchkit.Client(info.CAFile, 4); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *target) secretBody() string {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {t.clientID},
		"client_secret": {t.secret},
		"scope":         {t.scope},
	}.Encode()
}

func (t *target) assertionBody(assertion string) string {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {t.clientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
		"scope":                 {t.scope},
	}.Encode()
}

// assertion builds a client assertion as msal-node does with
// thumbprintSha256: PS256, header x5t#S256, claims aud (the token
// endpoint), iss = sub = client id, jti, nbf, iat and exp 10 minutes on.
func (t *target) assertion(now time.Time) (string, error) {
	sum := sha256.Sum256(t.certDER)
	hdr, _ := json.Marshal(map[string]string{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])})
	claims, _ := json.Marshal(map[string]any{
		"aud": t.tokenURL, "iss": t.clientID, "sub": t.clientID, "jti": uuid.NewString(),
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	in := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims)
	h := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPSS(rand.Reader, t.key, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		return "", err
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// assertionBodies pre-builds n request bodies with distinct assertions, so
// that the load generator spends no CPU signing during the measurement.
// Each is valid for 10 minutes and is sent again round-robin: re-sending an
// assertion within its lifetime is what msal-node does (§6.2).
func (t *target) assertionBodies(n int) ([]string, error) {
	out := make([]string, n)
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for range runtime.NumCPU() {
		wg.Go(func() {
			for i := range next {
				a, err := t.assertion(now)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					continue
				}
				out[i] = t.assertionBody(a)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, firstErr
}

// check gets one token with the secret and one with an assertion and checks
// they are what the endpoint must issue (appidacr 1 and 2, audience, tenant).
func (t *target) check(ctx context.Context) error {
	a, err := t.assertion(time.Now())
	if err != nil {
		return err
	}
	for _, c := range []struct {
		name, body, acr string
	}{{"secret", t.secretBody(), "1"}, {"certificate", t.assertionBody(a), "2"}} {
		claims, err := t.token(ctx, c.body)
		if err != nil {
			return fmt.Errorf("%s token: %w", c.name, err)
		}
		if claims["appidacr"] != c.acr || claims["aud"] != t.resource || claims["tid"] != t.tenantID || claims["appid"] != t.clientID {
			return fmt.Errorf("%s token has unexpected claims: %v", c.name, claims)
		}
	}
	return nil
}

// token posts body to the token endpoint and returns the access token's
// claims (decoded, not verified: the e2e tests verify signatures).
func (t *target) token(ctx context.Context, body string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.tokenURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	var tr struct {
		TokenType   string `json:"token_type"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		return nil, err
	}
	parts := strings.Split(tr.AccessToken, ".")
	if tr.TokenType != "Bearer" || len(parts) != 3 {
		return nil, fmt.Errorf("not a bearer JWT: %s", b)
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	return claims, json.Unmarshal(pb, &claims)
}
