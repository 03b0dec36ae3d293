package main

// The administration commands work on a data directory, with the server
// running or not: SQLite in WAL mode lets both write, and the server caches
// directory reads for --cache-ttl (1 s by default), so a change made here
// reaches the token endpoint within that time.
//
// Every command is "dvs2s <noun> <verb> [flags]". Output is an aligned table
// for people, or with --json a JSON document with stable lower_snake_case
// field names for scripts. Exit codes: 0 on success; 2 when the command line
// is wrong (unknown flag, missing required flag, malformed value such as a
// non-GUID id or a bad URI, unreadable certificate content); 1 when the
// command line is right but the operation failed (unknown tenant or app,
// something already exists, I/O or database errors).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/sqlite"
)

// adminStdin is where --password-stdin reads from (tests replace it).
var adminStdin io.Reader = os.Stdin

// adminNoun is a group of administration commands, such as "tenant".
type adminNoun struct {
	name    string
	summary string
	verbs   []adminVerb
}

// adminVerb is one administration command, such as "tenant create".
type adminVerb struct {
	name     string
	synopsis string // flags and arguments, for the usage line
	summary  string
	run      func(c *adminCall, args []string) error
}

// registerNoun registers a noun as a top-level subcommand.
func registerNoun(n adminNoun) {
	register(command{name: n.name, summary: n.summary, run: n.run})
}

func (n adminNoun) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: dvs2s %s <command> [flags]\n\n%s.\n\n", n.name, capitalize(n.summary))
	tw := newAdminTabWriter(w)
	for _, v := range n.verbs {
		fmt.Fprintf(tw, "  %s\t%s\n", v.name, v.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun 'dvs2s %s <command> -h' for a command's flags.\n", n.name)
}

func (n adminNoun) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		n.usage(stderr)
		return errUsage
	}
	if a := args[0]; a == "help" || a == "-h" || a == "-help" || a == "--help" {
		n.usage(stdout)
		return nil
	}
	for _, v := range n.verbs {
		if v.name == args[0] {
			c := &adminCall{ctx: ctx, stdout: stdout, stderr: stderr, name: n.name + " " + v.name, verb: v}
			return c.finish(v.run(c, args[1:]))
		}
	}
	fmt.Fprintf(stderr, "dvs2s %s: unknown command %q\n\n", n.name, args[0])
	n.usage(stderr)
	return errUsage
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// adminCall is one run of an administration command.
type adminCall struct {
	ctx            context.Context
	stdout, stderr io.Writer
	name           string // "tenant create"
	verb           adminVerb
	fs             *flag.FlagSet
	data           string
	database       string // postgres:// URL, or "" for the data directory's SQLite
	json           bool
	dir            *directory.Directory // set by tenantAndApp
}

// flags returns the command's flag set with the flags every administration
// command has: --data and --json.
func (c *adminCall) flags() *flag.FlagSet {
	fs := newFlags(c.name, c.stderr)
	dataFlag(fs, &c.data)
	databaseFlag(fs, &c.database)
	fs.BoolVar(&c.json, "json", false, "print JSON (stable lower_snake_case fields) instead of a table")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: dvs2s %s %s\n\n%s.\n\nFlags:\n", c.name, c.verb.synopsis, capitalize(c.verb.summary))
		fs.PrintDefaults()
	}
	c.fs = fs
	return fs
}

// parse parses args with flags and positional arguments in any order and
// returns the positional arguments; more than max of them is a usage error.
func (c *adminCall) parse(args []string, max int) ([]string, error) {
	var pos []string
	for {
		if err := parse(c.fs, args); err != nil {
			if !errors.Is(err, errUsage) { // a bad DVS2S_* variable
				return nil, c.usage("%v", err)
			}
			return nil, err
		}
		if c.fs.NArg() == 0 {
			break
		}
		rest := c.fs.Args()
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is positional
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) > max {
		if max == 0 {
			return nil, c.usage("unexpected argument %q (this command takes only flags)", pos[0])
		}
		return nil, c.usage("unexpected argument %q", pos[max])
	}
	return pos, nil
}

