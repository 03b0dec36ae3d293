package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/pki"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store/sqlite"
)

// cliResult is what one run of the binary's run function produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs `dvs2s args... --data dir`.
func cli(t *testing.T, dir string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	full := append(append([]string{}, args...), "--data", dir)
	code := run(context.Background(), full, &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

// mustCLI runs a command that must succeed and returns its output.
func mustCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := cli(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("dvs2s %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// cliJSON runs a command with --json that must succeed and decodes its output.
func cliJSON(t *testing.T, dir string, v any, args ...string) {
	t.Helper()
	out := mustCLI(t, dir, append(args, "--json")...)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("dvs2s %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fixture is a data directory with two tenants and an app in each.
type fixture struct {
	dir                   string
	contoso, fabrikam     tenantJSON
	inventory, portal     appJSON // single-tenant in contoso; multi-tenant in fabrikam
	inventoryID, portalID string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: filepath.Join(t.TempDir(), "data")}
	cliJSON(t, f.dir, &f.contoso, "tenant", "create", "--name", "contoso")
	cliJSON(t, f.dir, &f.fabrikam, "tenant", "create", "--name", "fabrikam", "--domain", "fabrikam.example")
	cliJSON(t, f.dir, &f.inventory, "app", "create", "--tenant", "contoso", "--name", "Inventory Sync")
	cliJSON(t, f.dir, &f.portal, "app", "create", "--tenant", f.fabrikam.ID, "--name", "Fabrikam Portal", "--multi-tenant",
		"--redirect-uri", "https://portal.example/cb")
	f.inventoryID, f.portalID = f.inventory.ClientID, f.portal.ClientID
	return f
}

// openData opens a data directory's store and keys, as the server would.
func openData(t *testing.T, dir string) (*sqlite.DB, *secret.Keys) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "dvs2s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	master, err := secret.LoadOrCreateMaster("", strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	return db, keys
}

func TestAdminHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &out, &errb); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, n := range []string{"tenant", "user", "app", "secret", "cert", "consent", "sp", "resource"} {
		if !strings.Contains(out.String(), "\n  "+n+" ") {
			t.Errorf("help does not list %q:\n%s", n, out.String())
		}
	}
	tests := []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"tenant"}, 2, "", "Usage: dvs2s tenant <command>"},
		{[]string{"app", "help"}, 0, "add-redirect-uri", ""},
		{[]string{"sp", "-h"}, 0, "disable", ""},
		{[]string{"tenant", "destroy"}, 2, "", `unknown command "destroy"`},
		{[]string{"cert", "add", "-h"}, 2, "", "Usage: dvs2s cert add --app <client id>"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.errOut) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
		})
	}
}

func TestAdminTenant(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out := mustCLI(t, dir, "tenant", "create", "--name", "contoso")
	if !strings.Contains(out, "Created tenant contoso") || !strings.Contains(out, "contoso.onmicrosoft.com") {
		t.Errorf("tenant create output:\n%s", out)
	}
	// A new data directory gets a master key only its owner can read.
	if fi, err := os.Stat(filepath.Join(dir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("master.key: %v %v", fi, err)
	}
	const id = "11111111-2222-4333-8444-555555555555"
	var tj tenantJSON
	cliJSON(t, dir, &tj, "tenant", "create", "--name", "Fabrikam", "--domain", "Fabrikam.Example", "--id", strings.ToUpper(id))
	if tj.ID != id || tj.Name != "fabrikam" || tj.Domain != "fabrikam.example" || tj.CreatedAt.IsZero() {
		t.Errorf("tenant create --json: %+v", tj)
	}
	var list []tenantJSON
	cliJSON(t, dir, &list, "tenant", "list")
	if len(list) != 2 || list[0].Name != "contoso" || list[1] != tj {
		t.Errorf("tenant list --json: %+v", list)
	}
	out = mustCLI(t, dir, "tenant", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME ") || !strings.Contains(lines[2], id) {
		t.Errorf("tenant list:\n%s", out)
	}
	// Columns are aligned: DOMAIN starts at the same offset in every line.
	col := strings.Index(lines[0], "DOMAIN")
	if strings.Index(lines[1], "contoso.onmicrosoft.com") != col || strings.Index(lines[2], "fabrikam.example") != col {
		t.Errorf("tenant list is not aligned:\n%s", out)
	}
}

func TestAdminDataFromEnv(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("DVS2S_DATA", dir)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"tenant", "create", "--name", "envtenant"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "dvs2s.db")); err != nil {
		t.Errorf("DVS2S_DATA was not used: %v", err)
	}
}

