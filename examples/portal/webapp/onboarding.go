package webapp

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/dataverse"
)

// Multi-tenant onboarding, "Connect your organization": a customer's
// administrator grants admin consent (the app gets a service principal in
// their tenant), gives the URL of their Dataverse environment, and the
// portal checks it with WhoAmI and a read of each table it uses, saying
// precisely what is missing and how to fix it: consent, application user,
// security role, privilege.

type onboarding struct {
	id, csrf, state string
	tenant          string // set by the consent response
	expires         time.Time
}

const onboardingCookie = "portal-onboarding"

// onboardingFor returns the browser's onboarding, starting one if asked.
func (a *App) onboardingFor(w http.ResponseWriter, r *http.Request, create bool) *onboarding {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.onb == nil {
		a.onb = map[string]*onboarding{}
	}
	if c, err := r.Cookie(a.cookieName(onboardingCookie)); err == nil {
		if o := a.onb[c.Value]; o != nil && time.Now().Before(o.expires) {
			return o
		}
	}
	if !create {
		return nil
	}
	now := time.Now()
	for k, o := range a.onb {
		if now.After(o.expires) {
			delete(a.onb, k)
		}
	}
	if len(a.onb) > 10000 {
		a.onb = map[string]*onboarding{}
	}
	o := &onboarding{id: randomToken(), csrf: randomToken(), expires: now.Add(time.Hour)}
	a.onb[o.id] = o
	a.setCookie(w, onboardingCookie, o.id, 3600)
	return o
}

type onboardingData struct {
	CSRF       string
	Tenant     string
	ClientID   string
	EnvURL     string
	Checked    bool
	Connected  bool
	Diagnosis  diag
	WhoAmI     *dataverse.WhoAmIResponse
	ConsentURL string
}

func (a *App) onboardingStart(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	o := a.onboardingFor(w, r, true)
	a.render(w, r, a.session(r), http.StatusOK, "onboarding", &view{Title: "Connect your organization", Nav: "onboarding",
		Data: onboardingData{CSRF: o.csrf, ClientID: a.c.ClientID}})
}

// onboardingConsent sends the administrator to admin consent.
func (a *App) onboardingConsent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	o := a.onboardingFor(w, r, false)
	if err := r.ParseForm(); err != nil || o == nil || !a.sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf_token")), []byte(o.csrf)) != 1 {
		a.render(w, r, nil, http.StatusForbidden, "message", &view{Title: "Please start again", Nav: "onboarding",
			Problem: "This page expired. Open “Connect your organization” again."})
		return
	}
	a.mu.Lock()
	o.state = randomToken()
	a.mu.Unlock()
	q := url.Values{"client_id": {a.c.ClientID}, "redirect_uri": {a.c.BaseURL + "/onboarding/consent"}, "state": {o.state}}
	http.Redirect(w, r, a.c.AuthorityHost+"/organizations/adminconsent?"+q.Encode(), http.StatusSeeOther)
}

// onboardingCallback receives the admin consent response. It is not proof
// by itself (anyone can send a browser here with tenant=...): the portal
// trusts the tenant only once it gets tokens there and reads the
// environment, which must belong to that tenant.
func (a *App) onboardingCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	o := a.onboardingFor(w, r, false)
	if o == nil || o.state == "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(o.state)) != 1 {
		a.render(w, r, nil, http.StatusBadRequest, "message", &view{Title: "Please start again", Nav: "onboarding",
			Problem: "This consent response does not belong to an onboarding started in this browser. Open “Connect your organization” again."})
		return
	}
	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		if i := strings.IndexAny(desc, "\r\n"); i >= 0 {
			desc = desc[:i]
		}
		msg := "Consent was not granted (" + e + ": " + desc + ")."
		switch {
		case strings.Contains(desc, "AADSTS90094"):
			msg = "Only an administrator of your organization can connect it: sign in with an administrator account (" + desc + ")."
		case e == "access_denied" || e == "permission_denied":
			msg = "The administrator declined the consent, so Fabrikam Portal cannot reach your organization's data. (" + desc + ")"
		}
		a.render(w, r, a.session(r), http.StatusForbidden, "message", &view{Title: "Not connected", Nav: "onboarding", Problem: msg})
		return
	}
	tenant := strings.ToLower(q.Get("tenant"))
	if !guidRE.MatchString(tenant) || !strings.EqualFold(q.Get("admin_consent"), "true") {
		a.render(w, r, nil, http.StatusBadRequest, "message", &view{Title: "Unexpected answer", Nav: "onboarding",
			Problem: "The identity provider's consent response has no tenant id."})
		return
	}
	a.mu.Lock()
	o.tenant, o.state = tenant, ""
	a.mu.Unlock()
	http.Redirect(w, r, "/onboarding/environment", http.StatusSeeOther)
}