// usage reports a command-line error and returns errUsage (exit code 2).
func (c *adminCall) usage(format string, a ...any) error {
	fmt.Fprintf(c.stderr, "dvs2s %s: %s\n", c.name, fmt.Sprintf(format, a...))
	fmt.Fprintf(c.stderr, "Run 'dvs2s %s -h' for usage.\n", c.name)
	return errUsage
}

// required reports a usage error naming the first empty required flag.
func (c *adminCall) required(flags ...string) error {
	for _, name := range flags {
		if c.fs.Lookup(name).Value.String() == "" {
			return c.usage("--%s is required", name)
		}
	}
	return nil
}

// checkGUID reports a usage error unless the flag's value is empty or a GUID.
func (c *adminCall) checkGUID(flagName, v, what string) error {
	if v == "" || directory.IsGUID(v) {
		return nil
	}
	return c.usage("--%s %q is not a valid %s (a GUID such as 5f1c2a9e-8b3d-4c6f-a017-3e9d4b2c6a21)", flagName, v, what)
}

// finish turns argument errors from the directory into usage errors.
func (c *adminCall) finish(err error) error {
	if err == nil || errors.Is(err, errUsage) {
		return err
	}
	if errors.Is(err, directory.ErrInvalid) {
		msg := strings.TrimPrefix(err.Error(), directory.ErrInvalid.Error()+": ")
		return c.usage("%s", msg)
	}
	return err
}

// open opens the data directory's database. With create, a missing data
// directory and database are created, with a new master key unless
// DVS2S_MASTER_KEY is set. With keys, the master key is loaded, and its
// absence next to an existing database is an error: a new key would make
// every stored secret unusable.
func (c *adminCall) open(create, keys bool) (*directory.Directory, func(), error) {
	if c.data == "" {
		return nil, nil, c.usage("--data must not be empty")
	}
	if c.database != "" {
		return c.openDatabase(create, keys)
	}
	dbFile := filepath.Join(c.data, "dvs2s.db")
	keyFile := filepath.Join(c.data, "master.key")
	envKey := os.Getenv("DVS2S_MASTER_KEY")
	_, err := os.Stat(dbFile)
	fresh := errors.Is(err, os.ErrNotExist)
	switch {
	case err != nil && !fresh:
		return nil, nil, fmt.Errorf("data directory %s: %w", c.data, err)
	case fresh && !create:
		return nil, nil, fmt.Errorf("no database in data directory %s: start the server there ('dvs2s serve --data %s') or create a tenant first, or point --data (DVS2S_DATA) at the right directory", c.data, c.data)
	case fresh:
		if err := os.MkdirAll(c.data, 0o700); err != nil {
			return nil, nil, fmt.Errorf("data directory: %w", err)
		}
	}
	d := &directory.Directory{}
	if fresh || keys {
		if _, err := os.Stat(keyFile); !fresh && envKey == "" && errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s exists but %s does not: set DVS2S_MASTER_KEY to the master key the server uses, or restore master.key; refusing to create a new key, which would not match the secrets already stored", dbFile, keyFile)
		}
		master, err := secret.LoadOrCreateMaster(keyFile, envKey)
		if err != nil {
			return nil, nil, err
		}
		if d.Keys, err = secret.NewKeys(master); err != nil {
			return nil, nil, err
		}
	}
	db, err := sqlite.Open(c.ctx, dbFile)
	if err != nil {
		return nil, nil, err
	}
	d.Store = db
	return d, func() { db.Close() }, nil
}