func TestAdminUser(t *testing.T) {
	f := newFixture(t)
	db, _ := openData(t, f.dir)
	ctx := context.Background()

	// No password given: one is generated, printed once, and works.
	out := mustCLI(t, f.dir, "user", "create", "--tenant", "contoso", "--upn", "Alice@contoso.onmicrosoft.com", "--name", "Alice Anderson", "--admin")
	_, pw, ok := strings.Cut(out, "password:")
	if !ok {
		t.Fatalf("no generated password in:\n%s", out)
	}
	pw = strings.TrimSpace(strings.SplitN(pw, "\n", 2)[0])
	u, err := db.UserByUPN(ctx, "alice@contoso.onmicrosoft.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) < 20 || !secret.CheckPassword(u.PasswordHash, pw) || strings.Contains(u.PasswordHash, pw) {
		t.Errorf("generated password %q does not match the stored hash", pw)
	}
	if !u.Admin || u.DisplayName != "Alice Anderson" || u.TenantID != f.contoso.ID {
		t.Errorf("user: %+v", u)
	}

	// --password-stdin reads the first line of standard input.
	adminStdin = strings.NewReader("Bob-Passw0rd-from-stdin\nignored\n")
	t.Cleanup(func() { adminStdin = os.Stdin })
	var uj userJSON
	cliJSON(t, f.dir, &uj, "user", "create", "--tenant", f.contoso.Domain, "--upn", "bob@contoso.onmicrosoft.com", "--password-stdin")
	if uj.Password != "" || uj.UPN != "bob@contoso.onmicrosoft.com" || uj.DisplayName != "bob" || uj.Admin || !uj.Enabled || uj.TenantDomain != f.contoso.Domain {
		t.Errorf("user create --password-stdin --json: %+v", uj)
	}
	b, _ := db.User(ctx, uj.ObjectID)
	if !secret.CheckPassword(b.PasswordHash, "Bob-Passw0rd-from-stdin") {
		t.Error("password from stdin does not match")
	}

	// --json shows a generated password too (once).
	var cj userJSON
	cliJSON(t, f.dir, &cj, "user", "create", "--tenant", "fabrikam", "--upn", "carol@fabrikam.example")
	c, _ := db.User(ctx, cj.ObjectID)
	if cj.Password == "" || !secret.CheckPassword(c.PasswordHash, cj.Password) {
		t.Errorf("generated password in --json: %+v", cj)
	}

	var list []userJSON
	cliJSON(t, f.dir, &list, "user", "list", "--tenant", "contoso")
	if len(list) != 2 || list[0].UPN != "alice@contoso.onmicrosoft.com" || list[1].UPN != "bob@contoso.onmicrosoft.com" || list[0].Password != "" {
		t.Errorf("user list --tenant contoso: %+v", list)
	}
	cliJSON(t, f.dir, &list, "user", "list")
	if len(list) != 3 {
		t.Errorf("user list: %d users, want 3", len(list))
	}
	out = mustCLI(t, f.dir, "user", "list", "--tenant", "fabrikam")
	if !strings.Contains(out, "carol@fabrikam.example") || strings.Contains(out, cj.Password) {
		t.Errorf("user list:\n%s", out)
	}
}

