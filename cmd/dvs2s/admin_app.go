package main

import (
	"crypto/x509"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/store"
)

func init() {
	registerNoun(adminNoun{name: "app", summary: "register apps (clients) and inspect them", verbs: []adminVerb{
		{name: "create", synopsis: "--tenant <id|domain|name> --name <display name> [--multi-tenant] [--redirect-uri <url>]... [--identifier-uri <uri>]... [--app-id <guid>]",
			summary: "register an app in its home tenant (with its service principal there)", run: appCreate},
		{name: "list", synopsis: "[--tenant <id|domain|name>]", summary: "list app registrations", run: appList},
		{name: "show", synopsis: "<client id>", summary: "show an app with its credentials and service principals", run: appShow},
		{name: "add-redirect-uri", synopsis: "--app <client id> --uri <url>...", summary: "add redirect URIs to an app", run: appAddRedirectURI},
	}})
}

// adminList is a repeatable string flag.
type adminList []string

func (l *adminList) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *adminList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// appJSON is an app registration in --json output; app show adds its
// credentials and service principals.
type appJSON struct {
	ClientID           string    `json:"client_id"`
	ObjectID           string    `json:"object_id"`
	DisplayName        string    `json:"display_name"`
	HomeTenantID       string    `json:"home_tenant_id"`
	HomeTenantDomain   string    `json:"home_tenant_domain"`
	MultiTenant        bool      `json:"multi_tenant"`
	SignInAudience     string    `json:"sign_in_audience"`
	RedirectURIs       []string  `json:"redirect_uris"`
	IdentifierURIs     []string  `json:"identifier_uris"`
	AccessTokenVersion int       `json:"access_token_version"`
	CreatedAt          time.Time `json:"created_at"`

	Secrets           *[]secretJSON `json:"secrets,omitempty"`
	Certificates      *[]certJSON   `json:"certificates,omitempty"`
	ServicePrincipals *[]spJSON     `json:"service_principals,omitempty"`
}

func toAppJSON(a store.App, domains map[string]string) appJSON {
	v := a.AccessTokenVersion
	if v == 0 {
		v = 1
	}
	return appJSON{ClientID: a.AppID, ObjectID: a.ObjectID, DisplayName: a.DisplayName, HomeTenantID: a.HomeTenantID,
		HomeTenantDomain: domains[a.HomeTenantID], MultiTenant: a.MultiTenant(), SignInAudience: a.SignInAudience,
		RedirectURIs: nonNil(a.RedirectURIs), IdentifierURIs: nonNil(a.IdentifierURIs), AccessTokenVersion: v, CreatedAt: a.CreatedAt}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func audience(multi bool) string {
	if multi {
		return "multi-tenant"
	}
	return "single-tenant"
}

func appCreate(c *adminCall, args []string) error {
	fs := c.flags()
	tenant := fs.String("tenant", "", "home tenant: id, domain or name (required)")
	name := fs.String("name", "", "display name (required)")
	multi := fs.Bool("multi-tenant", false, "let other tenants consent to the app (signInAudience AzureADMultipleOrgs)")
	var redirects, idURIs adminList
	fs.Var(&redirects, "redirect-uri", "redirect URI for sign-in: https, or http on localhost (repeatable)")
	fs.Var(&idURIs, "identifier-uri", "application ID URI when the app is itself an API, e.g. api://<name> (repeatable)")
	clientID := fs.String("app-id", "", "application (client) id to use, a GUID (default: a new random one); not --client-id, which the client commands read from DVS2S_CLIENT_ID")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	if err := c.required("tenant", "name"); err != nil {
		return err
	}
	if err := c.checkGUID("app-id", *clientID, "application id"); err != nil {
		return err
	}
	d, closeDB, err := c.open(false, false)
	if err != nil {
		return err
	}
	defer closeDB()
	t, err := c.tenant(d, *tenant)
	if err != nil {
		return err
	}
	if *clientID != "" {
		if a, err := d.Store.App(c.ctx, *clientID); err == nil {
			return adminErr(store.ErrConflict, "an app with client id %s already exists (%q): choose another --app-id or leave it out", a.AppID, a.DisplayName)
		}
	}
	a, err := d.CreateApp(c.ctx, directory.AppSpec{Tenant: t.ID, DisplayName: *name, MultiTenant: *multi,
		RedirectURIs: redirects, IdentifierURIs: idURIs, AppID: *clientID})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(toAppJSON(a, map[string]string{t.ID: t.Domain}))
	}
	fmt.Fprintf(c.stdout, "Registered app %q in %s\n  client id: %s\n  audience:  %s\n\n", a.DisplayName, t.Domain, a.AppID, audience(a.MultiTenant()))
	fmt.Fprintf(c.stdout, "Next: give it a credential with 'dvs2s secret add --app %s' or 'dvs2s cert add --app %s --generate --out <prefix>'.\n", a.AppID, a.AppID)
	return nil
}

