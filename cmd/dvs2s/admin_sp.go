package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/dvs2s/dvs2s/store"
)

func init() {
	registerNoun(adminNoun{name: "consent", summary: "grant admin consent to apps", verbs: []adminVerb{
		{name: "grant", synopsis: "--tenant <customer tenant> --app <client id>",
			summary: "grant admin consent non-interactively: create the app's service principal in the tenant", run: consentGrant},
	}})
	registerNoun(adminNoun{name: "sp", summary: "list, enable and disable service principals (apps in tenants)", verbs: []adminVerb{
		{name: "list", synopsis: "[--tenant <id|domain|name>]", summary: "list service principals", run: spList},
		{name: "enable", synopsis: "--tenant <id|domain|name> --app <client id>", summary: "let the app get tokens in the tenant again",
			run: func(c *adminCall, args []string) error { return spSetEnabled(c, args, true) }},
		{name: "disable", synopsis: "--tenant <id|domain|name> --app <client id>", summary: "stop the app from getting tokens in the tenant",
			run: func(c *adminCall, args []string) error { return spSetEnabled(c, args, false) }},
	}})
}

// spJSON is a service principal in --json output.
type spJSON struct {
	ObjectID       string    `json:"object_id"`
	TenantID       string    `json:"tenant_id"`
	TenantDomain   string    `json:"tenant_domain"`
	ClientID       string    `json:"client_id"`
	AppDisplayName string    `json:"app_display_name"`
	Enabled        bool      `json:"enabled"`
	CreatedAt      time.Time `json:"created_at"`
}

func toSPJSON(sp store.ServicePrincipal, domains map[string]string, appName string) spJSON {
	return spJSON{ObjectID: sp.ObjectID, TenantID: sp.TenantID, TenantDomain: domains[sp.TenantID], ClientID: sp.AppID,
		AppDisplayName: appName, Enabled: sp.Enabled, CreatedAt: sp.CreatedAt}
}

// consentJSON is consent grant's --json output.
type consentJSON struct {
	spJSON
	// Created is false when the app already had a service principal there.
	Created bool `json:"created"`
}

// tenantAndApp parses --tenant and --app, both required, and resolves them.
func (c *adminCall) tenantAndApp(args []string, tenantHelp string) (store.Tenant, store.App, func(), error) {
	fs := c.flags()
	tenant := fs.String("tenant", "", tenantHelp+": id, domain or name (required)")
	appFlag := fs.String("app", "", "the app's client id (required)")
	fail := func(err error) (store.Tenant, store.App, func(), error) { return store.Tenant{}, store.App{}, nil, err }
	if _, err := c.parse(args, 0); err != nil {
		return fail(err)
	}
	if err := c.required("tenant", "app"); err != nil {
		return fail(err)
	}
	id, err := c.appClientID(*appFlag, nil)
	if err != nil {
		return fail(err)
	}
	d, closeDB, err := c.open(false, false)
	if err != nil {
		return fail(err)
	}
	t, err := c.tenant(d, *tenant)
	if err != nil {
		closeDB()
		return fail(err)
	}
	a, err := c.app(d, id)
	if err != nil {
		closeDB()
		return fail(err)
	}
	c.dir = d
	return t, a, closeDB, nil
}

func consentGrant(c *adminCall, args []string) error {
	t, a, closeDB, err := c.tenantAndApp(args, "the tenant whose administrator consents")
	if err != nil {
		return err
	}
	defer closeDB()
	_, err = c.dir.Store.ServicePrincipal(c.ctx, t.ID, a.AppID)
	existed := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	sp, err := c.dir.GrantAdminConsent(c.ctx, t.ID, a.AppID)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(consentJSON{toSPJSON(sp, map[string]string{t.ID: t.Domain}, a.DisplayName), !existed})
	}
	if existed {
		fmt.Fprintf(c.stdout, "%q (client id %s) already has consent in %s: service principal %s.\n", a.DisplayName, a.AppID, t.Domain, sp.ObjectID)
		return nil
	}
	fmt.Fprintf(c.stdout, "Granted admin consent in %s to %q (client id %s)\n  service principal: %s\n", t.Domain, a.DisplayName, a.AppID, sp.ObjectID)
	return nil
}

func spSetEnabled(c *adminCall, args []string, enabled bool) error {
	t, a, closeDB, err := c.tenantAndApp(args, "the tenant")
	if err != nil {
		return err
	}
	defer closeDB()
	if _, err := c.dir.Store.ServicePrincipal(c.ctx, t.ID, a.AppID); errors.Is(err, store.ErrNotFound) {
		return adminErr(err, "%q (client id %s) has no service principal in %s: grant consent first with 'dvs2s consent grant --tenant %s --app %s'", a.DisplayName, a.AppID, t.Domain, t.Domain, a.AppID)
	} else if err != nil {
		return err
	}
	if err := c.dir.SetServicePrincipalEnabled(c.ctx, t.ID, a.AppID, enabled); err != nil {
		return err
	}
	sp, err := c.dir.Store.ServicePrincipal(c.ctx, t.ID, a.AppID)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(toSPJSON(sp, map[string]string{t.ID: t.Domain}, a.DisplayName))
	}
	state := "Disabled"
	if enabled {
		state = "Enabled"
	}
	fmt.Fprintf(c.stdout, "%s %q (client id %s) in %s.\n", state, a.DisplayName, a.AppID, t.Domain)
	return nil
}

func spList(c *adminCall, args []string) error {
	l, err := c.openListed(args, "list only this tenant's service principals: id, domain or name (default: all)")
	if err != nil {
		return err
	}
	defer l.close()
	sps, err := l.d.Store.ListServicePrincipals(c.ctx, l.tenant)
	if err != nil {
		return err
	}
	apps, err := l.d.Store.ListApps(c.ctx, "")
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, a := range apps {
		names[a.AppID] = a.DisplayName
	}
	out := make([]spJSON, 0, len(sps))
	for _, sp := range sps {
		out = append(out, toSPJSON(sp, l.domains, names[sp.AppID]))
	}
	if c.json {
		return c.printJSON(out)
	}
	var rows [][]string
	for _, sp := range out {
		rows = append(rows, []string{sp.TenantDomain, sp.AppDisplayName, sp.ClientID, sp.ObjectID, yesNo(sp.Enabled), adminTime(sp.CreatedAt)})
	}
	return c.table("No service principals.", []string{"TENANT", "APP", "CLIENT ID", "OBJECT ID", "ENABLED", "CREATED"}, rows)
}
