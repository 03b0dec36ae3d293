package e2e

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/examples/portal/webapp"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/throttle"
)

// Tests of the sample portal (examples/portal) against the whole stack:
// the portal runs in-process on a loopback port as its own HTTP server,
// configured only with what a real deployment has (authority host, client
// id and secret, environment URLs, an HTTP client trusting the CA); a
// browser without script drives it over the identity service's sign-in
// and consent pages.

type testPortal struct {
	*webapp.App
	url string
}

// startPortal starts the portal as the demo's Fabrikam Portal app on a
// free port, registering its redirect URIs on the app.
func startPortal(t testing.TB, ts *testStack, mod ...func(*webapp.Config)) *testPortal {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ctx := context.Background()
	for _, p := range []string{"/auth/callback", "/onboarding/consent", "/auth/signedout"} {
		if err := ts.Directory.AddRedirectURI(ctx, demo.PortalAppID, base+p); err != nil {
			t.Fatal(err)
		}
	}
	conns := map[string]string{}
	for _, e := range ts.Info.Environments {
		conns[e.TenantID] = e.URL
	}
	c := webapp.Config{BaseURL: base, AuthorityHost: ts.Info.AuthorityHost, ClientID: demo.PortalAppID, ClientSecret: demo.PortalSecret,
		Connections: conns, HTTPClient: &http.Client{Transport: ts.client.Transport, Timeout: 60 * time.Second}, PageSize: 3,
		Logger: slog.New(slog.NewTextHandler(ts.logs, nil))}
	for _, m := range mod {
		m(&c)
	}
	app, err := webapp.New(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &testPortal{App: app, url: base}
}

// signInPortal signs a user in to the portal through the identity
// service's sign-in page.
func signInPortal(t testing.TB, ts *testStack, p *testPortal, upn, password string) (*conBrowser, *conPage) {
	t.Helper()
	b := newConBrowser(t, ts)
	b.base = p.url
	page := b.get("/auth/signin")
	if page.status != http.StatusOK || !strings.Contains(page.url.Path, "/oauth2/v2.0/authorize") {
		t.Fatalf("sign-in: %d at %s", page.status, page.url)
	}
	if q := page.url.Query(); q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization request without PKCE, nonce or state: %s", page.url.RawQuery)
	}
	var f conForm
	for _, x := range page.forms(t) {
		f = x
	}
	return b, b.submit(f, map[string]string{"login": upn, "passwd": password}, nil)
}

var portalCountRE = regexp.MustCompile(`id="count">(\d+) rows?`)