func TestAdminApp(t *testing.T) {
	f := newFixture(t)
	const fixed = "0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60"
	var a appJSON
	cliJSON(t, f.dir, &a, "app", "create", "--tenant", "contoso", "--name", "Orders API", "--app-id", fixed,
		"--redirect-uri", "http://localhost:3000/cb", "--identifier-uri", "api://orders", "--identifier-uri", "https://orders.example")
	if a.ClientID != fixed || a.MultiTenant || a.SignInAudience != "AzureADMyOrg" || a.HomeTenantID != f.contoso.ID ||
		len(a.RedirectURIs) != 1 || len(a.IdentifierURIs) != 2 || a.AccessTokenVersion != 1 {
		t.Errorf("app create --json: %+v", a)
	}
	if !f.portal.MultiTenant || f.portal.SignInAudience != "AzureADMultipleOrgs" {
		t.Errorf("multi-tenant app: %+v", f.portal)
	}
	out := mustCLI(t, f.dir, "app", "create", "--tenant", "contoso", "--name", "Human")
	if !strings.Contains(out, `Registered app "Human"`) || !strings.Contains(out, "dvs2s secret add --app ") {
		t.Errorf("app create:\n%s", out)
	}

	var list []appJSON
	cliJSON(t, f.dir, &list, "app", "list", "--tenant", "contoso")
	if len(list) != 3 || list[0].ClientID != f.inventoryID {
		t.Errorf("app list --tenant contoso: %+v", list)
	}
	cliJSON(t, f.dir, &list, "app", "list")
	if len(list) != 4 {
		t.Errorf("app list: %d apps, want 4", len(list))
	}
	if out := mustCLI(t, f.dir, "app", "list"); !strings.Contains(out, "multi-tenant") || !strings.Contains(out, "fabrikam.example") {
		t.Errorf("app list:\n%s", out)
	}

	cliJSON(t, f.dir, &a, "app", "add-redirect-uri", "--app", fixed, "--uri", "https://orders.example/cb", "--uri", "http://localhost:3000/cb")
	if strings.Join(a.RedirectURIs, " ") != "http://localhost:3000/cb https://orders.example/cb" {
		t.Errorf("add-redirect-uri: %v", a.RedirectURIs)
	}

	// show: positional client id, flags after it; a new app has its home
	// service principal and no credentials.
	var show appJSON
	cliJSON(t, f.dir, &show, "app", "show", strings.ToUpper(fixed))
	if show.Secrets == nil || len(*show.Secrets) != 0 || len(*show.Certificates) != 0 || len(*show.ServicePrincipals) != 1 ||
		(*show.ServicePrincipals)[0].TenantID != f.contoso.ID || !(*show.ServicePrincipals)[0].Enabled {
		t.Errorf("app show --json: %+v", show)
	}
	out = mustCLI(t, f.dir, "app", "show", "--app", fixed)
	for _, want := range []string{"Orders API", "api://orders", "https://orders.example\n", "Client secrets:\n  none", "Service principals:", f.contoso.Domain} {
		if !strings.Contains(out, want) {
			t.Errorf("app show lacks %q:\n%s", want, out)
		}
	}
}

func TestAdminSecret(t *testing.T) {
	f := newFixture(t)
	db, keys := openData(t, f.dir)
	var s secretAddJSON
	cliJSON(t, f.dir, &s, "secret", "add", "--app", f.inventoryID, "--name", "ci", "--years", "1", "--days", "10")
	if len(s.Secret) != 40 || s.Hint != s.Secret[:3] || s.DisplayName != "ci" || s.ClientID != f.inventoryID {
		t.Errorf("secret add --json: %+v", s)
	}
	if d := s.ExpiresAt.Sub(s.StartsAt); d != 375*24*time.Hour {
		t.Errorf("validity %v, want 375 days", d)
	}
	ps, err := db.Passwords(context.Background(), f.inventoryID)
	if err != nil || len(ps) != 1 || !keys.Equal(ps[0].Hash, s.Secret) || ps[0].KeyID != s.KeyID {
		t.Fatalf("stored secret does not match: %+v %v", ps, err)
	}

	out := mustCLI(t, f.dir, "secret", "add", "--app", f.inventoryID)
	if strings.Count(out, "secret:") != 1 || !strings.Contains(out, "shown only this once") {
		t.Errorf("secret add:\n%s", out)
	}
	_, text, _ := strings.Cut(out, "secret:")
	text = strings.TrimSpace(strings.SplitN(text, "\n", 2)[0])
	ps, _ = db.Passwords(context.Background(), f.inventoryID)
	if len(ps) != 2 || !keys.Equal(ps[1].Hash, text) && !keys.Equal(ps[0].Hash, text) {
		t.Errorf("printed secret %q does not match a stored hash", text)
	}
	for _, p := range ps {
		if p.KeyID != s.KeyID {
			if d := p.End.Sub(p.Start); d != defaultSecretValidity {
				t.Errorf("default validity %v", d)
			}
		}
	}

	// Never again: not in app show, not in the database files.
	show := mustCLI(t, f.dir, "app", "show", f.inventoryID) + mustCLI(t, f.dir, "app", "show", f.inventoryID, "--json")
	if strings.Contains(show, s.Secret) || strings.Contains(show, text) || !strings.Contains(show, s.KeyID) || !strings.Contains(show, s.Hint+"…") {
		t.Errorf("app show:\n%s", show)
	}
	for _, name := range []string{"dvs2s.db", "dvs2s.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(f.dir, name))
		if bytes.Contains(b, []byte(s.Secret)) || bytes.Contains(b, []byte(text)) {
			t.Errorf("%s holds a secret in plain text", name)
		}
	}
}

