package e2e

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/pki"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/throttle"
	"golang.org/x/net/html"
)

// Tests of the admin console (/console/ on the identity service's port),
// driven over real HTTPS as a browser without script would: a cookie jar,
// HTML forms parsed and posted (selects, textareas and file uploads
// included), redirects followed. The changes made through the console are
// checked from the outside — tokens, Web API calls with the SDK, the audit
// log — not by reading the store.

// conBrowser is a browser session on the console.
type conBrowser struct {
	t    testing.TB
	c    *http.Client
	base string // https://localhost:port
}

func newConBrowser(t testing.TB, ts *testStack) *conBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &conBrowser{t: t, base: ts.Info.AuthorityHost, c: &http.Client{Transport: ts.client.Transport, Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// conPage is a page as the browser ended on it.
type conPage struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func (b *conBrowser) do(req *http.Request) *conPage {
	b.t.Helper()
	for range 8 {
		res, err := b.c.Do(req)
		if err != nil {
			b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusSeeOther || res.StatusCode == http.StatusFound || res.StatusCode == http.StatusMovedPermanently {
			next, err := req.URL.Parse(res.Header.Get("Location"))
			if err != nil {
				b.t.Fatal(err)
			}
			req, _ = http.NewRequest(http.MethodGet, next.String(), nil)
			continue
		}
		return &conPage{status: res.StatusCode, header: res.Header, body: string(body), url: req.URL}
	}
	b.t.Fatalf("too many redirects at %s", req.URL)
	return nil
}

func (b *conBrowser) get(path string) *conPage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// conForm is a parsed form with its successful controls.
type conForm struct {
	action, method, enctype string
	fields                  [][2]string // name, value, in document order
	files                   map[string]bool
}

// forms parses the page's forms: inputs (checked boxes and radios only),
// selects (the selected option, else the first), textareas.
func (p *conPage) forms(t testing.TB) []conForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var out []conForm
	var cur *conForm
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			a := htmlAttrs(n)
			switch n.Data {
			case "form":
				action, _ := p.url.Parse(a["action"])
				out = append(out, conForm{action: action.String(), method: strings.ToUpper(a["method"]), enctype: a["enctype"], files: map[string]bool{}})
				cur = &out[len(out)-1]
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = nil
				return
			case "input":
				if cur == nil || a["name"] == "" {
					break
				}
				switch a["type"] {
				case "checkbox", "radio":
					if _, ok := a["checked"]; ok {
						cur.fields = append(cur.fields, [2]string{a["name"], a["value"]})
					}
				case "file":
					cur.files[a["name"]] = true
				default:
					cur.fields = append(cur.fields, [2]string{a["name"], a["value"]})
				}
			case "textarea":
				if cur != nil && a["name"] != "" {
					cur.fields = append(cur.fields, [2]string{a["name"], htmlText(n)})
				}
			case "select":
				if cur != nil && a["name"] != "" {
					first, sel := "", ""
					haveFirst, found := false, false
					var opts func(*html.Node)
					opts = func(o *html.Node) {
						for c := o.FirstChild; c != nil; c = c.NextSibling {
							if c.Type == html.ElementNode && c.Data == "option" {
								oa := htmlAttrs(c)
								if !haveFirst {
									first, haveFirst = oa["value"], true
								}
								if _, ok := oa["selected"]; ok && !found {
									sel, found = oa["value"], true
								}
							}
							opts(c)
						}
					}
					opts(n)
					if !found {
						sel = first
					}
					cur.fields = append(cur.fields, [2]string{a["name"], sel})
				}
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// form returns the form whose action path ends with suffix.
func (p *conPage) form(t testing.TB, suffix string) conForm {
	t.Helper()
	for _, f := range p.forms(t) {
		u, _ := url.Parse(f.action)
		if strings.HasSuffix(u.Path, suffix) {
			return f
		}
	}
	t.Fatalf("no form posting to …%s on %s (status %d):\n%s", suffix, p.url.Path, p.status, shortBody(p.body))
	return conForm{}
}

// conFile is a file to upload in a form.
type conFile struct {
	name string
	data []byte
}

// submit posts the form with fill replacing (or adding) values, files
// uploaded as multipart when the form says so; redirects are followed.
func (b *conBrowser) submit(f conForm, fill map[string]string, files map[string]conFile) *conPage {
	b.t.Helper()
	v := url.Values{}
	seen := map[string]bool{}
	for _, kv := range f.fields {
		if x, ok := fill[kv[0]]; ok {
			if !seen[kv[0]] {
				v.Add(kv[0], x)
			}
			seen[kv[0]] = true
			continue
		}
		v.Add(kv[0], kv[1])
	}
	for k, x := range fill {
		if !seen[k] && !v.Has(k) {
			v.Set(k, x)
		}
	}
	var body io.Reader
	ctype := "application/x-www-form-urlencoded"
	if f.enctype == "multipart/form-data" {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, vals := range v {
			for _, x := range vals {
				mw.WriteField(k, x)
			}
		}
		for k, file := range files {
			w, _ := mw.CreateFormFile(k, file.name)
			w.Write(file.data)
		}
		mw.Close()
		body, ctype = &buf, mw.FormDataContentType()
	} else {
		body = strings.NewReader(v.Encode())
	}
	method := f.method
	if method == "" {
		method = http.MethodGet
	}
	if method == http.MethodGet {
		u, _ := url.Parse(f.action)
		u.RawQuery = v.Encode()
		req, _ := http.NewRequest(method, u.String(), nil)
		return b.do(req)
	}
	req, err := http.NewRequest(method, f.action, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	pu, _ := url.Parse(f.action)
	req.Header.Set("Origin", pu.Scheme+"://"+pu.Host)
	return b.do(req)
}

// post submits the form posting to …suffix on the page at path.
func (b *conBrowser) post(path, suffix string, fill map[string]string) *conPage {
	b.t.Helper()
	return b.submit(b.get(path).form(b.t, suffix), fill, nil)
}

// text returns the text of the element with the id, or "".
func (p *conPage) text(t testing.TB, id string) string {
	t.Helper()
	s, _ := (&webPage{body: p.body}).elementText(t, id)
	return s
}

// fieldError returns the message shown next to a field.
func (p *conPage) fieldError(t testing.TB, field string) string {
	t.Helper()
	return p.text(t, field+"-error")
}

// signInConsole signs a user in to the console and returns the browser.
func signInConsole(t testing.TB, ts *testStack, upn, password string) (*conBrowser, *conPage) {
	t.Helper()
	b := newConBrowser(t, ts)
	p := b.get("/console/")
	if p.url.Path != "/console/signin" || p.status != http.StatusOK {
		t.Fatalf("not sent to sign in: %s %d", p.url, p.status)
	}
	var f conForm
	for _, x := range p.forms(t) {
		f = x
	}
	p = b.submit(f, map[string]string{"login": upn, "passwd": password}, nil)
	return b, p
}

func wantStatus(t testing.TB, p *conPage, status int, contains ...string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d:\n%s", p.url.Path, p.status, status, shortBody(p.body))
	}
	for _, c := range contains {
		if !strings.Contains(p.body, c) {
			t.Fatalf("%s: page lacks %q:\n%s", p.url.Path, c, shortBody(p.body))
		}
	}
}

var conGUIDRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func TestConsoleSignInAndCSRF(t *testing.T) {
	ts := start(t, "")

	// Anonymous: the pages send to sign-in, posts are refused.
	anon := newConBrowser(t, ts)
	if p := anon.get("/console/apps"); p.url.Path != "/console/signin" || p.url.Query().Get("next") != "/console/apps" {
		t.Fatalf("anonymous: ended at %s", p.url)
	}
	req, _ := http.NewRequest(http.MethodPost, ts.Info.AuthorityHost+"/console/users", strings.NewReader("user=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p := anon.do(req); p.status != http.StatusForbidden {
		t.Fatalf("anonymous post: %d", p.status)
	}
	// An open redirect through next is not followed.
	if p := anon.get("/console/signin?next=https://evil.example/"); p.status != http.StatusOK {
		t.Fatalf("signin page: %d", p.status)
	} else {
		f := p.forms(t)[0]
		if strings.Contains(f.action, "evil") {
			t.Fatalf("next kept in the form: %s", f.action)
		}
	}

	// A user who is not an administrator is refused.
	_, p := signInConsole(t, ts, demo.AliceUPN, demo.AlicePass)
	wantStatus(t, p, http.StatusForbidden, "not an administrator")

	// Wrong password: the identity service's form says so.
	b := newConBrowser(t, ts)
	sp := b.get("/console/")
	p = b.submit(sp.forms(t)[0], map[string]string{"login": demo.AdminUPN, "passwd": "wrong-password"}, nil)
	wantStatus(t, p, http.StatusOK, "incorrect")

	// The administrator gets in, back to where they were going.
	b, p = signInConsole(t, ts, demo.AdminUPN, demo.AdminPass)
	wantStatus(t, p, http.StatusOK, "contoso", "Connect an S2S application")
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", p.header.Get("Cache-Control"))
	}
	if css := b.get("/console/static/console.css"); css.status != http.StatusOK || !strings.Contains(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", css.status, css.header.Get("Content-Type"))
	}

	// Forms need the session's token and this origin.
	f := b.get("/console/users").form(t, "/console/users")
	for name, mod := range map[string]func(*http.Request, url.Values){
		"no token":     func(r *http.Request, v url.Values) { v.Del("csrf_token") },
		"wrong token":  func(r *http.Request, v url.Values) { v.Set("csrf_token", "AAAA"+v.Get("csrf_token")[4:]) },
		"cross origin": func(r *http.Request, v url.Values) { r.Header.Set("Origin", "https://evil.example") },
		"cross site":   func(r *http.Request, v url.Values) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
	} {
		v := url.Values{}
		for _, kv := range f.fields {
			v.Add(kv[0], kv[1])
		}
		v.Set("user", "mallory")
		v.Set("display_name", "Mallory")
		v.Set("password", "Mallory-Passw0rd")
		v.Set("confirm", "Mallory-Passw0rd")
		req, _ := http.NewRequest(http.MethodPost, f.action, nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		mod(req, v)
		req.Body = io.NopCloser(strings.NewReader(v.Encode()))
		if p := b.do(req); p.status != http.StatusForbidden {
			t.Errorf("%s: status %d", name, p.status)
		}
	}
	if _, err := ts.Store.UserByUPN(context.Background(), "mallory@contoso.onmicrosoft.com"); err == nil {
		t.Fatal("a forged form created a user")
	}

	// Sign out ends the session.
	p = b.post("/console/", "/console/signout", nil)
	if p.url.Path != "/console/signin" {
		t.Fatalf("after sign-out: %s", p.url)
	}
	if p := b.get("/console/users"); p.url.Path != "/console/signin" {
		t.Fatalf("still signed in: %s", p.url)
	}
}

func TestConsoleDirectory(t *testing.T) {
	ts := start(t, "")
	ctx := sdkCtx(t)
	b, _ := signInConsole(t, ts, demo.AdminUPN, demo.AdminPass)

	t.Run("users", func(t *testing.T) {
		p := b.post("/console/users", "/console/users", map[string]string{"user": "Carol Smith", "display_name": "", "password": "short", "confirm": "short"})
		wantStatus(t, p, http.StatusUnprocessableEntity)
		for _, f := range []string{"user", "display_name", "password"} {
			if p.fieldError(t, f) == "" {
				t.Errorf("no error next to %s", f)
			}
		}
		if !strings.Contains(p.body, `id="user" name="user" type="text" value="Carol Smith"`) || !strings.Contains(p.body, `aria-invalid="true"`) {
			t.Error("the submitted value or aria-invalid is missing")
		}
		p = b.post("/console/users", "/console/users", map[string]string{"user": "carol", "display_name": "Carol Smith", "password": "Carol-Passw0rd!", "confirm": "Carol-Passw0rd?"})
		if p.fieldError(t, "confirm") == "" {
			t.Fatal("mismatched confirmation accepted")
		}
		p = b.post("/console/users", "/console/users", map[string]string{"user": "carol", "display_name": "Carol Smith", "password": "Carol-Passw0rd!", "confirm": "Carol-Passw0rd!"})
		wantStatus(t, p, http.StatusOK, "carol@contoso.onmicrosoft.com created")
		p = b.post("/console/users", "/console/users", map[string]string{"user": "carol", "display_name": "Carol", "password": "Carol-Passw0rd!", "confirm": "Carol-Passw0rd!"})
		if !strings.Contains(p.fieldError(t, "user"), "already exists") {
			t.Fatalf("duplicate: %q", p.fieldError(t, "user"))
		}
		// The new user can sign in (OIDC at the identity service); disabled, not.
		u, err := ts.Store.UserByUPN(ctx, "carol@contoso.onmicrosoft.com")
		if err != nil || u.Admin {
			t.Fatalf("user %+v: %v", u, err)
		}
		p = b.post("/console/users", "/console/users/"+u.ObjectID+"/state", nil)
		wantStatus(t, p, http.StatusOK, "disabled")
		_, cp := signInConsole(t, ts, "carol@contoso.onmicrosoft.com", "Carol-Passw0rd!")
		wantStatus(t, cp, http.StatusOK, "disabled")
	})

	var appID, secret string
	t.Run("app registration, secret, certificates", func(t *testing.T) {
		p := b.post("/console/apps", "/console/apps", map[string]string{"name": "", "redirect_uris": "http://example.com/cb"})
		wantStatus(t, p, http.StatusUnprocessableEntity)
		if p.fieldError(t, "name") == "" || !strings.Contains(p.fieldError(t, "redirect_uris"), "https") {
			t.Fatalf("errors: name %q, redirect %q", p.fieldError(t, "name"), p.fieldError(t, "redirect_uris"))
		}
		p = b.post("/console/apps", "/console/apps", map[string]string{"name": "Console Sync", "redirect_uris": "https://sync.example.com/cb\nhttp://localhost:5000/cb"})
		wantStatus(t, p, http.StatusOK, "Console Sync registered")
		appID = p.text(t, "app-id")
		if !conGUIDRE.MatchString(appID) || !strings.HasPrefix(p.url.Path, "/console/apps/"+appID) {
			t.Fatalf("app id %q at %s", appID, p.url.Path)
		}
		// A secret, shown once.
		p = b.post("/console/apps/"+appID, "/secrets", map[string]string{"description": "ci", "expires": "90d"})
		wantStatus(t, p, http.StatusOK, "shown only once")
		secret = p.text(t, "new-secret")
		if len(secret) < 32 {
			t.Fatalf("secret %q", secret)
		}
		if again := b.get("/console/apps/" + appID); strings.Contains(again.body, secret) || !strings.Contains(again.body, secret[:3]+"••") {
			t.Fatal("the secret is shown again, or its hint is missing")
		}
		if _, err := ts.sdkCred(t, demo.ContosoTenantID, appID, secret).GetToken(ctx, tokenOpts(ts)); err != nil {
			t.Fatalf("token with the new secret: %v", err)
		}
		// A generated certificate: its private key is shown once and works.
		p = b.post("/console/apps/"+appID, "/certificates", map[string]string{"mode": "generate", "days": "0"})
		if p.fieldError(t, "days") == "" {
			t.Fatal("0 days accepted")
		}
		p = b.post("/console/apps/"+appID, "/certificates", map[string]string{"mode": "generate", "days": "30", "subject": "console-test"})
		wantStatus(t, p, http.StatusOK, "shown only once")
		keyPEM, certPEM := p.text(t, "new-key"), p.text(t, "new-cert")
		certs, key, err := azidentity.ParseCertificates([]byte(certPEM+"\n"+keyPEM), nil)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := azidentity.NewClientCertificateCredential(demo.ContosoTenantID, appID, certs, key, &azidentity.ClientCertificateCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: ts.Info.AuthorityHost + "/"}, Transport: ts.client},
			DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cc.GetToken(ctx, tokenOpts(ts)); err != nil {
			t.Fatalf("token with the generated certificate: %v", err)
		}
		// Uploads: garbage and a private key are refused next to the field;
		// a certificate is registered.
		page := b.get("/console/apps/" + appID)
		f := page.form(t, "/certificates")
		p = b.submit(f, map[string]string{"mode": "upload"}, map[string]conFile{"certificate": {"x.pem", []byte(keyPEM)}})
		if !strings.Contains(p.fieldError(t, "certificate"), "private key") {
			t.Fatalf("private key upload: %q", p.fieldError(t, "certificate"))
		}
		c2, _, err := pki.SelfSigned("uploaded", 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p = b.submit(f, map[string]string{"mode": "upload", "description": "uploaded one"}, map[string]conFile{"certificate": {"c.cer", c2.Raw}})
		wantStatus(t, p, http.StatusOK, "Certificate added", "uploaded one")
		p = b.submit(f, map[string]string{"mode": "upload"}, map[string]conFile{"certificate": {"c.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c2.Raw})}})
		if !strings.Contains(p.fieldError(t, "certificate"), "already registered") {
			t.Fatalf("duplicate upload: %q", p.fieldError(t, "certificate"))
		}
		// A redirect URI is added; a bad one is refused.
		p = b.post("/console/apps/"+appID, "/redirects", map[string]string{"redirect_uri": "ftp://x"})
		if p.fieldError(t, "redirect_uri") == "" {
			t.Fatal("ftp redirect accepted")
		}
		p = b.post("/console/apps/"+appID, "/redirects", map[string]string{"redirect_uri": "https://sync.example.com/other"})
		wantStatus(t, p, http.StatusOK, "https://sync.example.com/other")
		// Another tenant's app is not found.
		if p := b.get("/console/apps/" + demo.PortalAppID); p.status != http.StatusNotFound {
			t.Fatalf("fabrikam's app: %d", p.status)
		}
		// Deleting the secret stops it working.
		var secretID string
		for _, f := range b.get("/console/apps/" + appID).forms(t) {
			if m := regexp.MustCompile(`/secrets/([0-9a-f-]{36})/delete$`).FindStringSubmatch(f.action); m != nil {
				secretID = m[1]
			}
		}
		p = b.post("/console/apps/"+appID, "/secrets/"+secretID+"/delete", nil)
		wantStatus(t, p, http.StatusOK, "Secret removed")
		time.Sleep(1100 * time.Millisecond)
		if _, err := ts.sdkCred(t, demo.ContosoTenantID, appID, secret).GetToken(ctx, tokenOpts(ts)); err == nil {
			t.Fatal("a deleted secret still works")
		}
	})

	t.Run("consents", func(t *testing.T) {
		p := b.get("/console/consents")
		wantStatus(t, p, http.StatusOK, "Fabrikam Portal", "fabrikam.onmicrosoft.com", "Console Sync")
		p = b.post("/console/consents", "/console/consents", map[string]string{"app_id": "not-a-guid"})
		if !strings.Contains(p.fieldError(t, "app_id"), "GUID") {
			t.Fatalf("%q", p.fieldError(t, "app_id"))
		}
		p = b.post("/console/consents", "/console/consents", map[string]string{"app_id": "11111111-2222-3333-4444-555555555555"})
		if !strings.Contains(p.fieldError(t, "app_id"), "AADSTS700016") {
			t.Fatalf("%q", p.fieldError(t, "app_id"))
		}
		// Disabling the portal's service principal stops its tokens.
		p = b.post("/console/consents", "/console/consents/"+demo.PortalAppID+"/state", nil)
		wantStatus(t, p, http.StatusOK, "Application disabled")
		time.Sleep(1100 * time.Millisecond)
		if _, err := ts.sdkCred(t, demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret).GetToken(ctx, tokenOpts(ts)); err == nil {
			t.Fatal("a disabled app got a token")
		}
		p = b.post("/console/consents", "/console/consents/"+demo.PortalAppID+"/state", nil)
		wantStatus(t, p, http.StatusOK, "Application enabled")
	})

	t.Run("new tenant with its own administrator", func(t *testing.T) {
		p := b.post("/console/tenant", "/console/tenants", map[string]string{"name": "North Wind", "admin_user": "", "password": "x", "confirm": "y"})
		wantStatus(t, p, http.StatusUnprocessableEntity)
		for _, f := range []string{"name", "admin_user", "password"} {
			if p.fieldError(t, f) == "" {
				t.Errorf("no error next to %s", f)
			}
		}
		p = b.post("/console/tenant", "/console/tenants", map[string]string{"name": "northwind", "admin_user": "admin", "admin_name": "Northwind Admin",
			"password": "Northwind-Adm1n", "confirm": "Northwind-Adm1n"})
		wantStatus(t, p, http.StatusOK, "Tenant northwind")
		nb, np := signInConsole(t, ts, "admin@northwind.onmicrosoft.com", "Northwind-Adm1n")
		wantStatus(t, np, http.StatusOK, "northwind")
		if strings.Contains(np.body, "contoso") {
			t.Error("the northwind administrator sees contoso")
		}
		if p := nb.get("/console/environments/contoso/appusers"); p.status != http.StatusNotFound {
			t.Errorf("contoso's environment from northwind: %d", p.status)
		}
		if p := nb.get("/console/apps/" + appID); p.status != http.StatusNotFound {
			t.Errorf("contoso's app from northwind: %d", p.status)
		}
	})
}

func tokenOpts(ts *testStack) policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{ts.Stack.Info.Environments[0].URL + "/.default"}}
}

func TestConsoleEnvironment(t *testing.T) {
	ts := start(t, "", func(c *stack.Config) {
		c.EnvLimits = map[string]throttle.Limits{"contoso": {Requests: 40, Window: 30 * time.Second}}
	})
	ctx := sdkCtx(t)
	b, _ := signInConsole(t, ts, demo.AdminUPN, demo.AdminPass)
	env := "/console/environments/contoso"

	// An app registered and given a secret through the console.
	p := b.post("/console/apps", "/console/apps", map[string]string{"name": "Reporting Job"})
	appID := p.text(t, "app-id")
	p = b.post("/console/apps/"+appID, "/secrets", map[string]string{"description": "job", "expires": "1y"})
	sdk := ts.sdkClientFor(t, ts.envURL(t), ts.sdkCred(t, demo.ContosoTenantID, appID, p.text(t, "new-secret")), &dataverse.Options{MaxRetries: -1})

	// No application user yet: 0x80072560.
	if _, err := sdk.WhoAmI(ctx); !dataverse.IsNotMemberOfOrganization(err) {
		t.Fatalf("before the application user: %v", err)
	}

	// Creating it: field errors first.
	p = b.post(env+"/appusers", "/appusers", map[string]string{"app_id": "nope"})
	if !strings.Contains(p.fieldError(t, "app_id"), "GUID") {
		t.Fatalf("%q", p.fieldError(t, "app_id"))
	}
	p = b.post(env+"/appusers", "/appusers", map[string]string{"app_id": demo.PortalAppID})
	if !strings.Contains(p.fieldError(t, "app_id"), "already has an application user") {
		t.Fatalf("%q %d %s", p.fieldError(t, "app_id"), p.status, shortBody(p.body))
	}
	p = b.post(env+"/appusers", "/appusers", map[string]string{"app_id": appID})
	wantStatus(t, p, http.StatusOK, "Reporting Job created", "0x80042f09")
	time.Sleep(2100 * time.Millisecond) // the Web API caches principals (and their errors) for 2 s
	if _, err := sdk.WhoAmI(ctx); !dataverse.IsNoRoles(err) {
		t.Fatalf("without a role: %v", err)
	}

	// A custom role, edited in the grid.
	p = b.post(env+"/roles", "/roles", map[string]string{"name": ""})
	if p.fieldError(t, "name") == "" {
		t.Fatal("empty role name accepted")
	}
	p = b.post(env+"/roles", "/roles", map[string]string{"name": "Reporting"})
	wantStatus(t, p, http.StatusOK, "Role Reporting created")
	rolePath := p.url.Path
	roleID := rolePath[strings.LastIndex(rolePath, "/")+1:]
	// A depth a privilege cannot have is refused next to it, nothing saved.
	p = b.post(rolePath, rolePath, map[string]string{"p.prvReadOrganization": "Basic", "p.prvReadAccount": "Global"})
	wantStatus(t, p, http.StatusUnprocessableEntity, "cannot have")
	if !regexp.MustCompile(`name="p.prvReadOrganization" id="p.prvReadOrganization" aria-label="Read Organization" class="d-None" aria-invalid="true"`).MatchString(p.body) {
		i := strings.Index(p.body, `name="p.prvReadOrganization"`)
		t.Errorf("the bad cell is not marked:\n%s", p.body[i:i+300])
	}
	p = b.post(rolePath, rolePath, map[string]string{"p.prvReadAccount": "Global", "p.prvReadContact": "Global", "p.prvCreateAccount": "Basic"})
	wantStatus(t, p, http.StatusOK, "3 privilege(s) of Reporting changed")
	if !strings.Contains(p.body, `<option value="Global" selected>Organization (Global)</option>`) {
		t.Error("the saved depth is not selected")
	}

	// Assigned to the application user from its page.
	var userPath string
	for _, m := range regexp.MustCompile(`href="(/console/environments/contoso/users/[0-9a-f-]{36})">Reporting Job<`).FindAllStringSubmatch(b.get(env+"/appusers").body, -1) {
		userPath = m[1]
	}
	if userPath == "" {
		t.Fatal("no link to the application user")
	}
	p = b.post(userPath, "/roles", map[string]string{"role": roleID})
	wantStatus(t, p, http.StatusOK, "Role Reporting assigned")
	time.Sleep(2100 * time.Millisecond) // the Web API caches principals for 2 s
	rows, err := dataverse.Collect(sdk.Query(ctx, "accounts", dataverse.NewQuery().Select("name")))
	if err != nil || len(rows) == 0 {
		t.Fatalf("accounts with the role: %d, %v", len(rows), err)
	}
	// Read on accounts revoked in the grid: the app loses it.
	p = b.post(rolePath, rolePath, map[string]string{"p.prvReadAccount": "None"})
	wantStatus(t, p, http.StatusOK, "1 privilege(s) of Reporting changed")
	time.Sleep(2100 * time.Millisecond)
	if _, err := dataverse.Collect(sdk.Query(ctx, "accounts", dataverse.NewQuery().Select("name"))); !dataverse.IsPrivilegeDenied(err) {
		t.Fatalf("after revoking prvReadAccount: %v", err)
	}
	if _, err := dataverse.Collect(sdk.Query(ctx, "contacts", dataverse.NewQuery().Select("fullname"))); err != nil {
		t.Fatalf("contacts: %v", err)
	}

	// The audit log has the console's changes, filtered.
	p = b.get(env + "/audit?table=role&record=" + roleID)
	wantStatus(t, p, http.StatusOK, "Privileges of role Reporting changed (console): prvReadAccount", "console")
	if !strings.Contains(p.body, "&#34;old&#34;: &#34;Global&#34;") && !strings.Contains(p.body, `&#34;old&#34;: &#34;Global&#34;`) {
		t.Errorf("the change data is missing:\n%s", shortBody(p.body))
	}
	p = b.get(env + "/audit?action=57")
	wantStatus(t, p, http.StatusOK, "Role Reporting assigned (console)", "Contoso Admin")
	p = b.get(env + "/audit?from=2020-13-01&record=xyz")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.fieldError(t, "from") == "" || p.fieldError(t, "record") == "" {
		t.Fatal("bad filters are not marked")
	}

	// Disabling the application user: 0x80040225.
	p = b.post(userPath, "/state", nil)
	wantStatus(t, p, http.StatusOK, "disabled")
	time.Sleep(2100 * time.Millisecond)
	if _, err := sdk.WhoAmI(ctx); !dataverse.IsUserDisabled(err) {
		t.Fatalf("disabled: %v", err)
	}
	b.post(userPath, "/state", nil)

	// Business units and teams.
	p = b.post(env+"/businessunits", "/businessunits", map[string]string{"name": "Contoso East"})
	wantStatus(t, p, http.StatusOK, "Contoso East created", "Contoso West")
	p = b.post(env+"/businessunits", "/businessunits", map[string]string{"name": "contoso east"})
	if !strings.Contains(p.fieldError(t, "name"), "already exists") {
		t.Fatalf("%q", p.fieldError(t, "name"))
	}
	p = b.post(env+"/teams", "/teams", map[string]string{"name": "Reporting team", "type": "0"})
	wantStatus(t, p, http.StatusOK, "Team Reporting team created")
	teamPath := p.url.Path
	p = b.post(teamPath, "/members", map[string]string{"user": userPath[strings.LastIndex(userPath, "/")+1:]})
	wantStatus(t, p, http.StatusOK, "Reporting Job added")
	p = b.post(teamPath, "/roles", map[string]string{"role": roleID})
	wantStatus(t, p, http.StatusOK, "Reporting added")
	p = b.get(userPath)
	wantStatus(t, p, http.StatusOK, "Reporting (team Reporting team)")

	// Throttling: traffic per user, and the 429s of a small limit.
	hammer := ts.sdkClientFor(t, ts.envURL(t), ts.sdkCred(t, demo.ContosoTenantID, demo.InventoryAppID, demo.InventorySecret), &dataverse.Options{MaxRetries: -1})
	throttled := 0
	for range 50 {
		if _, err := hammer.WhoAmI(ctx); dataverse.IsThrottled(err) {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("no 429 with a limit of 40 requests")
	}
	p = b.get("/console/throttling?env=contoso")
	wantStatus(t, p, http.StatusOK, "40 requests", "Contoso Inventory Sync", "Reporting Job")
	if !strings.Contains(p.body, fmt.Sprintf("%d throttled", throttled)) {
		t.Errorf("the dashboard does not show %d throttled requests:\n%s", throttled, shortBody(p.body[strings.Index(p.body, "<main"):]))
	}
	if !strings.Contains(p.body, `class="thr"`) {
		t.Error("no 429 bar in the charts")
	}
}

// TestConsoleNewEnvironment creates an environment through the console of
// a new tenant and calls it at once, as a customer onboarding an app does.
func TestConsoleNewEnvironment(t *testing.T) {
	ts := start(t, "")
	ctx := sdkCtx(t)
	b, _ := signInConsole(t, ts, demo.AdminUPN, demo.AdminPass)
	b.post("/console/tenant", "/console/tenants", map[string]string{"name": "northwind", "admin_user": "admin", "password": "Northwind-Adm1n", "confirm": "Northwind-Adm1n"})
	nb, _ := signInConsole(t, ts, "admin@northwind.onmicrosoft.com", "Northwind-Adm1n")

	p := nb.post("/console/environments", "/console/environments", map[string]string{"name": "Bad Name"})
	if p.fieldError(t, "name") == "" {
		t.Fatal("bad name accepted")
	}
	p = nb.post("/console/environments", "/console/environments", map[string]string{"name": "contoso"})
	if !strings.Contains(p.fieldError(t, "name"), "already exists") {
		t.Fatalf("%q", p.fieldError(t, "name"))
	}
	p = nb.post("/console/environments", "/console/environments", map[string]string{"name": "northwind"})
	wantStatus(t, p, http.StatusOK, "Environment northwind created at https://")
	var envURL string
	for _, e := range ts.Info.Environments {
		if e.Name == "northwind" {
			envURL = e.URL
		}
	}
	if envURL == "" {
		t.Fatalf("stack.json lacks the environment: %+v", ts.Info.Environments)
	}
	// The portal app: consent, application user, role — each step's error.
	nt, err := ts.Store.Tenant(ctx, "northwind.onmicrosoft.com")
	if err != nil {
		t.Fatal(err)
	}
	sdk := ts.sdkClientFor(t, envURL, ts.sdkCred(t, nt.ID, demo.PortalAppID, demo.PortalSecret), &dataverse.Options{MaxRetries: -1})
	if _, err := sdk.WhoAmI(ctx); dataverse.AsError(err) == nil || dataverse.AsError(err).Entra.AADSTS() != 700016 {
		t.Fatalf("before consent: %v", err)
	}
	p = nb.post("/console/environments/northwind/appusers", "/appusers", map[string]string{"app_id": demo.PortalAppID})
	if !strings.Contains(p.fieldError(t, "app_id"), "admin consent") {
		t.Fatalf("%q", p.fieldError(t, "app_id"))
	}
	p = nb.post("/console/consents", "/console/consents", map[string]string{"app_id": demo.PortalAppID})
	wantStatus(t, p, http.StatusOK, "Admin consent granted to Fabrikam Portal")
	time.Sleep(1100 * time.Millisecond)
	if _, err := sdk.WhoAmI(ctx); !dataverse.IsNotMemberOfOrganization(err) {
		t.Fatalf("before the application user: %v", err)
	}
	var admin string
	for _, o := range nb.get("/console/environments/northwind/appusers").forms(t) {
		for _, kv := range o.fields {
			if kv[0] == "business_unit" {
				admin = kv[1]
			}
		}
	}
	p = nb.post("/console/environments/northwind/appusers", "/appusers", map[string]string{"app_id": demo.PortalAppID, "business_unit": admin})
	wantStatus(t, p, http.StatusOK, "Fabrikam Portal created")
	time.Sleep(2100 * time.Millisecond)
	if _, err := sdk.WhoAmI(ctx); !dataverse.IsNoRoles(err) {
		t.Fatalf("without a role: %v", err)
	}
}

// TestCreateEnvironmentLive checks stack.CreateEnvironment (behind the
// console's "Create environment") in both routing modes: the new
// environment answers at once with its Bearer challenge, at the URL
// stack.json lists.
func TestCreateEnvironmentLive(t *testing.T) {
	for _, baseDomain := range []string{"", "dvs2s.test"} {
		t.Run("base domain "+baseDomain, func(t *testing.T) {
			ts := start(t, "", func(c *stack.Config) { c.BaseDomain = baseDomain })
			env, err := ts.CreateEnvironment(context.Background(), "live", demo.ContosoTenantID)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(env.URL)
			if baseDomain != "" && u.Hostname() != "live."+baseDomain || baseDomain == "" && u.Hostname() != "localhost" {
				t.Fatalf("URL %s", env.URL)
			}
			found := false
			for _, e := range ts.Info.Environments {
				found = found || e.Name == "live" && e.URL == env.URL
			}
			if !found {
				t.Fatalf("stack.json lacks it: %+v", ts.Info.Environments)
			}
			hc := ts.client
			if baseDomain != "" {
				tr := ts.client.Transport.(*http.Transport).Clone()
				tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
					_, p, _ := net.SplitHostPort(addr)
					return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", p))
				}
				hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
			}
			ch, err := dataverse.DiscoverTenant(context.Background(), env.URL, hc)
			if err != nil || ch.TenantID != demo.ContosoTenantID {
				t.Fatalf("challenge %+v, %v", ch, err)
			}
			if _, err := ts.CreateEnvironment(context.Background(), "live", demo.ContosoTenantID); err == nil {
				t.Fatal("a second environment named live")
			}
		})
	}
}
