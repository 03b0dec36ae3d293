package main

// Dataverse administration: environments, application users and security
// roles. These commands open the environment databases under <data>/env
// next to the server (SQLite in WAL mode lets both write); the server
// caches the principal of a token for 2 s, so a change to an application
// user or its roles reaches a running server within that time.

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/store"
)

func init() {
	registerNoun(adminNoun{name: "env", summary: "create and list Dataverse environments", verbs: []adminVerb{
		{name: "create", synopsis: "--tenant <id|domain|name> --name <name> [--url <https://...>] [--port <n>] [--host <host>]",
			summary: "create an environment of a tenant (its URL follows what 'dvs2s serve' assigns unless --url is given)", run: envCreate},
		{name: "list", synopsis: "", summary: "list environments in creation order", run: envList},
	}})
	registerNoun(adminNoun{name: "appuser", summary: "create, list, enable and disable application users (apps in environments)", verbs: []adminVerb{
		{name: "create", synopsis: "--env <name|id> --app <client id> [--role <name>]... [--business-unit <id>]",
			summary: "create the application user of an app in an environment and give it security roles", run: appUserCreate},
		{name: "list", synopsis: "--env <name|id>", summary: "list an environment's application users with their roles", run: appUserList},
		{name: "enable", synopsis: "--env <name|id> --app <client id>", summary: "let an application user call the environment again",
			run: func(c *adminCall, args []string) error { return appUserSetDisabled(c, args, false) }},
		{name: "disable", synopsis: "--env <name|id> --app <client id>", summary: "refuse every call of an application user (403 0x80040225)",
			run: func(c *adminCall, args []string) error { return appUserSetDisabled(c, args, true) }},
	}})
	registerNoun(adminNoun{name: "role", summary: "list, create and assign security roles in environments", verbs: append([]adminVerb{
		{name: "list", synopsis: "--env <name|id>", summary: "list an environment's security roles", run: roleList},
		{name: "create", synopsis: "--env <name|id> --name <role name>", summary: "create a custom security role in the root business unit", run: roleCreate},
		{name: "assign", synopsis: "--env <name|id> --role <role name> (--user <upn|systemuserid> | --app <client id>)",
			summary: "give a user or an application user a security role", run: roleAssign},
	}, roleSecurityVerbs...)})
}

// envJSON is an environment in --json output.
type envJSON struct {
	ID           string    `json:"id"` // the organization id
	Name         string    `json:"name"`
	TenantID     string    `json:"tenant_id"`
	TenantDomain string    `json:"tenant_domain"`
	URL          string    `json:"url"`
	CreatedAt    time.Time `json:"created_at"`
}

func toEnvJSON(e store.Environment, domains map[string]string) envJSON {
	return envJSON{ID: e.ID, Name: e.Name, TenantID: e.TenantID, TenantDomain: domains[e.TenantID], URL: e.URL, CreatedAt: e.CreatedAt}
}

// roleRefJSON is a role held by a user.
type roleRefJSON struct {
	RoleID string `json:"roleid"`
	Name   string `json:"name"`
}

// appUserJSON is an application user in --json output; the field names
// are the systemuser columns'.
type appUserJSON struct {
	SystemUserID                 string        `json:"systemuserid"`
	ApplicationID                string        `json:"applicationid"`
	FullName                     string        `json:"fullname"`
	AzureActiveDirectoryObjectID string        `json:"azureactivedirectoryobjectid"`
	IsDisabled                   bool          `json:"isdisabled"`
	BusinessUnitID               string        `json:"businessunitid"`
	Roles                        []roleRefJSON `json:"roles"`
}

// roleJSON is a security role in --json output; the field names are the
// role columns'.
type roleJSON struct {
	RoleID         string `json:"roleid"`
	Name           string `json:"name"`
	RoleTemplateID string `json:"roletemplateid"` // "" for custom roles
	BusinessUnitID string `json:"businessunitid"`
	IsManaged      bool   `json:"ismanaged"`
}

// roleAssignJSON is role assign's --json output.
type roleAssignJSON struct {
	RoleID       string `json:"roleid"`
	RoleName     string `json:"role_name"`
	SystemUserID string `json:"systemuserid"`
	FullName     string `json:"fullname"`
	// Assigned is false when the user already held the role directly.
	Assigned bool `json:"assigned"`
}