// writeCertFile writes PEM blocks to a file in dir.
func writeCertFile(t *testing.T, dir, name string, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, bl := range blocks {
		b = append(b, pem.EncodeToMemory(bl)...)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAdminCert(t *testing.T) {
	f := newFixture(t)
	tmp := t.TempDir()

	// --generate writes the pair and registers the certificate.
	prefix := filepath.Join(tmp, "out", "portal")
	var g certJSON
	cliJSON(t, f.dir, &g, "cert", "add", "--app", f.portalID, "--generate", "--out", prefix, "--subject", "portal-ci", "--days", "30")
	if g.CertificateFile != prefix+".pem" || g.PrivateKeyFile != prefix+".key" || g.Subject != "CN=portal-ci" || g.DisplayName != "portal-ci" {
		t.Errorf("cert add --generate --json: %+v", g)
	}
	if fi, err := os.Stat(prefix + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key file: %v %v", fi, err)
	}
	pemData, err := os.ReadFile(prefix + ".pem")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificates(pemData)
	if err != nil {
		t.Fatal(err)
	}
	s1, s256 := sha1.Sum(certs[0].Raw), sha256.Sum256(certs[0].Raw)
	if g.Thumbprint != strings.ToUpper(hex.EncodeToString(s1[:])) || g.X5t != base64.RawURLEncoding.EncodeToString(s1[:]) ||
		g.X5tS256 != base64.RawURLEncoding.EncodeToString(s256[:]) {
		t.Errorf("thumbprints %+v do not match the certificate", g)
	}
	if d := g.ExpiresAt.Sub(time.Now()); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("generated validity ends in %v, want 30 days", d)
	}
	// The same prefix again is refused: nothing is overwritten.
	if r := cli(t, f.dir, "cert", "add", "--app", f.portalID, "--generate", "--out", prefix); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("reused --out: %+v", r)
	}

	// --file: a PEM certificate (with its key in the same file: a note).
	cert, key, err := pki.SelfSigned("uploaded", 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	both := writeCertFile(t, tmp, "both.pem", &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}, &pem.Block{Type: "PRIVATE KEY", Bytes: kb})
	r := cli(t, f.dir, "cert", "add", "--app", f.portalID, "--file", both, "--name", "uploaded cert")
	if r.code != 0 || !strings.Contains(r.stderr, "also holds a private key") {
		t.Fatalf("cert add --file: %+v", r)
	}
	u1 := sha1.Sum(cert.Raw)
	for _, want := range []string{"uploaded cert", strings.ToUpper(hex.EncodeToString(u1[:])), "x5t#S256:", "CN=uploaded"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("cert add output lacks %q:\n%s", want, r.stdout)
		}
	}
	// DER works too.
	der, _, _ := pki.SelfSigned("der", 24*time.Hour)
	derFile := filepath.Join(tmp, "cert.cer")
	os.WriteFile(derFile, der.Raw, 0o600)
	var dj certJSON
	cliJSON(t, f.dir, &dj, "cert", "add", "--app", f.portalID, "--file", derFile)
	if dj.Subject != "CN=der" || dj.CertificateFile != "" {
		t.Errorf("cert add DER: %+v", dj)
	}

	var show appJSON
	cliJSON(t, f.dir, &show, "app", "show", f.portalID)
	if len(*show.Certificates) != 3 || (*show.Certificates)[0].Thumbprint == "" {
		t.Errorf("app show certificates: %+v", *show.Certificates)
	}
	if out := mustCLI(t, f.dir, "app", "show", f.portalID); !strings.Contains(out, g.Thumbprint) || !strings.Contains(out, "valid") {
		t.Errorf("app show:\n%s", out)
	}
}

