package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/store"
)

func init() {
	registerNoun(adminNoun{name: "tenant", summary: "create and list tenants (directories)", verbs: []adminVerb{
		{name: "create", synopsis: "--name <name> [--domain <domain>] [--id <guid>]", summary: "create a tenant", run: tenantCreate},
		{name: "list", synopsis: "", summary: "list tenants", run: tenantList},
	}})
	registerNoun(adminNoun{name: "user", summary: "create and list users who sign in interactively", verbs: append([]adminVerb{
		{name: "create", synopsis: "--tenant <id|domain|name> --upn <user@domain> [--name <display name>] [--admin] [--password-stdin]",
			summary: "create a user; without --password-stdin a strong password is generated and printed once", run: userCreate},
		{name: "list", synopsis: "[--tenant <id|domain|name>]", summary: "list users", run: userList},
	}, userSecurityVerbs...)})
}

// tenantJSON is a tenant in --json output.
type tenantJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Domain    string    `json:"domain"`
	CreatedAt time.Time `json:"created_at"`
}

func toTenantJSON(t store.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Name: t.Name, Domain: t.Domain, CreatedAt: t.CreatedAt}
}

func tenantCreate(c *adminCall, args []string) error {
	fs := c.flags()
	name := fs.String("name", "", "short name: lower-case letters, digits and hyphens (required)")
	domain := fs.String("domain", "", "verified domain (default <name>.onmicrosoft.com)")
	id := fs.String("id", "", "tenant id, a GUID (default: a new random one)")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	if err := c.required("name"); err != nil {
		return err
	}
	if err := c.checkGUID("id", *id, "tenant id"); err != nil {
		return err
	}
	d, closeDB, err := c.open(true, false)
	if err != nil {
		return err
	}
	defer closeDB()
	n := strings.ToLower(strings.TrimSpace(*name))
	ts, err := d.Store.ListTenants(c.ctx)
	if err != nil {
		return err
	}
	dom := strings.ToLower(*domain)
	if dom == "" {
		dom = n + ".onmicrosoft.com"
	}
	for _, t := range ts {
		switch {
		case t.Name == n:
			return adminErr(store.ErrConflict, "a tenant named %q already exists (id %s, domain %s): choose another --name", n, t.ID, t.Domain)
		case t.Domain == dom:
			return adminErr(store.ErrConflict, "domain %s already belongs to tenant %q (id %s): choose another --domain", dom, t.Name, t.ID)
		case strings.EqualFold(t.ID, *id):
			return adminErr(store.ErrConflict, "tenant id %s already belongs to tenant %q: choose another --id or leave it out", t.ID, t.Name)
		}
	}
	t, err := d.CreateTenant(c.ctx, n, *domain, *id)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(toTenantJSON(t))
	}
	fmt.Fprintf(c.stdout, "Created tenant %s\n  id:     %s\n  domain: %s\n", t.Name, t.ID, t.Domain)
	return nil
}

func tenantList(c *adminCall, args []string) error {
	c.flags()
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	d, closeDB, err := c.open(false, false)
	if err != nil {
		return err
	}
	defer closeDB()
	ts, err := d.Store.ListTenants(c.ctx)
	if err != nil {
		return err
	}
	if c.json {
		out := make([]tenantJSON, 0, len(ts))
		for _, t := range ts {
			out = append(out, toTenantJSON(t))
		}
		return c.printJSON(out)
	}
	var rows [][]string
	for _, t := range ts {
		rows = append(rows, []string{t.Name, t.ID, t.Domain, adminTime(t.CreatedAt)})
	}
	return c.table("No tenants.", []string{"NAME", "ID", "DOMAIN", "CREATED"}, rows)
}

// userJSON is a user in --json output. Password is set only when the
// command generated it.
type userJSON struct {
	ObjectID     string    `json:"object_id"`
	TenantID     string    `json:"tenant_id"`
	TenantDomain string    `json:"tenant_domain"`
	UPN          string    `json:"upn"`
	DisplayName  string    `json:"display_name"`
	Admin        bool      `json:"admin"`
	Enabled      bool      `json:"enabled"`
	CreatedAt    time.Time `json:"created_at"`
	Password     string    `json:"password,omitempty"`
}