// envs opens the data directory and a manager of its environments.
func (c *adminCall) envs() (*directory.Directory, *environment.Manager, func(), error) {
	d, closeDB, err := c.open(false, false)
	if err != nil {
		return nil, nil, nil, err
	}
	m := &environment.Manager{Root: filepath.Join(c.data, "env"), Store: d.Store, Directory: d}
	return d, m, func() { m.Close(); closeDB() }, nil
}

// env opens an environment by name or organization id.
func (c *adminCall) env(m *environment.Manager, ref string) (*environment.Env, error) {
	env, err := m.Open(c.ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, adminErr(err, "unknown environment %q: give its name or organization id ('dvs2s env list' shows them)", ref)
	}
	return env, err
}

// envFlags parses a command whose flags are --env (required) and those
// added by more, and opens the environment.
func (c *adminCall) envFlags(args []string, required []string, more func(fs *flag.FlagSet)) (*directory.Directory, *environment.Env, func(), error) {
	fs := c.flags()
	envRef := fs.String("env", "", "the environment: name or organization id (required)")
	if more != nil {
		more(fs)
	}
	fail := func(err error) (*directory.Directory, *environment.Env, func(), error) { return nil, nil, nil, err }
	if _, err := c.parse(args, 0); err != nil {
		return fail(err)
	}
	if err := c.required(append([]string{"env"}, required...)...); err != nil {
		return fail(err)
	}
	if f := fs.Lookup("app"); f != nil && f.Value.String() != "" {
		if _, err := c.appClientID(f.Value.String(), nil); err != nil {
			return fail(err)
		}
	}
	d, m, closeAll, err := c.envs()
	if err != nil {
		return fail(err)
	}
	env, err := c.env(m, *envRef)
	if err != nil {
		closeAll()
		return fail(err)
	}
	return d, env, closeAll, nil
}

// --- env ---

func envCreate(c *adminCall, args []string) error {
	fs := c.flags()
	tenant := fs.String("tenant", "", "the environment's tenant: id, domain or name (required)")
	name := fs.String("name", "", "short name: 1-40 lower-case letters, digits or hyphens, starting with a letter (required)")
	rawURL := fs.String("url", "", "base URL (token audience); default https://<host>:<port+1+n>, n the environment's position in creation order, as 'dvs2s serve' assigns it")
	port := fs.Int("port", stack.DefaultPort, "the --port 'dvs2s serve' runs with (environments get port+1, port+2, ... in creation order); 0: assigned when the server starts")
	host := fs.String("host", "", "the --host 'dvs2s serve' runs with: the first of these comma-separated names is used in URLs (default localhost)")
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	if err := c.required("tenant", "name"); err != nil {
		return err
	}
	if *port < 0 || *port > 65535 {
		return c.usage("--port %d is out of range (0-65535)", *port)
	}
	u := strings.TrimRight(*rawURL, "/")
	if u != "" {
		p, err := url.Parse(u)
		if err != nil || p.Scheme != "https" || p.Host == "" || (p.Path != "" && p.Path != "/") || p.RawQuery != "" || p.Fragment != "" || p.User != nil {
			return c.usage("--url %q is not an environment URL: give an https origin such as https://contoso.example.com or https://localhost:8444", *rawURL)
		}
	}
	publicHost, _, _ := strings.Cut(*host, ",")
	if publicHost = strings.TrimSpace(publicHost); publicHost == "" {
		publicHost = "localhost"
	}
	d, m, closeAll, err := c.envs()
	if err != nil {
		return err
	}
	defer closeAll()
	t, err := c.tenant(d, *tenant)
	if err != nil {
		return err
	}
	existing, err := m.List(c.ctx)
	if err != nil {
		return err
	}
	n := strings.ToLower(strings.TrimSpace(*name))
	for _, e := range existing {
		if e.Name == n {
			return adminErr(store.ErrConflict, "an environment named %q already exists (organization id %s): choose another --name", n, e.ID)
		}
		if u != "" && strings.EqualFold(e.URL, u) {
			return adminErr(store.ErrConflict, "environment %q already has the URL %s: choose another --url", e.Name, e.URL)
		}
	}
	// The URL 'dvs2s serve' will give it: port base+1+i, i its position
	// in creation order (it is created last).
	assigned := func(i int) string {
		if *port == 0 {
			return ""
		}
		return "https://" + net.JoinHostPort(publicHost, strconv.Itoa(*port+1+i))
	}
	derived := u == ""
	if derived {
		if *port != 0 && *port+1+len(existing) > 65535 {
			return adminErr(store.ErrConflict, "environment number %d would get port %d, beyond 65535: use a lower --port or give --url", len(existing)+1, *port+1+len(existing))
		}
		u = assigned(len(existing))
	}
	env, err := m.Create(c.ctx, n, t.ID, u)
	if err != nil {
		if errors.Is(err, environment.ErrInvalid) {
			return c.usage("%s", strings.TrimPrefix(err.Error(), environment.ErrInvalid.Error()+": "))
		}
		return err
	}
	if derived && *port != 0 {
		// Another environment created at the same moment may have taken
		// the position; follow the registry's order, as the server does.
		all, err := m.List(c.ctx)
		if err != nil {
			return err
		}
		for i, e := range all {
			if e.ID == env.ID && assigned(i) != env.URL {
				if err := m.SetURL(c.ctx, env, assigned(i)); err != nil {
					return err
				}
			}
		}
	}
	if c.json {
		return c.printJSON(toEnvJSON(env.Environment, map[string]string{t.ID: t.Domain}))
	}
	fmt.Fprintf(c.stdout, "Created environment %s\n  organization id: %s\n  tenant:          %s (%s)\n  URL:             %s\n\n",
		env.Name, env.ID, t.Domain, t.ID, orDash(env.URL, "assigned when the server starts"))
	switch {
	case !derived:
		fmt.Fprintf(c.stdout, "Note: 'dvs2s serve' assigns every environment's URL when it starts (port --port+1+n in creation order, or host-based), so this URL is replaced at the next start.\n")
	case *port == 0:
		fmt.Fprintf(c.stdout, "Note: with --port 0 the server picks a free port for the environment when it starts; see stack.json for the URL.\n")
	default:
		fmt.Fprintf(c.stdout, "This is the URL 'dvs2s serve --port %d' gives the environment (environment number %d in creation order).\n", *port, positionOf(m, c, env.ID))
	}
	fmt.Fprintf(c.stdout, "A running server assigns URLs and opens ports only when it starts: restart it to serve the new environment.\n")
	fmt.Fprintf(c.stdout, "Next: 'dvs2s appuser create --env %s --app <client id> --role <role>' (after 'dvs2s role create --env %s --name <role>').\n", env.Name, env.Name)
	return nil
}

