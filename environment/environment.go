// Package environment manages Dataverse environments: the registry (each
// environment bound to one tenant, with its own base URL registered as a
// resource of that tenant), their databases and schemas, the rows every
// environment starts with (organization, root business unit, standard
// roles, default team), users kept in sync with the tenant's directory, and
// application users mapped to service principals.
package environment

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// Standard role templates (reference §5.1); role ids differ per
// environment, template ids do not.
const (
	TemplateSystemAdministrator = "627090ff-40a3-4053-8790-584edc5be201"
	TemplateBasicUser           = "236750cd-45ae-4939-ab12-b24b920ced93"
	TemplateDelegate            = "d892cc0b-28c7-4e88-bd92-72f2c366baed" // "Proxy"
)

// StandardRoles are seeded in every environment's root business unit.
var StandardRoles = []struct{ Name, Template string }{
	{"System Administrator", TemplateSystemAdministrator},
	{"Basic User", TemplateBasicUser},
	{"Delegate", TemplateDelegate},
}

// Manager opens and administers environments.
type Manager struct {
	Root      string      // directory of the environment databases
	Store     store.Store // registry, and the directory the environments' tenants live in
	Directory *directory.Directory
	Now       func() time.Time
	// OpenData opens an environment's rows; nil: the store's own OpenData
	// if it has one (PostgreSQL: a schema per environment), else the
	// SQLite file <Root>/<id>.db. See opendata.go.
	OpenData func(ctx context.Context, envID string) (store.Data, error)
	// ReadCache is the memory budget, in bytes, of the read cache of each
	// SQLite environment database (see store/sqlite): 0 means
	// sqlite.DefaultReadCache, negative none.
	ReadCache int64

	mu   sync.Mutex
	open map[string]*Env
	// seen remembers, by lower-case id or name, the environments whose
	// registry record Open read less than registryTTL ago.
	seen map[string]seenEnv
}

type seenEnv struct {
	env *Env
	at  time.Time
}

// registryTTL is how long Open trusts the registry record it last read for
// an environment: a change made by another process, or straight to the
// store, shows within this time (changes through the Manager, such as
// SetURL, show at once). Reading the record on every Web API request was a
// sixth of the CPU of a GET by id.
const registryTTL = time.Second

// Env is an open environment.
type Env struct {
	store.Environment
	Data   store.Data
	RootBU string // root business unit id
	System string // the SYSTEM user id

	m      *Manager
	schema atomic.Pointer[schema.Schema]
}

// Schema returns the environment's current schema.
func (e *Env) Schema() *schema.Schema { return e.schema.Load() }

// SetSchema replaces the schema (after a custom table was added).
func (e *Env) SetSchema(s *schema.Schema) { e.schema.Store(s) }

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

// ErrInvalid marks a bad argument.
var ErrInvalid = errors.New("invalid argument")

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

// Create registers a new environment of a tenant and provisions it. url is
// its base URL (the token audience).
func (m *Manager) Create(ctx context.Context, name, tenant, url string) (*Env, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("%w: environment name %q: use 1-40 lower-case letters, digits or hyphens, starting with a letter", ErrInvalid, name)
	}
	url = strings.TrimRight(url, "/")
	if err := checkURL(url); url != "" && err != nil {
		return nil, err
	}
	t, err := m.Directory.Tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	created, err := m.createdAt(ctx)
	if err != nil {
		return nil, err
	}
	e := store.Environment{ID: directory.NewID(), Name: name, TenantID: t.ID, URL: url, CreatedAt: created}
	if err := m.Store.CreateEnvironment(ctx, e); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("environment %s already exists: %w", name, err)
		}
		return nil, err
	}
	if url != "" {
		if err := m.register(ctx, e, ""); err != nil {
			return nil, err
		}
	}
	return m.Open(ctx, e.ID)
}

// checkURL accepts an absolute http(s) URL with a host: an environment's
// base URL (checked before anything is stored, so a refused URL leaves no
// half-created environment behind).
func checkURL(u string) error {
	p, err := neturl.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.RawQuery != "" || p.Fragment != "" || p.User != nil {
		return fmt.Errorf("%w: environment URL %q: use an absolute https URL such as https://localhost:8444", ErrInvalid, u)
	}
	return nil
}