// certErrorFiles writes the bad certificate files of the error table.
func certErrorFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	ecDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ek.PublicKey, ek)
	if err != nil {
		t.Fatal(err)
	}
	expired, rk, _ := pki.SelfSigned("expired", -time.Minute)
	kb, _ := x509.MarshalPKCS8PrivateKey(rk)
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate at all"), 0o600)
	return map[string]string{
		"ecdsa":   writeCertFile(t, dir, "ec.pem", &pem.Block{Type: "CERTIFICATE", Bytes: ecDER}),
		"expired": writeCertFile(t, dir, "expired.pem", &pem.Block{Type: "CERTIFICATE", Bytes: expired.Raw}),
		"keyonly": writeCertFile(t, dir, "key.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: kb}),
		"corrupt": writeCertFile(t, dir, "corrupt.pem", &pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")}),
		"other":   writeCertFile(t, dir, "other.pem", &pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")}),
		"garbage": garbage,
	}
}

func TestAdminConsentAndServicePrincipals(t *testing.T) {
	f := newFixture(t)
	var c consentJSON
	cliJSON(t, f.dir, &c, "consent", "grant", "--tenant", "contoso", "--app", f.portalID)
	if !c.Created || c.TenantID != f.contoso.ID || c.ClientID != f.portalID || !c.Enabled || c.AppDisplayName != "Fabrikam Portal" {
		t.Errorf("consent grant --json: %+v", c)
	}
	var again consentJSON
	cliJSON(t, f.dir, &again, "consent", "grant", "--tenant", f.contoso.ID, "--app", f.portalID)
	if again.Created || again.ObjectID != c.ObjectID {
		t.Errorf("second consent grant: %+v", again)
	}
	if out := mustCLI(t, f.dir, "consent", "grant", "--tenant", "contoso", "--app", f.portalID); !strings.Contains(out, "already has consent") {
		t.Errorf("consent grant again:\n%s", out)
	}

	var list []spJSON
	cliJSON(t, f.dir, &list, "sp", "list", "--tenant", "contoso")
	if len(list) != 2 || list[1].ObjectID != c.ObjectID || list[0].ClientID != f.inventoryID {
		t.Errorf("sp list --tenant contoso: %+v", list)
	}
	cliJSON(t, f.dir, &list, "sp", "list")
	if len(list) != 3 {
		t.Errorf("sp list: %d, want 3", len(list))
	}

	var sp spJSON
	cliJSON(t, f.dir, &sp, "sp", "disable", "--tenant", "contoso", "--app", f.portalID)
	if sp.Enabled || sp.ObjectID != c.ObjectID {
		t.Errorf("sp disable: %+v", sp)
	}
	out := mustCLI(t, f.dir, "sp", "list", "--tenant", "contoso")
	if !strings.Contains(out, "Fabrikam Portal") || !strings.Contains(out, "no") {
		t.Errorf("sp list after disable:\n%s", out)
	}
	if out := mustCLI(t, f.dir, "sp", "enable", "--tenant", "contoso", "--app", f.portalID); !strings.Contains(out, "Enabled") {
		t.Errorf("sp enable:\n%s", out)
	}
	db, _ := openData(t, f.dir)
	if got, err := db.ServicePrincipal(context.Background(), f.contoso.ID, f.portalID); err != nil || !got.Enabled {
		t.Errorf("after enable: %+v %v", got, err)
	}
}

func TestAdminResource(t *testing.T) {
	f := newFixture(t)
	var r resourceJSON
	cliJSON(t, f.dir, &r, "resource", "register", "--tenant", "contoso", "--uri", "https://contoso.crm.example/")
	if r.URI != "https://contoso.crm.example" || r.AppID != directory.DataverseAppID || r.TokenVersion != 1 || r.DisplayName != "https://contoso.crm.example/" {
		t.Errorf("resource register --json: %+v", r)
	}
	const appID = "3c2b1a09-8d7e-4f6a-9b5c-4d3e2f1a0b9c"
	out := mustCLI(t, f.dir, "resource", "register", "--tenant", "fabrikam", "--uri", "api://orders", "--app-id", appID, "--token-version", "2", "--name", "Orders")
	if !strings.Contains(out, "scope=api://orders/.default") {
		t.Errorf("resource register:\n%s", out)
	}
	var list []resourceJSON
	cliJSON(t, f.dir, &list, "resource", "list")
	if len(list) != 2 || list[1].AppID != appID || list[1].TokenVersion != 2 || list[1].DisplayName != "Orders" || list[1].TenantDomain != "fabrikam.example" {
		t.Errorf("resource list: %+v", list)
	}
	cliJSON(t, f.dir, &list, "resource", "list", "--tenant", "contoso")
	if len(list) != 1 {
		t.Errorf("resource list --tenant contoso: %+v", list)
	}
	if out := mustCLI(t, f.dir, "resource", "list"); !strings.Contains(out, "v2") || !strings.Contains(out, "Orders") {
		t.Errorf("resource list:\n%s", out)
	}
}

func TestAdminEmptyLists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustCLI(t, dir, "tenant", "create", "--name", "empty")
	for _, noun := range []string{"app", "user", "sp", "resource"} {
		var list []json.RawMessage
		out := mustCLI(t, dir, noun, "list", "--json")
		if err := json.Unmarshal([]byte(out), &list); err != nil || list == nil || len(list) != 0 {
			t.Errorf("%s list --json on an empty directory: %q", noun, out)
		}
		if out := mustCLI(t, dir, noun, "list"); !strings.HasPrefix(out, "No ") {
			t.Errorf("%s list: %q", noun, out)
		}
	}
}

func TestAdminDataDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	// Reading a directory without a database fails and creates nothing.
	r := cli(t, dir, "tenant", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "no database in data directory") {
		t.Errorf("tenant list on no data: %+v", r)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("a read created the data directory")
	}

	f := newFixture(t)
	keyFile := filepath.Join(f.dir, "master.key")
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(keyFile)
	// A database without its master key: never make a new one.
	r = cli(t, f.dir, "secret", "add", "--app", f.inventoryID)
	if r.code != 1 || !strings.Contains(r.stderr, "DVS2S_MASTER_KEY") || !strings.Contains(r.stderr, "master.key does not") {
		t.Errorf("secret add without master key: %+v", r)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("a new master key was created next to an existing database")
	}
	// Commands that need no key still work.
	mustCLI(t, f.dir, "app", "list")
	// With the key in the environment, secrets hash as the server's do.
	t.Setenv("DVS2S_MASTER_KEY", strings.TrimSpace(string(key)))
	var s secretAddJSON
	cliJSON(t, f.dir, &s, "secret", "add", "--app", f.inventoryID)
	os.WriteFile(keyFile, key, 0o600)
	db, keys := openData(t, f.dir)
	ps, _ := db.Passwords(context.Background(), f.inventoryID)
	if len(ps) != 1 || !keys.Equal(ps[0].Hash, s.Secret) {
		t.Error("secret added with DVS2S_MASTER_KEY does not match")
	}
	if _, err := os.Stat(keyFile); err != nil {
		t.Error(err)
	}
}