func (a *App) onboardingEnvironment(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	o := a.onboardingFor(w, r, false)
	if o == nil || o.tenant == "" {
		http.Redirect(w, r, "/onboarding", http.StatusSeeOther)
		return
	}
	d := onboardingData{CSRF: o.csrf, Tenant: o.tenant, ClientID: a.c.ClientID}
	d.EnvURL = a.Connections()[o.tenant]
	a.render(w, r, a.session(r), http.StatusOK, "onboarding_env", &view{Title: "Your Dataverse environment", Nav: "onboarding", Data: d,
		Flash: "Admin consent granted: Fabrikam Portal has a service principal in your tenant " + o.tenant + "."})
}

// onboardingCheck checks the environment and connects it when the app can
// work there.
func (a *App) onboardingCheck(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	o := a.onboardingFor(w, r, false)
	if err := r.ParseForm(); err != nil || o == nil || o.tenant == "" || !a.sameOrigin(r) ||
		subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf_token")), []byte(o.csrf)) != 1 {
		a.render(w, r, nil, http.StatusForbidden, "message", &view{Title: "Please start again", Nav: "onboarding",
			Problem: "This page expired. Open “Connect your organization” again."})
		return
	}
	d := onboardingData{CSRF: o.csrf, Tenant: o.tenant, ClientID: a.c.ClientID}
	raw := strings.TrimSpace(r.PostFormValue("environment_url"))
	v := &view{Title: "Your Dataverse environment", Nav: "onboarding", Form: r.PostForm}
	envURL, msg := checkEnvURL(raw)
	if msg != "" {
		v.Errors, v.Data = map[string]string{"environment_url": msg}, d
		a.render(w, r, a.session(r), http.StatusUnprocessableEntity, "onboarding_env", v)
		return
	}
	d.EnvURL = envURL
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	// The environment must belong to the tenant that consented: its 401
	// challenge names its tenant.
	ch, err := dataverse.DiscoverTenant(ctx, envURL, a.c.HTTPClient)
	if err != nil {
		v.Errors, v.Data = map[string]string{"environment_url": "No Dataverse environment answers at this address. Copy the environment URL from the Power Platform admin center (for example https://contoso.crm.dynamics.com)."}, d
		a.render(w, r, a.session(r), http.StatusUnprocessableEntity, "onboarding_env", v)
		return
	}
	if !strings.EqualFold(ch.TenantID, o.tenant) {
		v.Errors, v.Data = map[string]string{"environment_url": "This environment belongs to another organization (tenant " + ch.TenantID + "), not to yours (" + o.tenant + ")."}, d
		a.render(w, r, a.session(r), http.StatusUnprocessableEntity, "onboarding_env", v)
		return
	}
	d.Checked = true
	d.WhoAmI, d.Diagnosis = a.check(ctx, o.tenant, envURL)
	if d.Diagnosis.OK {
		if err := a.connect(o.tenant, envURL); err != nil {
			a.log.Error("portal: saving the connection failed", "err", err)
		}
		d.Connected = true
	}
	v.Data = d
	status := http.StatusOK
	if !d.Diagnosis.OK {
		status = http.StatusUnprocessableEntity
	}
	a.render(w, r, a.session(r), status, "onboarding_env", v)
}

func checkEnvURL(raw string) (string, string) {
	if raw == "" {
		return "", "Enter your environment's URL."
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", "Enter a URL such as https://contoso.crm.dynamics.com."
	case u.Scheme != "https":
		return "", "The environment URL must start with https://."
	case len(raw) > 300:
		return "", "This URL is too long."
	}
	return "https://" + u.Host, ""
}

// diag is what a check found: OK, or the missing piece and its fix.
type diag struct {
	OK            bool
	Step          string // consent, appuser, role, privilege, other
	Code          string
	Problem, Fix  string
	Missing       []string // missing privileges
	Impersonation bool     // the role also allows "act as me"
}