// createdAt is the registry timestamp of a new environment. The server
// assigns ports in creation order (ListEnvironments orders by created_at,
// then id), so it keeps full precision and is always after the newest
// existing environment: two environments created within the same second
// must not be ordered by their random ids.
func (m *Manager) createdAt(ctx context.Context) (time.Time, error) {
	now := time.Now().UTC()
	if m.Now != nil {
		now = m.Now().UTC()
	}
	now = now.Truncate(time.Microsecond) // what every SQL engine keeps
	envs, err := m.Store.ListEnvironments(ctx)
	if err != nil {
		return now, err
	}
	for _, e := range envs {
		if !now.After(e.CreatedAt) {
			now = e.CreatedAt.Add(time.Microsecond)
		}
	}
	return now, nil
}

// register makes the environment URL a resource of its tenant, dropping
// the previous URL.
func (m *Manager) register(ctx context.Context, e store.Environment, old string) error {
	if old != "" && !strings.EqualFold(old, e.URL) {
		if err := m.Store.DeleteResource(ctx, e.TenantID, old); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	_, err := m.Directory.RegisterResource(ctx, e.TenantID, e.URL, directory.DataverseAppID, "Dataverse environment "+e.Name, 1)
	return err
}

// SetURL changes an environment's base URL (ports are assigned at start)
// and re-registers it as a resource.
func (m *Manager) SetURL(ctx context.Context, env *Env, url string) error {
	url = strings.TrimRight(url, "/")
	if err := checkURL(url); err != nil {
		return err
	}
	old := env.URL
	if old == url {
		return m.register(ctx, env.Environment, "")
	}
	env.URL = url
	if err := m.Store.UpdateEnvironment(ctx, env.Environment); err != nil {
		return err
	}
	return m.register(ctx, env.Environment, old)
}

// List lists the registered environments.
func (m *Manager) List(ctx context.Context) ([]store.Environment, error) {
	return m.Store.ListEnvironments(ctx)
}

// Open opens (and provisions, idempotently) an environment by id or name.
func (m *Manager) Open(ctx context.Context, idOrName string) (*Env, error) {
	key, now := strings.ToLower(idOrName), time.Now()
	m.mu.Lock()
	if s, ok := m.seen[key]; ok && now.Sub(s.at) < registryTTL && now.Sub(s.at) >= 0 {
		m.mu.Unlock()
		return s.env, nil
	}
	m.mu.Unlock()
	rec, err := m.Store.Environment(ctx, idOrName)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("environment %q: %w", idOrName, err)
		}
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open == nil {
		m.open = map[string]*Env{}
	}
	if e, ok := m.open[rec.ID]; ok {
		if err := e.refreshSchema(ctx); err != nil { // another process's custom tables
			return nil, err
		}
		if e.Environment != rec { // a URL or authority changed elsewhere
			e = e.withRecord(rec)
			m.open[rec.ID] = e
		}
		m.remember(key, e, now)
		return e, nil
	}
	data, err := m.openData(ctx, rec.ID)
	if err != nil {
		return nil, err
	}
	e := &Env{Environment: rec, Data: data, m: m}
	if err := e.provision(ctx); err != nil {
		closeData(data)
		return nil, fmt.Errorf("environment %s: %w", rec.Name, err)
	}
	m.open[rec.ID] = e
	m.remember(key, e, now)
	return e, nil
}

// withRecord returns a new Env for a changed registry record, sharing e's
// rows and schema: requests may still be reading e, so it is not changed
// in place.
func (e *Env) withRecord(rec store.Environment) *Env {
	n := e.WithData(e.Data)
	n.Environment = rec
	if v, ok := stamps.LoadAndDelete(e); ok {
		stamps.Store(n, v)
	}
	return n
}

// remember records that the registry record of e was read at now; m.mu is
// held.
func (m *Manager) remember(key string, e *Env, now time.Time) {
	if m.seen == nil || len(m.seen) >= 1024 {
		m.seen = map[string]seenEnv{}
	}
	m.seen[key] = seenEnv{env: e, at: now}
}

// Close closes every open environment.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for id, e := range m.open {
		errs = append(errs, closeData(e.Data))
		delete(m.open, id)
	}
	m.seen = nil
	return errors.Join(errs...)
}
