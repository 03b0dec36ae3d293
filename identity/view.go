package identity

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/dvs2s/dvs2s/store"
)

// view is a short-lived read cache of the directory in front of the store,
// for the token path: a token request reads the tenant, the app, its service
// principal, its credentials and the resource, and at thousands of requests
// a second those reads would cost as much as the RSA signature. Entries live
// ttl; flush drops them all (called on every change made in this process).
// Not-found answers are cached too.
type view struct {
	st  store.Store
	ttl time.Duration
	now func() time.Time

	mu sync.RWMutex
	m  map[string]entry
}

type entry struct {
	v   any
	err error
	exp time.Time
}

const viewMaxEntries = 50000

func newView(st store.Store, ttl time.Duration, now func() time.Time) *view {
	return &view{st: st, ttl: ttl, now: now, m: map[string]entry{}}
}

func (v *view) flush() {
	v.mu.Lock()
	v.m = map[string]entry{}
	v.mu.Unlock()
}

// get returns the cached value for key or loads it.
func get[T any](v *view, key string, load func() (T, error)) (T, error) {
	if v.ttl < 0 {
		return load()
	}
	now := v.now()
	v.mu.RLock()
	e, ok := v.m[key]
	v.mu.RUnlock()
	if ok && now.Before(e.exp) {
		t, _ := e.v.(T)
		return t, e.err
	}
	t, err := load()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return t, err // do not cache failures of the store itself
	}
	if errors.Is(err, store.ErrNotFound) {
		err = store.ErrNotFound
	}
	v.mu.Lock()
	if len(v.m) >= viewMaxEntries {
		v.m = map[string]entry{}
	}
	v.m[key] = entry{v: t, err: err, exp: now.Add(v.ttl)}
	v.mu.Unlock()
	return t, err
}

func (v *view) tenant(ctx context.Context, seg string) (store.Tenant, error) {
	return get(v, "t\x00"+seg, func() (store.Tenant, error) { return v.st.Tenant(ctx, seg) })
}

func (v *view) app(ctx context.Context, appID string) (store.App, error) {
	appID = strings.ToLower(appID)
	return get(v, "a\x00"+appID, func() (store.App, error) { return v.st.App(ctx, appID) })
}

func (v *view) sp(ctx context.Context, tenantID, appID string) (store.ServicePrincipal, error) {
	appID = strings.ToLower(appID)
	return get(v, "s\x00"+tenantID+"\x00"+appID, func() (store.ServicePrincipal, error) { return v.st.ServicePrincipal(ctx, tenantID, appID) })
}

func (v *view) passwords(ctx context.Context, appID string) ([]store.PasswordCredential, error) {
	return get(v, "p\x00"+appID, func() ([]store.PasswordCredential, error) { return v.st.Passwords(ctx, appID) })
}

func (v *view) certs(ctx context.Context, appID string) ([]store.KeyCredential, error) {
	return get(v, "k\x00"+appID, func() ([]store.KeyCredential, error) { return v.st.Keys(ctx, appID) })
}

func (v *view) resource(ctx context.Context, tenantID, uri string) (store.Resource, error) {
	key := strings.TrimRight(strings.ToLower(uri), "/")
	return get(v, "r\x00"+tenantID+"\x00"+key, func() (store.Resource, error) { return v.st.Resource(ctx, tenantID, uri) })
}

func (v *view) apps(ctx context.Context) ([]store.App, error) {
	return get(v, "A", func() ([]store.App, error) { return v.st.ListApps(ctx, "") })
}
