package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/pki"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/throttle"
)

// TestBrowser drives the portal and the admin console in headless
// Chromium (Debian's package, driven with chromedp), as their users do:
// sign in to the portal and see accounts, act as oneself and see fewer,
// lose access when an administrator edits the app's role in the console
// and find that change in the audit log, create an app registration and
// an application user with a role, onboard a second tenant through
// consent and the environment check, and hit the service protection
// limit. It takes the README's screenshots: set DVS2S_SCREENSHOTS to a
// directory (docs/screenshots) to keep them.
//
// Chromium is found at $DVS2S_CHROMIUM, /usr/bin/chromium or on PATH;
// without it the test is skipped, except under CI (.ci/run installs it).
func TestBrowser(t *testing.T) {
	chromium := os.Getenv("DVS2S_CHROMIUM")
	for _, c := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if chromium != "" {
			break
		}
		if p, err := exec.LookPath(c); err == nil {
			chromium = p
		}
	}
	if chromium == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("Chromium is not installed (apt-get install chromium)")
		}
		t.Skip("Chromium is not installed (apt-get install chromium); set DVS2S_CHROMIUM to its path")
	}
	shots := os.Getenv("DVS2S_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	ts := start(t, "", func(c *stack.Config) {
		c.EnvLimits = map[string]throttle.Limits{"contoso": {Requests: 20, Window: 10 * time.Second}}
	})
	portal := startPortal(t, ts)
	cons := ts.Info.AuthorityHost + "/console"

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
		// The stack's TLS certificate comes from its own local CA: trust
		// its key (a certificate error would also make Chromium drop the
		// sign-in's Secure cookies).
		chromedp.Flag("ignore-certificate-errors-spki-list", serverSPKI(t, ts)),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 860))
	defer cancel()
	root, cancelRoot := chromedp.NewContext(alloc)
	defer cancelRoot()
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancelAll := context.WithTimeout(root, 4*time.Minute)
	defer cancelAll()
	// Each user in a browser context of their own (separate cookies).
	session := func() context.Context {
		c, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		// The first run makes the tab, which lives as long as the context
		// of that run: this one, not a shorter one of an action.
		if err := chromedp.Do(c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	run := func(c context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		tc, cancel := context.WithTimeout(c, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(tc, actions...); err != nil {
			loc, _ := chromedp.Run(c, chromedp.Location())
			body, _ := chromedp.Run(c, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, shortBody(body))
		}
	}
	shot := func(c context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(c context.Context, sel string) string {
		t.Helper()
		tc, cancel := context.WithTimeout(c, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(tc, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
			loc, _ := chromedp.Run(c, chromedp.Location())
			body, _ := chromedp.Run(c, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("no %s: %v\nat %s:\n%s", sel, err, loc, shortBody(body))
		}
		s, err := chromedp.Run(tc, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	count := func(c context.Context) int {
		t.Helper()
		m := regexp.MustCompile(`^(\d+)`).FindStringSubmatch(text(c, "#count"))
		if m == nil {
			t.Fatalf("no row count")
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	signIn := func(c context.Context, upn, password string) {
		t.Helper()
		run(c, "sign in as "+upn,
			chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SetValue(chromedp.CSS("#login"), upn),
			chromedp.SetValue(chromedp.CSS("#passwd"), password),
			chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	}
	click := func(c context.Context, what, sel string) {
		t.Helper()
		run(c, what, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
	}
	contains := func(c context.Context, sel, want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			tc, cancel := context.WithTimeout(c, 2*time.Second)
			got, err := chromedp.Run(tc, chromedp.Text(chromedp.CSS(sel)))
			cancel()
			if err == nil && strings.Contains(got, want) {
				return
			}
			if time.Now().After(deadline) {
				loc, _ := chromedp.Run(c, chromedp.Location())
				body, _ := chromedp.Run(c, chromedp.Text(chromedp.CSS("body")))
				t.Fatalf("%s at %s says %q (%v), want %q; the page:\n%s", sel, loc, got, err, want, shortBody(body))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	sel := func(q string) chromedp.CSS { return chromedp.CSS(q) }

	// --- The portal: sign in, accounts, act as me ---
	alice := session()
	run(alice, "portal home", chromedp.Navigate(portal.url+"/"))
	shot(alice, "portal-home")
	click(alice, "sign in", `a.button[href="/auth/signin"]`)
	signIn(alice, demo.AliceUPN, demo.AlicePass)
	contains(alice, "h1", "Accounts")
	asApp := count(alice)
	shot(alice, "portal-accounts")
	click(alice, "act as me", "#act-as-me")
	contains(alice, "#mode-banner", "Acting as Alice Anderson")
	if asAlice := count(alice); asAlice >= asApp {
		t.Fatalf("acting as alice: %d accounts, as the app %d", asAlice, asApp)
	}
	shot(alice, "portal-act-as-me")
	click(alice, "as the app", `button[name=act_as_me][value=""]`)
	contains(alice, "#mode-banner", "application user may see")

	// A phone-sized window.
	phone := session()
	run(phone, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(portal.url+"/auth/signin"))
	signIn(phone, demo.BobUPN, demo.BobPass)
	contains(phone, "h1", "Accounts")
	shot(phone, "portal-phone")

	// --- The console: an app registration, an application user with a role ---
	admin := session()
	run(admin, "console", chromedp.Navigate(cons+"/"))
	signIn(admin, demo.AdminUPN, demo.AdminPass)
	contains(admin, "h1", "contoso")
	shot(admin, "console-overview")
	run(admin, "apps", chromedp.Navigate(cons+"/apps"))
	run(admin, "register app",
		chromedp.SetValue(sel("#name"), "Contoso Reporting"),
		chromedp.Click(sel(`form[action="/console/apps"] button[type=submit]`)))
	appID := text(admin, "#app-id")
	run(admin, "add secret",
		chromedp.SetValue(sel("#description"), "nightly job"),
		chromedp.Click(sel(`form[action$="/secrets"] button[type=submit]`)))
	if s := text(admin, "#new-secret"); len(s) < 32 {
		t.Fatalf("secret %q", s)
	}
	shot(admin, "console-app-secret")
	run(admin, "application users", chromedp.Navigate(cons+"/environments/contoso/appusers"))
	run(admin, "create application user",
		chromedp.SetValue(sel("#app_id"), appID),
		chromedp.SetValue(sel("#role"), roleID(t, ts, "Contoso Sales")),
		chromedp.Click(sel(`form[action$="/appusers"] button[type=submit]`)))
	contains(admin, "#flash", "Application user Contoso Reporting created")
	contains(admin, "main table", "Contoso Sales")
	shot(admin, "console-appusers")

	// --- Edit the portal's role: the portal loses contacts ---
	portalRole := roleID(t, ts, demo.PortalRole)
	run(admin, "role", chromedp.Navigate(cons+"/environments/contoso/roles/"+portalRole))
	run(admin, "revoke prvReadContact",
		chromedp.SetValue(sel(`select[name="p.prvReadContact"]`), "None"),
		chromedp.Submit(sel("#grid-form")))
	contains(admin, "#flash", "1 privilege(s) of "+demo.PortalRole+" changed")
	run(admin, "scroll to contacts", chromedp.ScrollIntoView(sel(`select[name="p.prvReadContact"]`)))
	shot(admin, "console-role")
	time.Sleep(2100 * time.Millisecond) // the Web API caches principals for 2 s
	run(alice, "portal contacts", chromedp.Navigate(portal.url+"/contacts"))
	contains(alice, "#problem", "prvReadContact")
	shot(alice, "portal-missing-privilege")
	// The change is in the audit log.
	run(admin, "audit", chromedp.Navigate(cons+"/environments/contoso/audit?table=role"))
	contains(admin, "#audit", "Privileges of role "+demo.PortalRole+" changed (console): prvReadContact")
	shot(admin, "console-audit")
	run(admin, "role again", chromedp.Navigate(cons+"/environments/contoso/roles/"+portalRole),
		chromedp.SetValue(sel(`select[name="p.prvReadContact"]`), "Global"),
		chromedp.Submit(sel("#grid-form")))
	contains(admin, "#flash", "changed")
	time.Sleep(2100 * time.Millisecond)
	run(alice, "portal contacts again", chromedp.Navigate(portal.url+"/contacts"))
	contains(alice, "h1", "Contacts")

	// --- Onboard a second tenant ---
	run(admin, "tenant page", chromedp.Navigate(cons+"/tenant"))
	run(admin, "create tenant",
		chromedp.SetValue(sel("#name"), "northwind"),
		chromedp.SetValue(sel("#admin_user"), "admin"),
		chromedp.SetValue(sel("#admin_name"), "Northwind Admin"),
		chromedp.SetValue(sel("#password"), "Northwind-Adm1n"),
		chromedp.SetValue(sel("#confirm"), "Northwind-Adm1n"),
		chromedp.Click(sel(`form[action="/console/tenants"] button[type=submit]`)))
	contains(admin, "#flash", "Tenant northwind")
	nwAdmin := session()
	run(nwAdmin, "northwind console", chromedp.Navigate(cons+"/environments"))
	signIn(nwAdmin, "admin@northwind.onmicrosoft.com", "Northwind-Adm1n")
	run(nwAdmin, "create environment",
		chromedp.SetValue(sel("#name"), "northwind"),
		chromedp.Click(sel(`form[action="/console/environments"] button[type=submit]`)))
	contains(nwAdmin, "#flash", "Environment northwind created at")
	var nwURL string
	for _, e := range ts.Info.Environments {
		if e.Name == "northwind" {
			nwURL = e.URL
		}
	}
	onb := session()
	run(onb, "onboarding", chromedp.Navigate(portal.url+"/onboarding"))
	shot(onb, "portal-onboarding")
	click(onb, "consent", "#consent")
	signIn(onb, "admin@northwind.onmicrosoft.com", "Northwind-Adm1n")
	click(onb, "accept", `button[value=approve]`)
	contains(onb, "#flash", "Admin consent granted")
	run(onb, "environment URL", chromedp.SetValue(sel("#environment_url"), nwURL),
		chromedp.Click(sel(`form[action="/onboarding/environment"] button[type=submit]`)))
	contains(onb, "#diagnosis", "No application user")
	contains(onb, "#diagnosis", "0x80072560")
	shot(onb, "portal-onboarding-check")
	// The customer's administrator fixes it in the console.
	run(nwAdmin, "role", chromedp.Navigate(cons+"/environments/northwind/roles"),
		chromedp.SetValue(sel("#name"), "Fabrikam Portal access"),
		chromedp.Click(sel(`form[action$="/roles"] button[type=submit]`)))
	contains(nwAdmin, "#flash", "Role Fabrikam Portal access created")
	run(nwAdmin, "grant", chromedp.SetValue(sel(`select[name="p.prvReadAccount"]`), "Global"),
		chromedp.SetValue(sel(`select[name="p.prvReadContact"]`), "Global"),
		chromedp.Submit(sel("#grid-form")))
	contains(nwAdmin, "#flash", "2 privilege(s)")
	nwRole, err := chromedp.Run(nwAdmin, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	nwRole = nwRole[strings.LastIndex(nwRole, "/")+1:]
	run(nwAdmin, "application user", chromedp.Navigate(cons+"/environments/northwind/appusers"),
		chromedp.SetValue(sel("#app_id"), demo.PortalAppID),
		chromedp.SetValue(sel("#role"), nwRole),
		chromedp.Click(sel(`form[action$="/appusers"] button[type=submit]`)))
	contains(nwAdmin, "#flash", "Application user Fabrikam Portal created")
	time.Sleep(2100 * time.Millisecond)
	click(onb, "check again", `form[action="/onboarding/environment"] button[type=submit]`)
	contains(onb, "#diagnosis", "Connected")
	shot(onb, "portal-onboarding-connected")

	// --- Throttling: the portal shows the wait; the console, the 429s ---
	deadline := time.Now().Add(60 * time.Second)
	for {
		run(alice, "accounts", chromedp.Navigate(portal.url+"/accounts"), chromedp.WaitReady(sel("body")))
		ok, err := chromedp.Run(alice, chromedp.Evaluate[bool](`document.getElementById("throttled") !== null`))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the portal never showed the throttling message")
		}
	}
	contains(alice, "#throttled", "Dataverse is limiting the requests of this app")
	shot(alice, "portal-throttled")
	run(admin, "throttling", chromedp.Navigate(cons+"/throttling?env=contoso"))
	contains(admin, "#traffic-total", "throttled")
	shot(admin, "console-throttling")
	t.Logf("screenshots in %s", shots)
}

// serverSPKI is the base64 SHA-256 of the stack's TLS certificate's
// public key, for Chromium's --ignore-certificate-errors-spki-list.
func serverSPKI(t testing.TB, ts *testStack) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ts.dir, "server.pem"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificates(b)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(certs[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// roleID returns the id of a role of the demo environment by name.
func roleID(t testing.TB, ts *testStack, name string) string {
	t.Helper()
	env, err := ts.Envs.Open(context.Background(), demo.EnvironmentName)
	if err != nil {
		t.Fatal(err)
	}
	r, err := env.RoleByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r["roleid"].(string)
}