func appList(c *adminCall, args []string) error {
	l, err := c.openListed(args, "list only apps registered in this tenant: id, domain or name (default: all)")
	if err != nil {
		return err
	}
	defer l.close()
	apps, err := l.d.Store.ListApps(c.ctx, l.tenant)
	if err != nil {
		return err
	}
	out := make([]appJSON, 0, len(apps))
	for _, a := range apps {
		out = append(out, toAppJSON(a, l.domains))
	}
	if c.json {
		return c.printJSON(out)
	}
	var rows [][]string
	for _, a := range out {
		rows = append(rows, []string{a.DisplayName, a.ClientID, a.HomeTenantDomain, audience(a.MultiTenant), adminTime(a.CreatedAt)})
	}
	return c.table("No apps.", []string{"NAME", "CLIENT ID", "HOME TENANT", "AUDIENCE", "CREATED"}, rows)
}

// appClientID takes the client id from --app or the single positional
// argument, checking that it is a GUID.
func (c *adminCall) appClientID(flagValue string, pos []string) (string, error) {
	id := flagValue
	if len(pos) > 0 {
		if id != "" && !strings.EqualFold(id, pos[0]) {
			return "", c.usage("give the client id once, as an argument or with --app")
		}
		id = pos[0]
	}
	if id == "" {
		return "", c.usage("the app's client id is required: give it as the argument or with --app")
	}
	if !directory.IsGUID(id) {
		what := "--app " + strconv.Quote(id)
		if len(pos) > 0 {
			what = strconv.Quote(id)
		}
		return "", c.usage("%s is not a client id (a GUID; 'dvs2s app list' shows them)", what)
	}
	return strings.ToLower(id), nil
}

func appShow(c *adminCall, args []string) error {
	fs := c.flags()
	appFlag := fs.String("app", "", "the app's client id (or give it as the argument)")
	pos, err := c.parse(args, 1)
	if err != nil {
		return err
	}
	id, err := c.appClientID(*appFlag, pos)
	if err != nil {
		return err
	}
	d, closeDB, err := c.open(false, false)
	if err != nil {
		return err
	}
	defer closeDB()
	a, err := c.app(d, id)
	if err != nil {
		return err
	}
	domains, err := c.tenantDomains(d)
	if err != nil {
		return err
	}
	pws, err := d.Store.Passwords(c.ctx, a.AppID)
	if err != nil {
		return err
	}
	keys, err := d.Store.Keys(c.ctx, a.AppID)
	if err != nil {
		return err
	}
	sps, err := d.Store.ListServicePrincipals(c.ctx, "")
	if err != nil {
		return err
	}
	j := toAppJSON(a, domains)
	secrets, certs, principals := []secretJSON{}, []certJSON{}, []spJSON{}
	for _, p := range pws {
		secrets = append(secrets, toSecretJSON(p))
	}
	for _, k := range keys {
		cert, _ := x509.ParseCertificate(k.CertDER)
		certs = append(certs, toCertJSON(k, cert))
	}
	for _, sp := range sps {
		if sp.AppID == a.AppID {
			principals = append(principals, toSPJSON(sp, domains, a.DisplayName))
		}
	}
	j.Secrets, j.Certificates, j.ServicePrincipals = &secrets, &certs, &principals
	if c.json {
		return c.printJSON(j)
	}
	printApp(c.stdout, j, time.Now())
	return nil
}

