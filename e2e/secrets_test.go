package e2e

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/pki"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/stack"
	_ "modernc.org/sqlite"
)

// s2sNeedle is something that must never be found in the database files
// or the logs.
type s2sNeedle struct {
	what string
	b    []byte
}

// s2sLeaks lists what must stay out of storage and logs.
type s2sLeaks struct{ needles []s2sNeedle }

// text forbids a text secret in plain text and in the encodings a careless
// implementation would use for it.
func (l *s2sLeaks) text(what, s string) {
	b := []byte(s)
	l.needles = append(l.needles,
		s2sNeedle{what, b},
		s2sNeedle{what + " (url-encoded)", []byte(url.QueryEscape(s))},
		s2sNeedle{what + " (base64)", []byte(base64.StdEncoding.EncodeToString(b))},
		s2sNeedle{what + " (base64url)", []byte(base64.RawURLEncoding.EncodeToString(b))},
		s2sNeedle{what + " (hex)", []byte(hex.EncodeToString(b))},
	)
}

// token forbids a JWT: the whole of it and its signature alone.
func (l *s2sLeaks) token(what, tok string) {
	l.text(what, tok)
	if i := strings.LastIndexByte(tok, '.'); i > 0 {
		l.needles = append(l.needles, s2sNeedle{what + " (signature)", []byte(tok[i+1:])})
	}
}

// rsaKey forbids an RSA private key: its PKCS#8 and PKCS#1 DER and its
// private numbers.
func (l *s2sLeaks) rsaKey(t *testing.T, what string, k *rsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	l.needles = append(l.needles,
		s2sNeedle{what + " (PKCS#8)", der},
		s2sNeedle{what + " (PKCS#1)", x509.MarshalPKCS1PrivateKey(k)},
		s2sNeedle{what + " (private exponent)", k.D.Bytes()},
		s2sNeedle{what + " (prime p)", k.Primes[0].Bytes()},
		s2sNeedle{what + " (prime q)", k.Primes[1].Bytes()},
	)
	l.text(what+" (PEM body)", base64.StdEncoding.EncodeToString(der)[:64])
}

// check reports every needle found in data.
func (l *s2sLeaks) check(t *testing.T, where string, data []byte) {
	t.Helper()
	for _, n := range l.needles {
		if len(n.b) > 0 && bytes.Contains(data, n.b) {
			t.Errorf("%s contains %s", where, n.what)
		}
	}
}