func TestAdminErrors(t *testing.T) {
	f := newFixture(t)
	files := certErrorFiles(t, t.TempDir())
	const unknownApp = "99999999-9999-4999-8999-999999999999"
	adminStdin = strings.NewReader("")
	t.Cleanup(func() { adminStdin = os.Stdin })
	tests := []struct {
		name string
		args []string
		code int
		msg  string // in stderr
	}{
		{"tenant missing name", []string{"tenant", "create"}, 2, "--name is required"},
		{"tenant duplicate name", []string{"tenant", "create", "--name", "contoso"}, 1, `a tenant named "contoso" already exists`},
		{"tenant duplicate domain", []string{"tenant", "create", "--name", "other", "--domain", "fabrikam.example"}, 1, "already belongs to tenant"},
		{"tenant duplicate id", []string{"tenant", "create", "--name", "other", "--id", f.contoso.ID}, 1, "already belongs to tenant"},
		{"tenant non-GUID id", []string{"tenant", "create", "--name", "other", "--id", "1234"}, 2, `--id "1234" is not a valid tenant id`},
		{"tenant bad name", []string{"tenant", "create", "--name", "Bad Name"}, 2, "lower-case letters"},
		{"tenant bad domain", []string{"tenant", "create", "--name", "other", "--domain", "no_dns"}, 2, "not a valid DNS name"},
		{"tenant unknown flag", []string{"tenant", "create", "--nme", "x"}, 2, "flag provided but not defined: -nme"},
		{"tenant list argument", []string{"tenant", "list", "extra"}, 2, `unexpected argument "extra"`},
		{"user missing tenant", []string{"user", "create", "--upn", "a@contoso.onmicrosoft.com"}, 2, "--tenant is required"},
		{"user missing upn", []string{"user", "create", "--tenant", "contoso"}, 2, "--upn is required"},
		{"user unknown tenant", []string{"user", "create", "--tenant", "nowhere", "--upn", "a@nowhere.example"}, 1, `unknown tenant "nowhere"`},
		{"user wrong domain", []string{"user", "create", "--tenant", "contoso", "--upn", "a@fabrikam.example"}, 2, "must be user@contoso.onmicrosoft.com"},
		{"user empty stdin", []string{"user", "create", "--tenant", "contoso", "--upn", "a@contoso.onmicrosoft.com", "--password-stdin"}, 2, "no password on standard input"},
		{"user bad id", []string{"user", "create", "--tenant", "contoso", "--upn", "a@contoso.onmicrosoft.com", "--id", "x"}, 2, "not a valid user object id"},
		{"user list unknown tenant", []string{"user", "list", "--tenant", "nowhere"}, 1, "unknown tenant"},
		{"app missing name", []string{"app", "create", "--tenant", "contoso"}, 2, "--name is required"},
		{"app unknown tenant", []string{"app", "create", "--tenant", "nowhere", "--name", "x"}, 1, `unknown tenant "nowhere"`},
		{"app http redirect", []string{"app", "create", "--tenant", "contoso", "--name", "x", "--redirect-uri", "http://example.com/cb"}, 2, "must use https"},
		{"app bad identifier", []string{"app", "create", "--tenant", "contoso", "--name", "x", "--identifier-uri", "orders"}, 2, "must be an absolute URI"},
		{"app duplicate client id", []string{"app", "create", "--tenant", "contoso", "--name", "x", "--app-id", f.inventoryID}, 1, "already exists"},
		{"app bad client id", []string{"app", "create", "--tenant", "contoso", "--name", "x", "--app-id", "abc"}, 2, `--app-id "abc" is not a valid application id`},
		{"app list unknown tenant", []string{"app", "list", "--tenant", "nowhere"}, 1, "unknown tenant"},
		{"app show no id", []string{"app", "show"}, 2, "client id is required"},
		{"app show non-GUID", []string{"app", "show", "portal"}, 2, `"portal" is not a client id`},
		{"app show unknown", []string{"app", "show", unknownApp}, 1, "unknown app"},
		{"app show two ids", []string{"app", "show", f.inventoryID, f.portalID}, 2, "unexpected argument"},
		{"redirect missing uri", []string{"app", "add-redirect-uri", "--app", f.portalID}, 2, "--uri is required"},
		{"redirect missing app", []string{"app", "add-redirect-uri", "--uri", "https://x.example/cb"}, 2, "--app is required"},
		{"redirect bad uri", []string{"app", "add-redirect-uri", "--app", f.portalID, "--uri", "ftp://x.example"}, 2, "must use https"},
		{"redirect unknown app", []string{"app", "add-redirect-uri", "--app", unknownApp, "--uri", "https://x.example/cb"}, 1, "unknown app"},
		{"secret missing app", []string{"secret", "add"}, 2, "--app is required"},
		{"secret non-GUID app", []string{"secret", "add", "--app", "portal"}, 2, `--app "portal" is not a client id`},
		{"secret unknown app", []string{"secret", "add", "--app", unknownApp}, 1, "unknown app"},
		{"secret negative days", []string{"secret", "add", "--app", f.portalID, "--days", "-1"}, 2, "must not be negative"},
		{"secret bad days", []string{"secret", "add", "--app", f.portalID, "--days", "ten"}, 2, "invalid value"},
		{"cert no source", []string{"cert", "add", "--app", f.portalID}, 2, "give --file"},
		{"cert both sources", []string{"cert", "add", "--app", f.portalID, "--file", files["ecdsa"], "--generate", "--out", "x"}, 2, "not both"},
		{"cert generate no out", []string{"cert", "add", "--app", f.portalID, "--generate"}, 2, "--generate needs --out"},
		{"cert out without generate", []string{"cert", "add", "--app", f.portalID, "--file", files["ecdsa"], "--out", "x"}, 2, "go with --generate"},
		{"cert missing file", []string{"cert", "add", "--app", f.portalID, "--file", "/nonexistent/cert.pem"}, 1, "no such file"},
		{"cert garbage", []string{"cert", "add", "--app", f.portalID, "--file", files["garbage"]}, 2, "neither a PEM certificate nor a DER"},
		{"cert no certificate block", []string{"cert", "add", "--app", f.portalID, "--file", files["other"]}, 2, "no PEM CERTIFICATE block"},
		{"cert key only", []string{"cert", "add", "--app", f.portalID, "--file", files["keyonly"]}, 2, "private key but no certificate"},
		{"cert corrupt", []string{"cert", "add", "--app", f.portalID, "--file", files["corrupt"]}, 2, "not valid PEM/X.509"},
		{"cert not RSA", []string{"cert", "add", "--app", f.portalID, "--file", files["ecdsa"]}, 2, "ECDSA certificate: Entra ID app credentials must be RSA"},
		{"cert expired", []string{"cert", "add", "--app", f.portalID, "--file", files["expired"]}, 2, "expired"},
		{"cert unknown app", []string{"cert", "add", "--app", unknownApp, "--generate", "--out", filepath.Join(t.TempDir(), "x")}, 1, "unknown app"},
		{"consent single-tenant elsewhere", []string{"consent", "grant", "--tenant", "fabrikam", "--app", f.inventoryID}, 2, "single-tenant"},
		{"consent missing tenant", []string{"consent", "grant", "--app", f.portalID}, 2, "--tenant is required"},
		{"consent unknown tenant", []string{"consent", "grant", "--tenant", "nowhere", "--app", f.portalID}, 1, "unknown tenant"},
		{"consent unknown app", []string{"consent", "grant", "--tenant", "contoso", "--app", unknownApp}, 1, "unknown app"},
		{"sp without consent", []string{"sp", "disable", "--tenant", "contoso", "--app", f.portalID}, 1, "grant consent first with 'dvs2s consent grant"},
		{"sp missing app", []string{"sp", "enable", "--tenant", "contoso"}, 2, "--app is required"},
		{"sp list unknown tenant", []string{"sp", "list", "--tenant", "nowhere"}, 1, "unknown tenant"},
		{"resource missing uri", []string{"resource", "register", "--tenant", "contoso"}, 2, "--uri is required"},
		{"resource relative uri", []string{"resource", "register", "--tenant", "contoso", "--uri", "orders"}, 2, "must be an absolute URI"},
		{"resource bad version", []string{"resource", "register", "--tenant", "contoso", "--uri", "https://x.example", "--token-version", "3"}, 2, "use 1 or 2"},
		{"resource bad app id", []string{"resource", "register", "--tenant", "contoso", "--uri", "https://x.example", "--app-id", "x"}, 2, "not a valid application id"},
		{"resource unknown tenant", []string{"resource", "register", "--tenant", "nowhere", "--uri", "https://x.example"}, 1, "unknown tenant"},
		{"resource list unknown tenant", []string{"resource", "list", "--tenant", "nowhere"}, 1, "unknown tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, f.dir, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("dvs2s %s: exit %d, want %d with %q\nstderr: %s", strings.Join(tt.args, " "), r.code, tt.code, tt.msg, r.stderr)
			}
			if r.code == 2 && !strings.Contains(r.stderr, "-h' for usage") && !strings.Contains(r.stderr, "Usage:") {
				t.Errorf("usage error without a pointer to help:\n%s", r.stderr)
			}
			if r.code == 1 && strings.Contains(r.stderr, "store: ") {
				t.Errorf("failure shows internal error text:\n%s", r.stderr)
			}
		})
	}
	// Nothing above changed the directory.
	var ts []tenantJSON
	cliJSON(t, f.dir, &ts, "tenant", "list")
	var apps []appJSON
	cliJSON(t, f.dir, &apps, "app", "list")
	if len(ts) != 2 || len(apps) != 2 {
		t.Errorf("failed commands changed the directory: %d tenants, %d apps", len(ts), len(apps))
	}
}