// check runs WhoAmI and reads each table the portal uses, with a fresh
// client (no cached token or penalty).
func (a *App) check(ctx context.Context, tenant, envURL string) (*dataverse.WhoAmIResponse, diag) {
	cred, err := a.credential(tenant)
	if err != nil {
		return nil, diag{Step: "other", Problem: err.Error()}
	}
	c, err := dataverse.NewClient(envURL, cred, &dataverse.Options{HTTPClient: a.c.HTTPClient, MaxRetries: 1, MaxRetryAfter: a.c.MaxRetryAfter})
	if err != nil {
		return nil, diag{Step: "other", Problem: err.Error()}
	}
	who, err := c.WhoAmI(ctx)
	if err != nil {
		return nil, diagnose(err)
	}
	var missing []string
	for _, set := range []string{"accounts", "contacts"} {
		_, err := dataverse.QueryPage[dataverse.Row](ctx, c, set+"?$top=1&$select="+map[string]string{"accounts": "name", "contacts": "fullname"}[set])
		if err == nil {
			continue
		}
		d := diagnose(err)
		if d.Step != "privilege" {
			return who, d
		}
		missing = append(missing, d.Missing...)
	}
	if len(missing) > 0 {
		return who, diag{Step: "privilege", Code: dataverse.CodePrivilegeDenied, Missing: missing,
			Problem: "The application user's security role lacks " + strings.Join(missing, " and ") + " (" + dataverse.CodePrivilegeDenied + ": missing privilege).",
			Fix:     "Add these privileges to the role of the application user (Read on Account and Contact at Organization level; Create, Write and Delete for editing), then check again."}
	}
	return who, diag{OK: true}
}

// diagnose explains an error of the S2S setup.
func diagnose(err error) diag {
	e := dataverse.AsError(err)
	switch {
	case e == nil:
		return diag{Step: "other", Problem: err.Error()}
	case e.Entra != nil && (e.Entra.AADSTS() == 700016 || e.Entra.AADSTS() == 65001):
		return diag{Step: "consent", Code: "AADSTS" + itoa(e.Entra.AADSTS()),
			Problem: "No consent: Fabrikam Portal has no service principal in your tenant (" + e.Entra.Summary() + ").",
			Fix:     "An administrator of your organization must grant admin consent: start again from “Connect your organization”."}
	case e.Entra != nil && e.Entra.AADSTS() == 7000112:
		return diag{Step: "consent", Code: "AADSTS7000112", Problem: "Fabrikam Portal is disabled in your tenant.",
			Fix: "Enable it again in your tenant's enterprise applications."}
	case e.Entra != nil:
		return diag{Step: "other", Code: "AADSTS" + itoa(e.Entra.AADSTS()), Problem: "The identity provider refused a token: " + e.Entra.Summary()}
	case dataverse.IsNotMemberOfOrganization(err):
		return diag{Step: "appuser", Code: dataverse.CodeUserNotMemberOfOrg,
			Problem: "No application user: the environment has no application user for Fabrikam Portal (" + dataverse.CodeUserNotMemberOfOrg + ", “The user is not a member of the organization”).",
			Fix:     "In the Power Platform admin center (with dvs2s: the admin console › Environments › your environment › Application users), create an application user from the application ID shown above."}
	case dataverse.IsNoRoles(err):
		return diag{Step: "role", Code: dataverse.CodeUserNotAssignedRoles,
			Problem: "No security role: Fabrikam Portal's application user has no security role (" + dataverse.CodeUserNotAssignedRoles + ").",
			Fix:     "Assign the application user a custom security role with Read, Create, Write and Delete on Account and Contact (and Act on Behalf of Another User for “act as me”)."}
	case dataverse.IsUserDisabled(err):
		return diag{Step: "appuser", Code: dataverse.CodeUserDisabled, Problem: "Fabrikam Portal's application user is disabled (" + dataverse.CodeUserDisabled + ").",
			Fix: "Enable the application user in the environment."}
	case dataverse.IsPrivilegeDenied(err):
		d := diag{Step: "privilege", Code: dataverse.CodePrivilegeDenied, Problem: "A privilege is missing (" + dataverse.CodePrivilegeDenied + ")."}
		if m := missingPrivRE.FindStringSubmatch(e.Message); m != nil {
			d.Missing = []string{m[1]}
			d.Problem = "The application user's security role lacks " + m[1] + " (" + dataverse.CodePrivilegeDenied + ")."
		}
		d.Fix = "Add the privilege to the application user's role."
		return d
	case dataverse.IsThrottled(err):
		return diag{Step: "other", Code: e.Code, Problem: "Dataverse is throttling the app right now (429); check again in " + e.RetryAfter.Round(time.Second).String() + "."}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return diag{Step: "other", Problem: "The environment did not answer in time."}
	}
	return diag{Step: "other", Code: e.Code, Problem: "Dataverse answered " + shortErr(err)}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
