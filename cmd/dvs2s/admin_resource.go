package main

import (
	"fmt"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/store"
)

func init() {
	registerNoun(adminNoun{name: "resource", summary: "register APIs (resources) that apps get tokens for", verbs: []adminVerb{
		{name: "register", synopsis: "--tenant <id|domain|name> --uri <https://...> [--app-id <guid>] [--token-version 1|2] [--name <name>]",
			summary: "register (or update) a resource in a tenant", run: resourceRegister},
		{name: "list", synopsis: "[--tenant <id|domain|name>]", summary: "list resources", run: resourceList},
	}})
}

// resourceJSON is a resource in --json output.
type resourceJSON struct {
	TenantID     string    `json:"tenant_id"`
	TenantDomain string    `json:"tenant_domain"`
	URI          string    `json:"uri"`
	AppID        string    `json:"app_id"`
	DisplayName  string    `json:"display_name"`
	TokenVersion int       `json:"token_version"`
	CreatedAt    time.Time `json:"created_at"`
}

func toResourceJSON(r store.Resource, domains map[string]string) resourceJSON {
	return resourceJSON{TenantID: r.TenantID, TenantDomain: domains[r.TenantID], URI: r.URI, AppID: r.AppID,
		DisplayName: r.DisplayName, TokenVersion: r.TokenVersion, CreatedAt: r.CreatedAt}
}

func resourceRegister(c *adminCall, args []string) error {
	fs := c.flags()
	tenant := fs.String("tenant", "", "tenant the resource is in: id, domain or name (required)")
	uri := fs.String("uri", "", "the resource's identifier URI, e.g. https://org.crm.dynamics.com (required)")
	appID := fs.String("app-id", "", "the resource's application id, the v2 token audience (default: Dataverse's, "+directory.DataverseAppID+")")
	version := fs.Int("token-version", 1, "access token version the resource accepts: 1 (Dataverse) or 2")
	name := fs.String("name", "", "display name (default: the URI)")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	if err := c.required("tenant", "uri"); err != nil {
		return err
	}
	if err := c.checkGUID("app-id", *appID, "application id"); err != nil {
		return err
	}
	if *version != 1 && *version != 2 {
		return c.usage("--token-version %d: use 1 or 2", *version)
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
	r, err := d.RegisterResource(c.ctx, t.ID, *uri, *appID, *name, *version)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(toResourceJSON(r, map[string]string{t.ID: t.Domain}))
	}
	fmt.Fprintf(c.stdout, "Registered resource %s in %s\n  app id:        %s\n  token version: %d\n\n", r.URI, t.Domain, r.AppID, r.TokenVersion)
	fmt.Fprintf(c.stdout, "Apps with a service principal in %s get tokens for it with scope=%s/.default (v2.0 endpoint) or resource=%s (v1.0).\n", t.Domain, r.URI, r.URI)
	return nil
}

func resourceList(c *adminCall, args []string) error {
	l, err := c.openListed(args, "list only this tenant's resources: id, domain or name (default: all)")
	if err != nil {
		return err
	}
	defer l.close()
	rs, err := l.d.Store.ListResources(c.ctx, l.tenant)
	if err != nil {
		return err
	}
	out := make([]resourceJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, toResourceJSON(r, l.domains))
	}
	if c.json {
		return c.printJSON(out)
	}
	var rows [][]string
	for _, r := range out {
		rows = append(rows, []string{r.TenantDomain, r.URI, r.AppID, fmt.Sprintf("v%d", r.TokenVersion), r.DisplayName})
	}
	return c.table("No resources.", []string{"TENANT", "URI", "APP ID", "TOKENS", "NAME"}, rows)
}