// positionOf is an environment's 1-based position in creation order.
func positionOf(m *environment.Manager, c *adminCall, id string) int {
	all, _ := m.List(c.ctx)
	for i, e := range all {
		if e.ID == id {
			return i + 1
		}
	}
	return 0
}

func orDash(s, dash string) string {
	if s == "" {
		return dash
	}
	return s
}

func envList(c *adminCall, args []string) error {
	c.flags()
	if _, err := c.parse(args, 0); err != nil {
		return err
	}
	d, closeDB, err := c.open(false, false)
	if err != nil {
		return err
	}
	defer closeDB()
	envs, err := d.Store.ListEnvironments(c.ctx)
	if err != nil {
		return err
	}
	domains, err := c.tenantDomains(d)
	if err != nil {
		return err
	}
	out := make([]envJSON, 0, len(envs))
	for _, e := range envs {
		out = append(out, toEnvJSON(e, domains))
	}
	if c.json {
		return c.printJSON(out)
	}
	var rows [][]string
	for _, e := range out {
		rows = append(rows, []string{e.Name, e.ID, e.TenantDomain, orDash(e.URL, "-"), adminTime(e.CreatedAt)})
	}
	return c.table("No environments.", []string{"NAME", "ORGANIZATION ID", "TENANT", "URL", "CREATED"}, rows)
}

// --- appuser ---