// tenant finds a tenant by id, domain or (unique) short name.
func (c *adminCall) tenant(d *directory.Directory, ref string) (store.Tenant, error) {
	t, err := d.Store.Tenant(c.ctx, ref)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return t, err
	}
	ts, err := d.Store.ListTenants(c.ctx)
	if err != nil {
		return store.Tenant{}, err
	}
	var found []store.Tenant
	for _, t := range ts {
		if strings.EqualFold(t.Name, ref) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return store.Tenant{}, adminErr(store.ErrNotFound, "unknown tenant %q: give its id, domain or name ('dvs2s tenant list' shows them)", ref)
	default:
		return store.Tenant{}, adminErr(store.ErrConflict, "several tenants are named %q: give the id or domain instead", ref)
	}
}

// app finds an app registration by client id.
func (c *adminCall) app(d *directory.Directory, clientID string) (store.App, error) {
	a, err := d.Store.App(c.ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return a, adminErr(err, "unknown app %q: no app registration has this client id ('dvs2s app list' shows them)", clientID)
	}
	return a, err
}

// adminError is an error whose message is written for the user; it still
// wraps the underlying error (store.ErrNotFound, ...) for errors.Is.
type adminError struct {
	msg string
	err error
}

func (e *adminError) Error() string { return e.msg }
func (e *adminError) Unwrap() error { return e.err }

// adminErr returns an error with a message for the user that wraps err.
func adminErr(err error, format string, a ...any) error {
	return &adminError{msg: fmt.Sprintf(format, a...), err: err}
}

// listed is what a list command with an optional --tenant filter works on.
type listed struct {
	d       *directory.Directory
	tenant  string            // the filter's tenant id; "" for all tenants
	domains map[string]string // tenant ids to domains, for display
	close   func()
}

// openListed parses the arguments of a list command whose --tenant flag
// restricts it to one tenant,
// opens the directory and resolves the filter; usage is the flag's.
func (c *adminCall) openListed(args []string, usage string) (*listed, error) {
	fs := c.flags()
	tenant := fs.String("tenant", "", usage)
	if _, err := c.parse(args, 0); err != nil {
		return nil, err
	}
	d, closeDB, err := c.open(false, false)
	if err != nil {
		return nil, err
	}
	l := &listed{d: d, close: closeDB}
	if *tenant != "" {
		t, err := c.tenant(d, *tenant)
		if err != nil {
			closeDB()
			return nil, err
		}
		l.tenant = t.ID
	}
	if l.domains, err = c.tenantDomains(d); err != nil {
		closeDB()
		return nil, err
	}
	return l, nil
}

// tenantDomains maps tenant ids to domains, for display.
func (c *adminCall) tenantDomains(d *directory.Directory) (map[string]string, error) {
	ts, err := d.Store.ListTenants(c.ctx)
	m := map[string]string{}
	for _, t := range ts {
		m[t.ID] = t.Domain
	}
	return m, err
}

// printJSON writes v as indented JSON.
func (c *adminCall) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes an aligned table; with no rows it writes empty instead.
func (c *adminCall) table(empty string, header []string, rows [][]string) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(c.stdout, empty)
		return err
	}
	return adminTable(c.stdout, "", header, rows)
}

// adminTable writes header and rows aligned, each line prefixed by indent.
func adminTable(w io.Writer, indent string, header []string, rows [][]string) error {
	tw := newAdminTabWriter(w)
	for _, r := range append([][]string{header}, rows...) {
		fmt.Fprintln(tw, indent+strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// newAdminTabWriter returns the tab writer of every table.
func newAdminTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// adminTime formats a time for tables.
func adminTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// validity returns years*365 + days days, or def when both are zero.
func (c *adminCall) validity(years, days int, def time.Duration) (time.Duration, error) {
	if years < 0 || days < 0 {
		return 0, c.usage("--years and --days must not be negative")
	}
	if years == 0 && days == 0 {
		return def, nil
	}
	if years > 100 {
		return 0, c.usage("--years %d is more than 100", years)
	}
	return time.Duration(years*365+days) * 24 * time.Hour, nil
}