// printApp writes app show's human-readable form.
func printApp(w io.Writer, j appJSON, now time.Time) {
	list := func(l []string) string {
		if len(l) == 0 {
			return "-"
		}
		return strings.Join(l, "\n\t")
	}
	tw := newAdminTabWriter(w)
	fmt.Fprintf(tw, "Name:\t%s\n", j.DisplayName)
	fmt.Fprintf(tw, "Client id:\t%s\n", j.ClientID)
	fmt.Fprintf(tw, "Object id:\t%s\n", j.ObjectID)
	fmt.Fprintf(tw, "Home tenant:\t%s (%s)\n", j.HomeTenantDomain, j.HomeTenantID)
	fmt.Fprintf(tw, "Audience:\t%s (%s)\n", audience(j.MultiTenant), j.SignInAudience)
	fmt.Fprintf(tw, "Redirect URIs:\t%s\n", list(j.RedirectURIs))
	fmt.Fprintf(tw, "Identifier URIs:\t%s\n", list(j.IdentifierURIs))
	fmt.Fprintf(tw, "Created:\t%s\n", adminTime(j.CreatedAt))
	tw.Flush()

	fmt.Fprintln(w, "\nClient secrets:")
	if len(*j.Secrets) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		var rows [][]string
		for _, s := range *j.Secrets {
			rows = append(rows, []string{s.DisplayName, s.KeyID, s.Hint + "…", adminTime(s.StartsAt), adminTime(s.ExpiresAt), credStatus(s.StartsAt, s.ExpiresAt, now)})
		}
		adminTable(w, "  ", []string{"NAME", "KEY ID", "HINT", "STARTS", "EXPIRES", "STATUS"}, rows)
	}
	fmt.Fprintln(w, "\nCertificates:")
	if len(*j.Certificates) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		var rows [][]string
		for _, k := range *j.Certificates {
			rows = append(rows, []string{k.DisplayName, k.KeyID, k.Thumbprint, adminTime(k.StartsAt), adminTime(k.ExpiresAt), credStatus(k.StartsAt, k.ExpiresAt, now)})
		}
		adminTable(w, "  ", []string{"NAME", "KEY ID", "THUMBPRINT (SHA-1)", "STARTS", "EXPIRES", "STATUS"}, rows)
	}
	fmt.Fprintln(w, "\nService principals:")
	if len(*j.ServicePrincipals) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		var rows [][]string
		for _, sp := range *j.ServicePrincipals {
			rows = append(rows, []string{sp.TenantDomain, sp.TenantID, sp.ObjectID, yesNo(sp.Enabled), adminTime(sp.CreatedAt)})
		}
		adminTable(w, "  ", []string{"TENANT", "TENANT ID", "OBJECT ID", "ENABLED", "CREATED"}, rows)
	}
}

// credStatus says whether a credential is usable at now.
func credStatus(start, end, now time.Time) string {
	switch {
	case now.Before(start):
		return "not yet valid"
	case !now.Before(end):
		return "expired"
	}
	return "valid"
}

func appAddRedirectURI(c *adminCall, args []string) error {
	fs := c.flags()
	appFlag := fs.String("app", "", "the app's client id (required)")
	var uris adminList
	fs.Var(&uris, "uri", "redirect URI to add: https, or http on localhost (repeatable; required)")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	if err := c.required("app"); err != nil {
		return err
	}
	id, err := c.appClientID(*appFlag, nil)
	if err != nil {
		return err
	}
	if len(uris) == 0 {
		return c.usage("--uri is required")
	}
	d, closeDB, err := c.open(false, false)
	if err != nil {
		return err
	}
	defer closeDB()
	if _, err := c.app(d, id); err != nil {
		return err
	}
	for _, u := range uris {
		if err := d.AddRedirectURI(c.ctx, id, u); err != nil {
			return err
		}
	}
	a, err := c.app(d, id)
	if err != nil {
		return err
	}
	domains, err := c.tenantDomains(d)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(toAppJSON(a, domains))
	}
	fmt.Fprintf(c.stdout, "Redirect URIs of %q (%s):\n", a.DisplayName, a.AppID)
	for _, u := range a.RedirectURIs {
		fmt.Fprintf(c.stdout, "  %s\n", u)
	}
	return nil
}