// dataArg is the --data part of a suggested command, when it is needed.
func (c *adminCall) dataArg() string {
	if c.data == ".dvs2s" || os.Getenv("DVS2S_DATA") == c.data {
		return ""
	}
	return " --data " + shellQuote(c.data)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// consentError explains why an app cannot have an application user in an
// environment: it has no service principal in the environment's tenant.
func (c *adminCall) consentError(d *directory.Directory, env *environment.Env, a store.App, err error) error {
	t, terr := d.Store.Tenant(c.ctx, env.TenantID)
	if terr != nil {
		return errors.Join(err, terr)
	}
	if !a.MultiTenant() && a.HomeTenantID != t.ID {
		home := a.HomeTenantID
		if ht, err := d.Store.Tenant(c.ctx, a.HomeTenantID); err == nil {
			home = ht.Domain
		}
		return adminErr(environment.ErrNoConsent, "app %q (client id %s) is single-tenant, registered in %s: it can get tokens only there, so it cannot be an application user of environment %s (tenant %s). Use an environment of %s, or a multi-tenant app consented to in %s",
			a.DisplayName, a.AppID, home, env.Name, t.Domain, home, t.Domain)
	}
	return adminErr(environment.ErrNoConsent, "app %q (client id %s) has no service principal in tenant %s (%s), the tenant of environment %s: an administrator of %s must grant admin consent first. Run:\n  dvs2s consent grant --tenant %s --app %s%s",
		a.DisplayName, a.AppID, t.Domain, t.ID, env.Name, t.Domain, t.Domain, a.AppID, c.dataArg())
}

// roleNames lists the names of an environment's roles, sorted.
func roleNames(c *adminCall, env *environment.Env) ([]string, error) {
	rows, err := env.Data.Query(c.ctx, env.Schema().Table(schema.TableRole), store.Query{Columns: []string{"name"}, OrderBy: []store.Order{{Column: "name"}}})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range rows {
		n, _ := r["name"].(string)
		names = append(names, strconv.Quote(n))
	}
	return names, nil
}

// role finds a role by name, listing the available ones when it is unknown.
func (c *adminCall) role(env *environment.Env, name string) (store.Row, error) {
	r, err := env.RoleByName(c.ctx, strings.TrimSpace(name))
	if errors.Is(err, store.ErrNotFound) {
		names, lerr := roleNames(c, env)
		if lerr != nil {
			return nil, lerr
		}
		return nil, adminErr(err, "unknown role %q in environment %s; its roles are: %s (create one with 'dvs2s role create --env %s --name %s%s')",
			name, env.Name, strings.Join(names, ", "), env.Name, shellQuote(name), c.dataArg())
	}
	return r, err
}

// m2m finds a many-to-many relationship of the environment's schema.
func m2m(env *environment.Env, name string) (*schema.ManyToMany, error) {
	for _, m := range env.Schema().ManyToManys() {
		if m.SchemaName == name {
			return m, nil
		}
	}
	return nil, fmt.Errorf("environment %s has no relationship %s", env.Name, name)
}

// userRoles returns the roles a user holds (directly or through teams).
func userRoles(c *adminCall, env *environment.Env, userID string) ([]roleRefJSON, error) {
	ids, err := env.Roles(c.ctx, userID)
	if err != nil || len(ids) == 0 {
		return []roleRefJSON{}, err
	}
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = id
	}
	rows, err := env.Data.Query(c.ctx, env.Schema().Table(schema.TableRole), store.Query{Columns: []string{"roleid", "name"},
		Where: store.In{Column: "roleid", Values: vals}, OrderBy: []store.Order{{Column: "name"}}})
	if err != nil {
		return nil, err
	}
	out := make([]roleRefJSON, 0, len(rows))
	for _, r := range rows {
		id, _ := r["roleid"].(string)
		n, _ := r["name"].(string)
		out = append(out, roleRefJSON{RoleID: id, Name: n})
	}
	return out, nil
}

func toAppUserJSON(c *adminCall, env *environment.Env, r store.Row) (appUserJSON, error) {
	u := appUserJSON{}
	u.SystemUserID, _ = r["systemuserid"].(string)
	u.ApplicationID, _ = r["applicationid"].(string)
	u.FullName, _ = r["fullname"].(string)
	u.AzureActiveDirectoryObjectID, _ = r["azureactivedirectoryobjectid"].(string)
	u.IsDisabled, _ = r["isdisabled"].(bool)
	if bu, ok := r["businessunitid"].(store.Ref); ok {
		u.BusinessUnitID = bu.ID
	}
	var err error
	u.Roles, err = userRoles(c, env, u.SystemUserID)
	return u, err
}