func toUserJSON(u store.User, domain string) userJSON {
	return userJSON{ObjectID: u.ObjectID, TenantID: u.TenantID, TenantDomain: domain, UPN: u.UPN, DisplayName: u.DisplayName,
		Admin: u.Admin, Enabled: u.Enabled, CreatedAt: u.CreatedAt}
}

// Passwords are never taken as a flag value, where ps and shell history
// would show them: --password-stdin reads the first line of standard input,
// and without it a password is generated and printed once.
func userCreate(c *adminCall, args []string) error {
	fs := c.flags()
	tenant := fs.String("tenant", "", "the user's tenant: id, domain or name (required)")
	upn := fs.String("upn", "", "user principal name, user@<tenant domain> (required)")
	name := fs.String("name", "", "display name (default: the part of the UPN before @)")
	admin := fs.Bool("admin", false, "make the user a tenant administrator (may grant admin consent)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (default: generate one and print it once)")
	id := fs.String("id", "", "object id, a GUID (default: a new random one)")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	if err := c.required("tenant", "upn"); err != nil {
		return err
	}
	if err := c.checkGUID("id", *id, "user object id"); err != nil {
		return err
	}
	var password string
	generated := !*fromStdin
	if *fromStdin {
		line, err := bufio.NewReader(adminStdin).ReadString('\n')
		if err != nil && line == "" {
			return c.usage("--password-stdin: no password on standard input")
		}
		password = strings.TrimRight(line, "\r\n")
		if password == "" {
			return c.usage("--password-stdin: the password on standard input is empty")
		}
	} else {
		password = rand.Text() // 26 base32 characters, 130 bits
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
	if u, err := d.Store.UserByUPN(c.ctx, strings.ToLower(strings.TrimSpace(*upn))); err == nil {
		return adminErr(store.ErrConflict, "user %s already exists (object id %s): choose another --upn", u.UPN, u.ObjectID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	u, err := d.CreateUser(c.ctx, t.ID, *id, *upn, *name, password, *admin)
	if err != nil {
		return err
	}
	if c.json {
		j := toUserJSON(u, t.Domain)
		if generated {
			j.Password = password
		}
		return c.printJSON(j)
	}
	fmt.Fprintf(c.stdout, "Created user %s in %s\n  object id: %s\n  name:      %s\n  admin:     %s\n", u.UPN, t.Domain, u.ObjectID, u.DisplayName, yesNo(u.Admin))
	if generated {
		fmt.Fprintf(c.stdout, "  password:  %s\n\nThe password is shown only now: only its hash is kept.\n", password)
	}
	return nil
}

func userList(c *adminCall, args []string) error {
	fs := c.flags()
	tenant := fs.String("tenant", "", "list only this tenant's users: id, domain or name (default: all tenants)")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	d, closeDB, err := c.open(false, false)
	if err != nil {
		return err
	}
	defer closeDB()
	var ts []store.Tenant
	if *tenant != "" {
		t, err := c.tenant(d, *tenant)
		if err != nil {
			return err
		}
		ts = []store.Tenant{t}
	} else if ts, err = d.Store.ListTenants(c.ctx); err != nil {
		return err
	}
	out := []userJSON{}
	for _, t := range ts {
		us, err := d.Store.ListUsers(c.ctx, t.ID)
		if err != nil {
			return err
		}
		for _, u := range us {
			out = append(out, toUserJSON(u, t.Domain))
		}
	}
	if c.json {
		return c.printJSON(out)
	}
	var rows [][]string
	for _, u := range out {
		rows = append(rows, []string{u.UPN, u.DisplayName, u.ObjectID, yesNo(u.Admin), yesNo(u.Enabled), adminTime(u.CreatedAt)})
	}
	return c.table("No users.", []string{"UPN", "NAME", "OBJECT ID", "ADMIN", "ENABLED", "CREATED"}, rows)
}