func portalCount(t testing.TB, p *conPage) int {
	t.Helper()
	m := portalCountRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("%s: no row count (status %d):\n%s", p.url, p.status, shortBody(p.body))
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestPortal(t *testing.T) {
	ts := start(t, "")
	p := startPortal(t, ts)

	// Anonymous: the home page; the data pages send to sign-in.
	anon := newConBrowser(t, ts)
	anon.base = p.url
	wantStatus(t, anon.get("/"), http.StatusOK, "Connect your organization")

	b, page := signInPortal(t, ts, p, demo.AliceUPN, demo.AlicePass)
	wantStatus(t, page, http.StatusOK, "Accounts", "Alice Anderson", "application user may see")
	if page.url.Path != "/accounts" {
		t.Fatalf("after sign-in: %s", page.url)
	}
	asApp := portalCount(t, page)
	if asApp != 8 {
		t.Fatalf("as the app: %d accounts, want the demo's 8", asApp)
	}

	t.Run("paging and search", func(t *testing.T) {
		seen := map[string]bool{}
		pg := page
		for i := 0; ; i++ {
			for _, m := range regexp.MustCompile(`href="/accounts/([0-9a-f-]{36})"`).FindAllStringSubmatch(pg.body, -1) {
				seen[m[1]] = true
			}
			next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(pg.body)
			if next == nil {
				break
			}
			if i > 5 {
				t.Fatal("too many pages")
			}
			pg = b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
			wantStatus(t, pg, http.StatusOK, "rel=\"prev\"")
		}
		if len(seen) != 8 {
			t.Fatalf("paged through %d accounts, want 8", len(seen))
		}
		pg = b.get("/accounts?q=coffee")
		if n := portalCount(t, pg); n != 1 || !strings.Contains(pg.body, "Fourth Coffee") {
			t.Fatalf("search: %d rows", n)
		}
		// A page never seen is not fetched from a crafted link.
		if pg := b.get("/accounts?page=7"); pg.url.Path != "/accounts" || pg.url.RawQuery != "" {
			t.Fatalf("unknown page: %s", pg.url)
		}
	})

	t.Run("act as me", func(t *testing.T) {
		pg := b.submit(page.form(t, "/mode"), map[string]string{"act_as_me": "on"}, nil)
		wantStatus(t, pg, http.StatusOK, "Acting as <strong>Alice Anderson</strong>", `aria-pressed="true" id="act-as-me"`)
		asAlice := portalCount(t, pg)
		if asAlice >= asApp || asAlice == 0 {
			t.Fatalf("acting as alice: %d accounts, the app %d", asAlice, asApp)
		}
		if strings.Contains(pg.body, "Bob&#39;s Bikes") || strings.Contains(pg.body, "Tailspin") {
			t.Fatal("alice sees bob's business unit's accounts")
		}
		// Bob, impersonated, sees his business unit's.
		bb, bp := signInPortal(t, ts, p, demo.BobUPN, demo.BobPass)
		bp = bb.submit(bp.form(t, "/mode"), map[string]string{"act_as_me": "on"}, nil)
		if n := portalCount(t, bp); n != 2 {
			t.Fatalf("acting as bob: %d accounts, want his 2", n)
		}
		pg = b.submit(pg.form(t, "/mode"), map[string]string{"act_as_me": ""}, nil)
		if portalCount(t, pg) != asApp {
			t.Fatal("back as the app: a different count")
		}
	})

	t.Run("create, view, edit, delete", func(t *testing.T) {
		pg := b.get("/accounts/new")
		pg = b.submit(pg.form(t, "/accounts"), map[string]string{"name": "", "revenue": "lots", "emailaddress1": "nope", "numberofemployees": "-3"}, nil)
		wantStatus(t, pg, http.StatusUnprocessableEntity)
		for _, f := range []string{"name", "revenue", "emailaddress1", "numberofemployees"} {
			if pg.fieldError(t, f) == "" {
				t.Errorf("no error next to %s", f)
			}
		}
		if !strings.Contains(pg.body, `value="lots"`) {
			t.Error("the submitted value is not shown again")
		}
		pg = b.submit(pg.form(t, "/accounts"), map[string]string{"name": "Portal Test Ltd", "revenue": "1250000", "emailaddress1": "info@portal.example", "numberofemployees": "42", "address1_city": "Oslo"}, nil)
		wantStatus(t, pg, http.StatusOK, "Account created", "Portal Test Ltd", "Oslo", "42")
		view := pg.url.Path
		edit := b.get(view + "/edit")
		stale := edit.form(t, view)
		pg = b.submit(stale, map[string]string{"address1_city": "Bergen"}, nil)
		wantStatus(t, pg, http.StatusOK, "Account saved", "Bergen")
		// The form opened before that change is refused (If-Match).
		pg = b.submit(stale, map[string]string{"address1_city": "Trondheim"}, nil)
		wantStatus(t, pg, http.StatusUnprocessableEntity, "Someone changed this account")
		// Search finds it; delete removes it.
		if n := portalCount(t, b.get("/accounts?q=Portal+Test")); n != 1 {
			t.Fatalf("search after create: %d", n)
		}
		pg = b.submit(b.get(view+"/delete").form(t, view+"/delete"), nil, nil)
		wantStatus(t, pg, http.StatusOK, "Account deleted")
		if n := portalCount(t, pg); n != asApp {
			t.Fatalf("after delete: %d accounts", n)
		}
		if pg := b.get(view); pg.status != http.StatusNotFound {
			t.Fatalf("deleted account: %d", pg.status)
		}
		// Contacts, with the company chosen from the accounts.
		pg = b.get("/contacts/new")
		f := pg.form(t, "/contacts")
		acc := regexp.MustCompile(`<option value="([0-9a-f-]{36})">Fourth Coffee</option>`).FindStringSubmatch(pg.body)
		if acc == nil {
			t.Fatalf("no Fourth Coffee in the company list:\n%s", shortBody(pg.body))
		}
		pg = b.submit(f, map[string]string{"lastname": ""}, nil)
		if pg.fieldError(t, "lastname") == "" {
			t.Fatal("a contact without a last name was accepted")
		}
		pg = b.submit(f, map[string]string{"firstname": "Rita", "lastname": "Portal", "parentcustomerid": acc[1], "jobtitle": "Buyer"}, nil)
		wantStatus(t, pg, http.StatusOK, "Contact created", "Rita Portal", "Fourth Coffee", "Buyer")
	})

	t.Run("CSRF", func(t *testing.T) {
		f := b.get("/accounts/new").form(t, "/accounts")
		f.fields = append(f.fields[:0:0], [2]string{"name", "Forged"})
		if pg := b.submit(f, nil, nil); pg.status != http.StatusForbidden {
			t.Fatalf("a form without the token: %d", pg.status)
		}
	})

	t.Run("sign out", func(t *testing.T) {
		pg := b.submit(b.get("/accounts").form(t, "/auth/signout"), nil, nil)
		wantStatus(t, pg, http.StatusOK, "You are signed out")
		if pg.url.Path != "/auth/signedout" {
			t.Fatalf("after sign-out: %s", pg.url)
		}
		if pg := b.get("/accounts"); !strings.Contains(pg.url.Path, "/authorize") || !strings.Contains(pg.body, "passwd") {
			t.Fatalf("still signed in at the portal or the identity service: %s", pg.url)
		}
	})
}

// TestPortalThrottling hits a small service protection limit through the
// portal: the user sees the wait, and the portal makes no request to
// Dataverse before it ends.
func TestPortalThrottling(t *testing.T) {
	ts := start(t, "", func(c *stack.Config) {
		c.EnvLimits = map[string]throttle.Limits{"contoso": {Requests: 12, Window: 10 * time.Second}}
	})
	p := startPortal(t, ts, func(c *webapp.Config) { c.MaxRetryAfter = 500 * time.Millisecond })
	b, page := signInPortal(t, ts, p, demo.AliceUPN, demo.AlicePass)
	wantStatus(t, page, http.StatusOK)
	var throttled *conPage
	for range 30 {
		pg := b.get("/accounts")
		if pg.status == http.StatusServiceUnavailable {
			throttled = pg
			break
		}
		wantStatus(t, pg, http.StatusOK)
	}
	if throttled == nil {
		t.Fatal("never throttled with a limit of 12 requests")
	}
	wantStatus(t, throttled, http.StatusServiceUnavailable, "Dataverse is limiting the requests of this app", "429 Too Many Requests")
	secs, _ := strconv.Atoi(throttled.text(t, "retry-after"))
	if secs < 1 || secs > 11 {
		t.Fatalf("retry after %d s", secs)
	}
	if r := throttled.header.Get("Refresh"); r != strconv.Itoa(secs+1) {
		t.Errorf("Refresh %q, want %d", r, secs+1)
	}
	// During the wait, pages answer at once without calling Dataverse.
	_, before := ts.Traffic.Series("contoso")
	calls := func() int {
		_, us := ts.Traffic.Series("contoso")
		n := 0
		for _, u := range us {
			n += u.TotalRequests
		}
		return n
	}
	n0 := 0
	for _, u := range before {
		n0 += u.TotalRequests
	}
	for range 3 {
		wantStatus(t, b.get("/contacts"), http.StatusServiceUnavailable, "makes no request to your environment")
	}
	if n := calls(); n != n0 {
		t.Fatalf("%d Web API requests during the wait", n-n0)
	}
	// After it, the portal works again.
	time.Sleep(time.Duration(secs+1) * time.Second)
	wantStatus(t, b.get("/accounts"), http.StatusOK, "Adventure Works")
}

// TestPortalOnboarding connects a second customer tenant: admin consent,
// the environment URL, and the check that says what is missing at each
// step while the customer's administrator fixes it in the console.
func TestPortalOnboarding(t *testing.T) {
	ts := start(t, "")
	ctx := sdkCtx(t)
	p := startPortal(t, ts)

	// Northwind: a tenant with its administrator and an environment, made
	// in the console.
	cb, _ := signInConsole(t, ts, demo.AdminUPN, demo.AdminPass)
	for _, name := range []string{"northwind", "tailspin"} {
		cb.post("/console/tenant", "/console/tenants", map[string]string{"name": name, "admin_user": "admin", "password": "Tenant-Adm1n-" + name, "confirm": "Tenant-Adm1n-" + name})
	}
	nb, _ := signInConsole(t, ts, "admin@northwind.onmicrosoft.com", "Tenant-Adm1n-northwind")
	wantStatus(t, nb.post("/console/environments", "/console/environments", map[string]string{"name": "northwind"}), http.StatusOK, "Environment northwind created")
	tb, _ := signInConsole(t, ts, "admin@tailspin.onmicrosoft.com", "Tenant-Adm1n-tailspin")
	wantStatus(t, tb.post("/console/environments", "/console/environments", map[string]string{"name": "tailspin"}), http.StatusOK)
	urls := map[string]string{}
	for _, e := range ts.Info.Environments {
		urls[e.Name] = e.URL
	}
	nw, _ := ts.Store.Tenant(ctx, "northwind.onmicrosoft.com")
	tail, _ := ts.Store.Tenant(ctx, "tailspin.onmicrosoft.com")

	// Onboarding, in a fresh browser: consent as northwind's administrator.
	b := newConBrowser(t, ts)
	b.base = p.url
	pg := b.get("/onboarding")
	wantStatus(t, pg, http.StatusOK, "Connect your organization", demo.PortalAppID)
	pg = b.submit(pg.form(t, "/onboarding"), nil, nil)
	if !strings.Contains(pg.url.Path, "/adminconsent") {
		t.Fatalf("not sent to admin consent: %s", pg.url)
	}
	var f conForm
	for _, x := range pg.forms(t) {
		f = x
	}
	pg = b.submit(f, map[string]string{"login": "admin@northwind.onmicrosoft.com", "passwd": "Tenant-Adm1n-northwind"}, nil)
	if pg.status == http.StatusOK && strings.Contains(pg.body, "Accept") {
		pg = b.submit(pg.form(t, pg.url.Path), map[string]string{"dvs2s_form": "approve"}, nil)
	}
	wantStatus(t, pg, http.StatusOK, "Admin consent granted", nw.ID)
	if pg.url.Path != "/onboarding/environment" {
		t.Fatalf("after consent: %s", pg.url)
	}
	check := func(url string) *conPage {
		t.Helper()
		return b.submit(b.get("/onboarding/environment").form(t, "/onboarding/environment"), map[string]string{"environment_url": url}, nil)
	}
	// Field errors: not a URL, another tenant's environment.
	if pg := check("ftp://x"); !strings.Contains(pg.fieldError(t, "environment_url"), "https://") {
		t.Fatalf("ftp: %q", pg.fieldError(t, "environment_url"))
	}
	if pg := check(urls["contoso"]); !strings.Contains(pg.fieldError(t, "environment_url"), "another organization") {
		t.Fatalf("contoso's environment: %q", pg.fieldError(t, "environment_url"))
	}
	// No application user.
	pg = check(urls["northwind"])
	wantStatus(t, pg, http.StatusUnprocessableEntity, "No application user", "0x80072560", demo.PortalAppID)
	wantStatus(t, nb.post("/console/environments/northwind/appusers", "/appusers", map[string]string{"app_id": demo.PortalAppID}), http.StatusOK)
	time.Sleep(2100 * time.Millisecond) // the Web API caches principals for 2 s
	// No role.
	pg = check(urls["northwind"])
	wantStatus(t, pg, http.StatusUnprocessableEntity, "No security role", "0x80042f09")
	rp := nb.post("/console/environments/northwind/roles", "/roles", map[string]string{"name": "Fabrikam Portal"})
	rolePath := rp.url.Path
	nb.post(rolePath, rolePath, map[string]string{"p.prvReadAccount": "Global", "p.prvCreateAccount": "Global", "p.prvWriteAccount": "Global"})
	var userPath string
	for _, m := range regexp.MustCompile(`href="(/console/environments/northwind/users/[0-9a-f-]{36})">Fabrikam Portal<`).FindAllStringSubmatch(nb.get("/console/environments/northwind/appusers").body, -1) {
		userPath = m[1]
	}
	wantStatus(t, nb.post(userPath, "/roles", map[string]string{"role": rolePath[strings.LastIndex(rolePath, "/")+1:]}), http.StatusOK)
	time.Sleep(2100 * time.Millisecond)
	// A missing privilege.
	pg = check(urls["northwind"])
	wantStatus(t, pg, http.StatusUnprocessableEntity, "Missing privilege", "prvReadContact", "0x80040220")
	nb.post(rolePath, rolePath, map[string]string{"p.prvReadContact": "Global", "p.prvCreateContact": "Global"})
	time.Sleep(2100 * time.Millisecond)
	pg = check(urls["northwind"])
	wantStatus(t, pg, http.StatusOK, "Connected", "WhoAmI answered")
	if p.Connections()[nw.ID] != urls["northwind"] {
		t.Fatalf("connections %v", p.Connections())
	}
	// Northwind's users now use the portal with their own environment.
	ub, up := signInPortal(t, ts, p, "admin@northwind.onmicrosoft.com", "Tenant-Adm1n-northwind")
	if n := portalCount(t, up); n != 0 {
		t.Fatalf("northwind has %d accounts", n)
	}
	up = ub.submit(ub.get("/accounts/new").form(t, "/accounts"), map[string]string{"name": "Northwind Traders HQ"}, nil)
	wantStatus(t, up, http.StatusOK, "Account created", "Northwind Traders HQ")

	// No consent: a consent response forged for tailspin (whose
	// administrator never consented) is caught by the check.
	fb := newConBrowser(t, ts)
	fb.base = p.url
	pg = fb.get("/onboarding")
	req, _ := http.NewRequest(http.MethodPost, pg.form(t, "/onboarding").action, strings.NewReader("csrf_token="+pg.form(t, "/onboarding").fields[0][1]))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := fb.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := res.Location()
	pg = fb.get("/onboarding/consent?admin_consent=True&tenant=" + tail.ID + "&state=" + loc.Query().Get("state"))
	wantStatus(t, pg, http.StatusOK)
	pg = fb.submit(pg.form(t, "/onboarding/environment"), map[string]string{"environment_url": urls["tailspin"]}, nil)
	wantStatus(t, pg, http.StatusUnprocessableEntity, "No consent", "AADSTS700016")
	if _, ok := p.Connections()[tail.ID]; ok {
		t.Fatal("tailspin was connected without consent")
	}
	// And a consent response for another browser's onboarding is refused.
	pg = newConBrowserAt(t, ts, p.url).get("/onboarding/consent?admin_consent=True&tenant=" + tail.ID + "&state=" + loc.Query().Get("state"))
	wantStatus(t, pg, http.StatusBadRequest, "does not belong to an onboarding started in this browser")
}

func newConBrowserAt(t testing.TB, ts *testStack, base string) *conBrowser {
	b := newConBrowser(t, ts)
	b.base = base
	return b
}