// TestSecretsNotInPlainText runs token requests with the demo secrets, a
// freshly generated secret and certificate assertions, then checks that no
// client secret, user password, access token, client assertion or private
// key reaches the database files (before and after a clean stop) or the
// logs, that passwords are argon2id hashes, that signing keys are sealed,
// and that the files holding secrets are private to their owner.
func TestSecretsNotInPlainText(t *testing.T) {
	sqliteOnly(t)
	ctx := t.Context()
	logs := &syncBuffer{}
	// A data directory the stack creates itself, so its mode is the stack's.
	ts := start(t, filepath.Join(t.TempDir(), "data"), func(c *stack.Config) {
		// Every level, below debug too: nothing may be logged at any level.
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.Level(-100)}))
	})
	dir := ts.dir
	envScope := s2sEnvURL(t, ts) + "/.default"
	var leaks s2sLeaks

	// Secrets and passwords: the demo's, and new ones.
	for what, s := range map[string]string{"portal demo secret": demo.PortalSecret, "inventory demo secret": demo.InventorySecret,
		"admin password": demo.AdminPass, "alice password": demo.AlicePass, "bob password": demo.BobPass} {
		leaks.text(what, s)
	}
	_, fresh, err := ts.Directory.AddSecret(ctx, demo.PortalAppID, "secrets test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaks.text("generated secret", fresh)
	davePass := "Dave-" + secret.NewToken()
	dave, err := ts.Directory.CreateUser(ctx, demo.ContosoTenantID, "", "dave@contoso.onmicrosoft.com", "Dave", davePass, false)
	if err != nil {
		t.Fatal(err)
	}
	leaks.text("new user's password", davePass)

	// Client certificates: the demo portal's, and a new one on the
	// inventory app. Their private keys never leave the client.
	portalCert, portalKey := s2sDemoPortalCert(t, ts)
	leaks.rsaKey(t, "portal certificate private key", portalKey)
	invCert, invKey, err := pki.SelfSigned("Contoso Inventory Sync (secrets test)", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Directory.AddCertificate(ctx, demo.InventoryAppID, "", invCert); err != nil {
		t.Fatal(err)
	}
	leaks.rsaKey(t, "inventory certificate private key", invKey)

	// Token requests, each way a client may authenticate.
	tokens := map[string]string{}
	tokens["portal demo secret"] = s2sToken(t, ts, demo.ContosoTenantID, s2sSecretForm(demo.PortalAppID, demo.PortalSecret, envScope))
	tokens["generated secret"] = s2sToken(t, ts, demo.ContosoTenantID, s2sSecretForm(demo.PortalAppID, fresh, envScope))
	tokens["inventory secret, HTTP Basic, v1"] = s2sToken(t, ts, demo.ContosoTenantID,
		url.Values{"grant_type": {"client_credentials"}, "resource": {strings.TrimSuffix(envScope, "/.default")}},
		func(r *http.Request) {
			r.SetBasicAuth(url.QueryEscape(demo.InventoryAppID), url.QueryEscape(demo.InventorySecret))
		})
	portalAssertion := s2sAssertion(t, ts, demo.ContosoTenantID, demo.PortalAppID, portalCert, portalKey)
	leaks.token("portal client assertion", portalAssertion)
	tokens["portal certificate"] = s2sToken(t, ts, demo.ContosoTenantID, s2sCertForm(demo.PortalAppID, portalAssertion, envScope))
	invAssertion := s2sAssertion(t, ts, demo.ContosoTenantID, demo.InventoryAppID, invCert, invKey)
	leaks.token("inventory client assertion", invAssertion)
	tokens["inventory certificate"] = s2sToken(t, ts, demo.ContosoTenantID, s2sCertForm(demo.InventoryAppID, invAssertion, envScope))
	for what, tok := range tokens {
		leaks.token("access token ("+what+")", tok)
	}

	// Refused attempts must not leave the secret they tried either: a wrong
	// secret, and a secret sent in the query string.
	wrong := secret.NewClientSecret()
	leaks.text("wrong secret", wrong)
	if status, body := s2sPost(t, ts, demo.ContosoTenantID, s2sSecretForm(demo.PortalAppID, wrong, envScope)); status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d %v", status, body)
	}
	inQuery := secret.NewClientSecret()
	leaks.text("secret in a query string", inQuery)
	s2sPost(t, ts, demo.ContosoTenantID, url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.PortalAppID}, "scope": {envScope}},
		func(r *http.Request) { r.URL.RawQuery = url.Values{"client_secret": {inQuery}}.Encode() })

	// The signing keys, unsealed with the master key: their private parts
	// must never be stored or logged as such.
	master, err := secret.LoadOrCreateMaster(filepath.Join(dir, "master.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	sealKeys, err := secret.NewKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	jwks := map[string][]byte{} // kid -> modulus
	for _, k := range s2sJWKS(t, ts) {
		n, err := base64.RawURLEncoding.DecodeString(k.N)
		if err != nil {
			t.Fatal(err)
		}
		jwks[k.Kid] = n
	}
	stored, err := ts.Store.SigningKeys(ctx, time.Now())
	if err != nil || len(stored) == 0 {
		t.Fatalf("signing keys: %v %v", stored, err)
	}
	certDERs := map[string][]byte{}
	for _, sk := range stored {
		der, err := sealKeys.Open(sk.PrivateKey)
		if err != nil {
			t.Fatalf("signing key %s does not unseal with the master key: %v", sk.KID, err)
		}
		pk, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatalf("signing key %s unsealed is not PKCS#8: %v", sk.KID, err)
		}
		rk, ok := pk.(*rsa.PrivateKey)
		if !ok {
			t.Fatalf("signing key %s is %T", sk.KID, pk)
		}
		if n, ok := jwks[sk.KID]; ok && !bytes.Equal(n, rk.N.Bytes()) {
			t.Errorf("signing key %s: JWKS modulus differs from the stored key's", sk.KID)
		}
		leaks.rsaKey(t, "signing key "+sk.KID, rk)
		certDERs[sk.KID] = sk.CertDER
	}
	for kid := range jwks {
		if _, ok := certDERs[kid]; !ok {
			t.Errorf("JWKS publishes %s, which the store does not hold", kid)
		}
	}

	// Every database under the data directory: the identity store and each
	// environment's.
	dbFiles := func(t *testing.T) []string {
		var out []string
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			for _, ext := range []string{".db", ".db-wal", ".db-shm"} {
				if !d.IsDir() && strings.HasSuffix(path, ext) {
					out = append(out, path)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(out, filepath.Join(dir, "dvs2s.db")) {
			t.Fatalf("no dvs2s.db among %q", out)
		}
		return out
	}
	scanDB := func(t *testing.T, phase string) {
		var all []byte
		for _, path := range dbFiles(t) {
			name, _ := filepath.Rel(dir, path)
			b, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			leaks.check(t, name+" "+phase, b)
			for kid, n := range jwks {
				if stray := s2sOutside(b, n, certDERs[kid]); stray > 0 {
					t.Errorf("%s %s holds signing key %s's modulus %d times outside its certificate", name, phase, kid, stray)
				}
			}
			all = append(all, b...)
		}
		// Not vacuous: the files do hold the directory and the keys'
		// certificates.
		if !bytes.Contains(all, []byte("contoso.onmicrosoft.com")) {
			t.Errorf("database files %s do not even hold the demo tenant: wrong files?", phase)
		}
		for kid, der := range certDERs {
			if !bytes.Contains(all, der) {
				t.Errorf("database files %s do not hold signing key %s's certificate", phase, kid)
			}
		}
	}

	t.Run("database files while running", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(dir, "dvs2s.db-wal")); err != nil {
			t.Errorf("no WAL while running: %v", err)
		}
		scanDB(t, "while running")
		for _, path := range dbFiles(t) {
			s2sCheckMode(t, path, 0o600, true)
		}
	})

	ts.stop(t)

	t.Run("database files after stop", func(t *testing.T) {
		scanDB(t, "after stop")
	})

	t.Run("logs", func(t *testing.T) {
		out := logs.String()
		if !strings.Contains(out, "/oauth2/v2.0/token") {
			t.Fatalf("the logs do not mention the token requests; captured %d bytes", len(out))
		}
		leaks.check(t, "the logs", []byte(out))
	})

	t.Run("stored columns", func(t *testing.T) {
		db, err := sql.Open("sqlite", filepath.Join(dir, "dvs2s.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()

		rows, err := db.QueryContext(ctx, `SELECT kid, private_key, cert_der FROM signing_keys`)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var kid string
			var priv, certDER []byte
			if err := rows.Scan(&kid, &priv, &certDER); err != nil {
				t.Fatal(err)
			}
			n++
			if _, err := x509.ParsePKCS8PrivateKey(priv); err == nil {
				t.Errorf("signing_keys.private_key of %s parses as PKCS#8: it is not sealed", kid)
			}
			if _, err := x509.ParsePKCS1PrivateKey(priv); err == nil {
				t.Errorf("signing_keys.private_key of %s parses as PKCS#1: it is not sealed", kid)
			}
			if blk, _ := pem.Decode(priv); blk != nil {
				t.Errorf("signing_keys.private_key of %s is PEM (%s)", kid, blk.Type)
			}
			if m, ok := jwks[kid]; ok {
				if bytes.Contains(priv, m) {
					t.Errorf("signing_keys.private_key of %s holds the modulus in clear", kid)
				}
				if !bytes.Contains(certDER, m) {
					t.Errorf("signing_keys.cert_der of %s does not hold the published modulus", kid)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Error("no signing keys stored")
		}

		phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]{16,}\$[A-Za-z0-9+/]{32,}$`)
		passwords := map[string]string{demo.AdminUPN: demo.AdminPass, demo.AliceUPN: demo.AlicePass, demo.BobUPN: demo.BobPass, dave.UPN: davePass}
		rows, err = db.QueryContext(ctx, `SELECT upn, password_hash FROM users`)
		if err != nil {
			t.Fatal(err)
		}
		n = 0
		for rows.Next() {
			var upn, h string
			if err := rows.Scan(&upn, &h); err != nil {
				t.Fatal(err)
			}
			n++
			if !phc.MatchString(h) {
				t.Errorf("password of %s is stored as %q, not an argon2id PHC string", upn, h)
			}
			if p, ok := passwords[upn]; ok && !secret.CheckPassword(h, p) {
				t.Errorf("stored hash of %s does not check against the password", upn)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n < len(passwords) {
			t.Errorf("%d users stored, want at least %d", n, len(passwords))
		}

		rows, err = db.QueryContext(ctx, `SELECT key_id, hint, hash FROM password_credentials`)
		if err != nil {
			t.Fatal(err)
		}
		n = 0
		for rows.Next() {
			var keyID, hint string
			var h []byte
			if err := rows.Scan(&keyID, &hint, &h); err != nil {
				t.Fatal(err)
			}
			n++
			if len(h) != 32 {
				t.Errorf("secret %s: hash of %d bytes, want a 32-byte keyed hash", keyID, len(h))
			}
			if len(hint) > 3 {
				t.Errorf("secret %s: hint %q longer than three characters", keyID, hint)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n < 3 {
			t.Errorf("%d client secrets stored, want the two demo secrets and the generated one", n)
		}
	})

	t.Run("file modes", func(t *testing.T) {
		s2sCheckMode(t, dir, 0o700, false)
		if _, err := os.Stat(filepath.Join(dir, "env")); err == nil {
			s2sCheckMode(t, filepath.Join(dir, "env"), 0o700, false)
		}
		for _, name := range []string{"stack.json", "master.key", "ca-key.pem", "server-key.pem", "dvs2s.db", "demo/fabrikam-portal.key"} {
			s2sCheckMode(t, filepath.Join(dir, name), 0o600, false)
		}
	})
}

// s2sCheckMode checks a file's permission bits; optional files may be
// missing.
func s2sCheckMode(t *testing.T, path string, want fs.FileMode, optional bool) {
	t.Helper()
	fi, err := os.Stat(path)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Error(err)
		return
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
	}
}

// s2sOutside counts the occurrences of needle in data that do not lie
// within an occurrence of container.
func s2sOutside(data, needle, container []byte) int {
	type span struct{ from, to int }
	var inside []span
	for off := 0; len(container) > 0; {
		i := bytes.Index(data[off:], container)
		if i < 0 {
			break
		}
		inside = append(inside, span{off + i, off + i + len(container)})
		off += i + 1
	}
	stray := 0
	for off := 0; len(needle) > 0; {
		i := bytes.Index(data[off:], needle)
		if i < 0 {
			break
		}
		at := off + i
		ok := false
		for _, s := range inside {
			if s.from <= at && at+len(needle) <= s.to {
				ok = true
				break
			}
		}
		if !ok {
			stray++
		}
		off = at + 1
	}
	return stray
}

// s2sDemoPortalCert loads the demo portal's certificate and key from the
// files stack.json names.
func s2sDemoPortalCert(t *testing.T, ts *testStack) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	for _, a := range ts.Info.Apps {
		if a.ClientID != demo.PortalAppID {
			continue
		}
		cb, err := os.ReadFile(a.CertificateFile)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := pki.ParseCertificates(cb)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := os.ReadFile(a.PrivateKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(kb)
		if blk == nil {
			t.Fatalf("%s: no PEM", a.PrivateKeyFile)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			t.Fatalf("portal key is %T", k)
		}
		return certs[0], rk
	}
	t.Fatalf("no portal app in stack.json: %+v", ts.Info.Apps)
	return nil, nil
}