func roleNamesText(roles []roleRefJSON) string {
	if len(roles) == 0 {
		return "-"
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}

func appUserCreate(c *adminCall, args []string) error {
	var appFlag, bu *string
	var roles adminList
	d, env, closeAll, err := c.envFlags(args, []string{"app"}, func(fs *flag.FlagSet) {
		appFlag = fs.String("app", "", "the app's client id (required)")
		bu = fs.String("business-unit", "", "the business unit id (default: the root business unit)")
		fs.Var(&roles, "role", "a security role to give it, by name (repeatable)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	if err := c.checkGUID("business-unit", *bu, "business unit id"); err != nil {
		return err
	}
	appID := strings.ToLower(*appFlag)
	a, err := c.app(d, appID)
	if err != nil {
		return err
	}
	if _, err := d.Store.ServicePrincipal(c.ctx, env.TenantID, appID); errors.Is(err, store.ErrNotFound) {
		return c.consentError(d, env, a, err)
	} else if err != nil {
		return err
	}
	if u, err := env.UserByApplicationID(c.ctx, appID); err == nil {
		return adminErr(store.ErrConflict, "environment %s already has the application user of %q (systemuserid %s); give it roles with 'dvs2s role assign --env %s --app %s --role <name>%s'",
			env.Name, a.DisplayName, u["systemuserid"], env.Name, appID, c.dataArg())
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	buID := strings.ToLower(*bu)
	if buID != "" {
		if _, err := env.Data.Get(c.ctx, env.Schema().Table(schema.TableBusinessUnit), buID, []string{"businessunitid"}); errors.Is(err, store.ErrNotFound) {
			return adminErr(err, "environment %s has no business unit %s (its root business unit is %s)", env.Name, buID, env.RootBU)
		} else if err != nil {
			return err
		}
	}
	var roleIDs []string
	for _, name := range roles {
		r, err := c.role(env, name)
		if err != nil {
			return err
		}
		if id := r["roleid"].(string); !slices.Contains(roleIDs, id) {
			roleIDs = append(roleIDs, id)
		}
	}
	assoc, err := m2m(env, "systemuserroles_association")
	if err != nil {
		return err
	}
	var row store.Row
	err = env.Data.InTx(c.ctx, func(tx store.Data) error {
		var err error
		row, err = env.CreateAppUser(c.ctx, tx, environment.AppUserSpec{AppID: appID, BusinessUnitID: buID}, environment.Caller{UserID: env.System, BU: env.RootBU})
		if err != nil {
			return err
		}
		for _, id := range roleIDs {
			if err := tx.Associate(c.ctx, assoc, row["systemuserid"].(string), id); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, environment.ErrNoConsent):
		return c.consentError(d, env, a, err)
	case errors.Is(err, store.ErrConflict):
		return adminErr(err, "environment %s already has the application user of %q", env.Name, a.DisplayName)
	case err != nil:
		return err
	}
	u, err := toAppUserJSON(c, env, row)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(u)
	}
	fmt.Fprintf(c.stdout, "Created the application user of %q in environment %s\n  systemuserid:                 %s\n  applicationid:                %s\n  azureactivedirectoryobjectid: %s\n  business unit:                %s\n  roles:                        %s\n",
		u.FullName, env.Name, u.SystemUserID, u.ApplicationID, u.AzureActiveDirectoryObjectID, u.BusinessUnitID, roleNamesText(u.Roles))
	if len(u.Roles) == 0 {
		fmt.Fprintf(c.stdout, "\nIt has no security role yet, so the environment refuses its calls (403 0x80042f09) until you give it one:\n  dvs2s role assign --env %s --app %s --role <name>%s\n", env.Name, appID, c.dataArg())
	}
	return nil
}

func appUserList(c *adminCall, args []string) error {
	_, env, closeAll, err := c.envFlags(args, nil, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	rows, err := env.Data.Query(c.ctx, env.Schema().Table(schema.TableSystemUser), store.Query{
		Where:   store.Compare{Column: "applicationid", Op: "ne", Value: nil},
		OrderBy: []store.Order{{Column: "fullname"}, {Column: "systemuserid"}}})
	if err != nil {
		return err
	}
	out := make([]appUserJSON, 0, len(rows))
	for _, r := range rows {
		u, err := toAppUserJSON(c, env, r)
		if err != nil {
			return err
		}
		out = append(out, u)
	}
	if c.json {
		return c.printJSON(out)
	}
	var table [][]string
	for _, u := range out {
		table = append(table, []string{u.FullName, u.SystemUserID, u.ApplicationID, u.AzureActiveDirectoryObjectID, yesNo(u.IsDisabled), roleNamesText(u.Roles)})
	}
	return c.table("No application users in environment "+env.Name+".",
		[]string{"FULLNAME", "SYSTEMUSERID", "APPLICATIONID", "AZUREACTIVEDIRECTORYOBJECTID", "DISABLED", "ROLES"}, table)
}

// appUser finds the application user of an app.
func (c *adminCall) appUser(env *environment.Env, appID string) (store.Row, error) {
	u, err := env.UserByApplicationID(c.ctx, appID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, adminErr(err, "environment %s has no application user for app %s: create it with 'dvs2s appuser create --env %s --app %s%s'",
			env.Name, appID, env.Name, appID, c.dataArg())
	}
	return u, err
}

func appUserSetDisabled(c *adminCall, args []string, disabled bool) error {
	var appFlag *string
	_, env, closeAll, err := c.envFlags(args, []string{"app"}, func(fs *flag.FlagSet) {
		appFlag = fs.String("app", "", "the app's client id (required)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	appID := strings.ToLower(*appFlag)
	row, err := c.appUser(env, appID)
	if err != nil {
		return err
	}
	id := row["systemuserid"].(string)
	was, _ := row["isdisabled"].(bool)
	if was != disabled {
		t := env.Schema().Table(schema.TableSystemUser)
		fields := store.Row{"isdisabled": disabled}
		env.Touch(t, fields, row, environment.Caller{UserID: env.System, BU: env.RootBU})
		if _, err := env.Data.Update(c.ctx, t, id, fields, 0); err != nil {
			return err
		}
		if row, err = env.Data.Get(c.ctx, t, id, nil); err != nil {
			return err
		}
	}
	u, err := toAppUserJSON(c, env, row)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(u)
	}
	state := "enabled"
	if disabled {
		state = "disabled"
	}
	if was == disabled {
		fmt.Fprintf(c.stdout, "The application user of %q (systemuserid %s) in environment %s was already %s.\n", u.FullName, id, env.Name, state)
		return nil
	}
	fmt.Fprintf(c.stdout, "The application user of %q (systemuserid %s) in environment %s is now %s; a running server applies this within 2 seconds.\n", u.FullName, id, env.Name, state)
	return nil
}

// --- role ---

func toRoleJSON(r store.Row) roleJSON {
	j := roleJSON{}
	j.RoleID, _ = r["roleid"].(string)
	j.Name, _ = r["name"].(string)
	j.RoleTemplateID, _ = r["roletemplateid"].(string)
	j.IsManaged, _ = r["ismanaged"].(bool)
	if bu, ok := r["businessunitid"].(store.Ref); ok {
		j.BusinessUnitID = bu.ID
	}
	return j
}

func roleList(c *adminCall, args []string) error {
	_, env, closeAll, err := c.envFlags(args, nil, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	rows, err := env.Data.Query(c.ctx, env.Schema().Table(schema.TableRole), store.Query{OrderBy: []store.Order{{Column: "name"}, {Column: "roleid"}}})
	if err != nil {
		return err
	}
	out := make([]roleJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, toRoleJSON(r))
	}
	if c.json {
		return c.printJSON(out)
	}
	var table [][]string
	for _, r := range out {
		kind := "custom"
		if r.RoleTemplateID != "" {
			kind = "standard"
		}
		table = append(table, []string{r.Name, r.RoleID, kind, r.BusinessUnitID})
	}
	return c.table("No roles in environment "+env.Name+".", []string{"NAME", "ROLEID", "KIND", "BUSINESS UNIT"}, table)
}

func roleCreate(c *adminCall, args []string) error {
	var name *string
	_, env, closeAll, err := c.envFlags(args, []string{"name"}, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "the role's name, unique in the environment (required)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	n := strings.TrimSpace(*name)
	if n == "" || len(n) > 100 || strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return c.usage("--name %q: give 1-100 printable characters", *name)
	}
	if r, err := env.RoleByName(c.ctx, n); err == nil {
		return adminErr(store.ErrConflict, "environment %s already has a role named %q (roleid %s)", env.Name, r["name"], r["roleid"])
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	r, err := env.CreateRole(c.ctx, n)
	if err != nil {
		return err
	}
	j := toRoleJSON(r)
	if c.json {
		return c.printJSON(j)
	}
	fmt.Fprintf(c.stdout, "Created role %q in environment %s\n  roleid: %s\n\nGive it to an application user with 'dvs2s role assign --env %s --role %s --app <client id>%s'.\n",
		j.Name, env.Name, j.RoleID, env.Name, shellQuote(j.Name), c.dataArg())
	return nil
}

// user finds a user by UPN or systemuserid (or Entra object id); a member
// of the environment's tenant who has not called it yet is provisioned,
// as the server does on first access.
func (c *adminCall) user(d *directory.Directory, env *environment.Env, ref string) (store.Row, error) {
	t := env.Schema().Table(schema.TableSystemUser)
	ref = strings.TrimSpace(ref)
	domain := env.TenantID
	if tn, err := d.Store.Tenant(c.ctx, env.TenantID); err == nil {
		domain = tn.Domain
	}
	notFound := func(err error) error {
		return adminErr(err, "unknown user %q in environment %s: give the user principal name of a user of %s ('dvs2s user list --tenant %s' shows them) or a systemuserid", ref, env.Name, domain, domain)
	}
	var dirUser store.User
	var err error
	if directory.IsGUID(ref) {
		id := strings.ToLower(ref)
		if r, err := env.Data.Get(c.ctx, t, id, nil); err == nil || !errors.Is(err, store.ErrNotFound) {
			return r, err
		}
		if r, err := env.UserByObjectID(c.ctx, id); err == nil || !errors.Is(err, store.ErrNotFound) {
			return r, err
		}
		dirUser, err = d.Store.User(c.ctx, id)
	} else {
		if !strings.Contains(ref, "@") {
			return nil, c.usage("--user %q is neither a user principal name (user@domain) nor a systemuserid (GUID)", ref)
		}
		rows, qerr := env.Data.Query(c.ctx, t, store.Query{Where: store.And{store.Compare{Column: "domainname", Op: "eq", Value: ref},
			store.Compare{Column: "applicationid", Op: "eq", Value: nil}}, Limit: 1})
		if qerr != nil {
			return nil, qerr
		}
		if len(rows) > 0 {
			return rows[0], nil
		}
		dirUser, err = d.Store.UserByUPN(c.ctx, strings.ToLower(ref))
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(err)
	} else if err != nil {
		return nil, err
	}
	if dirUser.TenantID != env.TenantID {
		return nil, adminErr(store.ErrNotFound, "user %s belongs to another tenant (%s), not to %s, the tenant of environment %s", dirUser.UPN, dirUser.TenantID, domain, env.Name)
	}
	return env.SyncUser(c.ctx, dirUser)
}

func roleAssign(c *adminCall, args []string) error {
	var roleName, userRef, appFlag *string
	d, env, closeAll, err := c.envFlags(args, []string{"role"}, func(fs *flag.FlagSet) {
		roleName = fs.String("role", "", "the role's name (required)")
		userRef = fs.String("user", "", "the user: user principal name or systemuserid")
		appFlag = fs.String("app", "", "or the application user of this app (client id)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	if (*userRef == "") == (*appFlag == "") {
		return c.usage("give either --user or --app")
	}
	role, err := c.role(env, *roleName)
	if err != nil {
		return err
	}
	var u store.Row
	if *appFlag != "" {
		u, err = c.appUser(env, strings.ToLower(*appFlag))
	} else {
		u, err = c.user(d, env, *userRef)
	}
	if err != nil {
		return err
	}
	assoc, err := m2m(env, "systemuserroles_association")
	if err != nil {
		return err
	}
	j := roleAssignJSON{RoleID: role["roleid"].(string), SystemUserID: u["systemuserid"].(string), Assigned: true}
	j.RoleName, _ = role["name"].(string)
	j.FullName, _ = u["fullname"].(string)
	if err := env.Data.Associate(c.ctx, assoc, j.SystemUserID, j.RoleID); errors.Is(err, store.ErrConflict) {
		j.Assigned = false
	} else if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(j)
	}
	if !j.Assigned {
		fmt.Fprintf(c.stdout, "%q (systemuserid %s) already has role %q in environment %s.\n", j.FullName, j.SystemUserID, j.RoleName, env.Name)
		return nil
	}
	fmt.Fprintf(c.stdout, "Gave role %q to %q (systemuserid %s) in environment %s; a running server applies this within 2 seconds.\n", j.RoleName, j.FullName, j.SystemUserID, env.Name)
	return nil
}
