// Package storetest is the conformance suite every store.Store
// implementation runs, in the style of Dex's storage/conformance: one
// table-driven subtest per behaviour, each against a fresh, empty store.
//
// The suite speaks only through the store interfaces, so a new engine
// (store/postgres) runs it unchanged:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openEmpty(t) })
//	}
//
// The contract it pins down, beyond what store.go says:
//
//   - Records come back with every field as stored. Times keep at least
//     millisecond precision (the time zone may change; the instant may not),
//     and a zero time stays zero. Empty and nil lists are the same.
//   - GUIDs (tenant ids, app ids) and names (domains, UPNs, resource URIs) are
//     case-insensitive for lookups and for uniqueness.
//   - Creating a record twice, or a second record with the same unique name,
//     gets ErrConflict; creating a record that refers to a missing tenant or
//     app gets ErrNotFound.
//   - Reading, updating or deleting a record that does not exist gets
//     ErrNotFound (DeleteSession included).
//   - A certificate may be registered once per app (ErrConflict for the same
//     certificate again, as Entra refuses duplicate certificates).
//   - Signing-key rotation and grant redemption are atomic across
//     goroutines (and, for shared databases, across processes).
//   - The store interprets times only in SigningKeys (retired when RetireAt
//     <= now) and DeleteExpired (expired when ExpiresAt <= now).
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/store"
)

// Precision is how close a stored time must come back to the time given.
const Precision = time.Millisecond

// Run runs the conformance suite. open must return a new, empty store for
// each call and arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"Tenants/RoundTrip", testTenantRoundTrip},
		{"Tenants/LookupCaseInsensitive", testTenantLookup},
		{"Tenants/Conflicts", testTenantConflicts},
		{"Tenants/List", testTenantList},

		{"Users/RoundTrip", testUserRoundTrip},
		{"Users/NotFound", testUserNotFound},
		{"Users/Conflicts", testUserConflicts},
		{"Users/Update", testUserUpdate},
		{"Users/List", testUserList},

		{"Apps/RoundTrip", testAppRoundTrip},
		{"Apps/NilAndEmptyLists", testAppLists},
		{"Apps/NotFound", testAppNotFound},
		{"Apps/Conflicts", testAppConflicts},
		{"Apps/Update", testAppUpdate},
		{"Apps/List", testAppList},

		{"Passwords/RoundTrip", testPasswordRoundTrip},
		{"Passwords/Conflicts", testPasswordConflicts},
		{"Passwords/Remove", testPasswordRemove},

		{"Keys/RoundTrip", testKeyRoundTrip},
		{"Keys/Conflicts", testKeyConflicts},
		{"Keys/Remove", testKeyRemove},

		{"ServicePrincipals/RoundTrip", testSPRoundTrip},
		{"ServicePrincipals/Conflicts", testSPConflicts},
		{"ServicePrincipals/Update", testSPUpdate},
		{"ServicePrincipals/List", testSPList},

		{"Resources/RoundTrip", testResourceRoundTrip},
		{"Resources/Lookup", testResourceLookup},
		{"Resources/Upsert", testResourceUpsert},
		{"Resources/List", testResourceList},
		{"Resources/Delete", testResourceDelete},

		{"SigningKeys/RoundTrip", testSigningKeyRoundTrip},
		{"SigningKeys/NotBefore", testSigningKeyNotBefore},
		{"SigningKeys/Retirement", testSigningKeyRetirement},
		{"SigningKeys/ConcurrentRotation", testSigningKeyConcurrent},

		{"AuthCodes/RedeemOnce", testAuthCodeRedeem},
		{"AuthCodes/ConcurrentRedeem", testAuthCodeConcurrent},
		{"RefreshTokens/RedeemOnce", testRefreshTokenRedeem},
		{"RefreshTokens/ConcurrentRedeem", testRefreshTokenConcurrent},
		{"Sessions/Lifecycle", testSessions},
		{"Grants/DeleteExpired", testDeleteExpired},

		{"Environments/Lifecycle", testEnvironments},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.run(t, s)
		})
	}
}

// --- fixtures ---

// t0 has sub-millisecond digits, so a store that truncates to seconds (or
// keeps only milliseconds and rounds wrongly) is caught.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535_897_932, time.UTC)

// zone is a non-UTC zone: stores keep the instant, not the zone.
var zone = time.FixedZone("UTC+05:30", 5*3600+1800)

// guid returns a fixed, valid lower-case GUID for n.
func guid(kind string, n int) string {
	prefix := map[string]string{"tenant": "7e4a0000", "user": "05e40000", "app": "a9900000", "obj": "0b1e0000",
		"sp": "5e7f0000", "key": "ce7a0000", "pw": "9a550000"}[kind]
	if prefix == "" {
		panic("storetest: unknown guid kind " + kind)
	}
	return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, n)
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func ctxOf(t *testing.T) context.Context { return t.Context() }

func tenant(n int) store.Tenant {
	name := fmt.Sprintf("tenant%d", n)
	return store.Tenant{ID: guid("tenant", n), Name: name, Domain: name + ".onmicrosoft.com", CreatedAt: t0.Add(time.Duration(n) * time.Second)}
}

func user(tenantN, n int) store.User {
	return store.User{ObjectID: guid("user", n), TenantID: guid("tenant", tenantN),
		UPN:          fmt.Sprintf("user%d@tenant%d.onmicrosoft.com", n, tenantN),
		DisplayName:  fmt.Sprintf("User Number %d", n),
		PasswordHash: fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ%d$aGFzaGhhc2g", n),
		Admin:        n%2 == 0, Enabled: n%3 != 0, CreatedAt: t0.Add(time.Duration(n) * time.Minute).In(zone)}
}

func app(tenantN, n int) store.App {
	return store.App{AppID: guid("app", n), ObjectID: guid("obj", n), HomeTenantID: guid("tenant", tenantN),
		DisplayName: fmt.Sprintf("App %d", n), SignInAudience: store.AudienceMultiTenant,
		RedirectURIs:       []string{fmt.Sprintf("https://app%d.example/callback", n), "http://localhost:8080/auth/callback"},
		IdentifierURIs:     []string{fmt.Sprintf("api://app%d", n)},
		AccessTokenVersion: 2, CreatedAt: t0.Add(time.Duration(n) * time.Hour)}
}

func password(appN, n int) store.PasswordCredential {
	return store.PasswordCredential{KeyID: guid("pw", n), AppID: guid("app", appN), DisplayName: fmt.Sprintf("secret %d", n),
		Hint: "Ab~", Hash: hash(fmt.Sprintf("secret-%d", n)),
		Start: t0.Add(time.Duration(n) * time.Second), End: t0.Add(time.Duration(n)*time.Second + 365*24*time.Hour)}
}

func keyCred(appN, n int) store.KeyCredential {
	der := []byte(fmt.Sprintf("\x30\x82\x01\x00not really a certificate %d\x00\xff", n))
	s1 := sha256.Sum224(der) // any 20+ bytes will do; the store does not check
	s256 := sha256.Sum256(der)
	return store.KeyCredential{KeyID: guid("key", n), AppID: guid("app", appN), DisplayName: fmt.Sprintf("cert %d", n),
		CertDER: der, SHA1: s1[:20], SHA256: s256[:],
		Start: t0.Add(time.Duration(n) * time.Second), End: t0.Add(time.Duration(n)*time.Second + 2*365*24*time.Hour)}
}

func sp(tenantN, appN, n int) store.ServicePrincipal {
	return store.ServicePrincipal{ObjectID: guid("sp", n), TenantID: guid("tenant", tenantN), AppID: guid("app", appN),
		Enabled: true, CreatedAt: t0.Add(time.Duration(n) * time.Millisecond * 7)}
}

func resource(tenantN int, uri string) store.Resource {
	return store.Resource{TenantID: guid("tenant", tenantN), URI: uri, AppID: "00000007-0000-0000-c000-000000000000",
		DisplayName: "Resource " + uri, TokenVersion: 1, CreatedAt: t0.Add(42 * time.Millisecond)}
}

func signingKey(n int, created time.Time) store.SigningKey {
	return store.SigningKey{KID: fmt.Sprintf("kid-%d-Ab_-", n), PrivateKey: hash(fmt.Sprintf("sealed %d", n)),
		CertDER: []byte(fmt.Sprintf("cert %d", n)), CreatedAt: created, ActivateAt: created.Add(time.Hour),
		RetireAt: created.Add(30 * 24 * time.Hour)}
}

func authCode(n int, expires time.Time) store.AuthCode {
	return store.AuthCode{Hash: hash(fmt.Sprintf("code %d", n)), ClientID: guid("app", 1), TenantID: guid("tenant", 1),
		UserID: guid("user", 1), RedirectURI: "https://app.example/callback", Scope: "openid profile offline_access https://org.example/.default",
		Nonce: fmt.Sprintf("nonce-%d", n), Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", ChallengeMethod: "S256",
		AuthTime: t0.Add(-time.Minute), ExpiresAt: expires}
}

func refreshToken(n int, expires time.Time) store.RefreshToken {
	return store.RefreshToken{Hash: hash(fmt.Sprintf("refresh %d", n)), ClientID: guid("app", 1), TenantID: guid("tenant", 1),
		UserID: guid("user", 1), Scope: "openid offline_access", AuthTime: t0.Add(-time.Hour).In(zone), ExpiresAt: expires}
}

func session(n int, expires time.Time) store.Session {
	return store.Session{Hash: hash(fmt.Sprintf("session %d", n)), UserID: guid("user", 1), TenantID: guid("tenant", 1),
		AuthTime: t0.Add(-2 * time.Minute), ExpiresAt: expires}
}

// must fails the test when err is not nil.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr checks err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// check fails the test when got differs from want.
func check(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := Diff(want, got); d != "" {
		t.Errorf("%s: %s\n want %+v\n  got %+v", what, d, want, got)
	}
}

// setup creates tenants 1 and 2, users 1 (tenant 1) and 2 (tenant 2), and
// apps 1 (home tenant 1) and 2 (home tenant 2).
func setup(t *testing.T, s store.Store) {
	t.Helper()
	ctx := ctxOf(t)
	for n := 1; n <= 2; n++ {
		must(t, "CreateTenant", s.CreateTenant(ctx, tenant(n)))
		must(t, "CreateUser", s.CreateUser(ctx, user(n, n)))
		must(t, "CreateApp", s.CreateApp(ctx, app(n, n)))
	}
}

// Diff describes how got differs from want ("" if it does not): fields
// compared one by one, times to within Precision (zero stays zero), and
// nil and empty slices equal.
func Diff(want, got any) string {
	var out []string
	diffValue(&out, "", reflect.ValueOf(want), reflect.ValueOf(got))
	return strings.Join(out, "; ")
}

var timeType = reflect.TypeFor[time.Time]()

func diffValue(out *[]string, path string, w, g reflect.Value) {
	if w.Type() != g.Type() {
		*out = append(*out, fmt.Sprintf("%s: type %s, want %s", path, g.Type(), w.Type()))
		return
	}
	if w.Type() == timeType {
		wt, gt := w.Interface().(time.Time), g.Interface().(time.Time)
		d := wt.Sub(gt)
		if wt.IsZero() != gt.IsZero() || d >= Precision || d <= -Precision {
			*out = append(*out, fmt.Sprintf("%s: %s, want %s", path, gt.Format(time.RFC3339Nano), wt.Format(time.RFC3339Nano)))
		}
		return
	}
	switch w.Kind() {
	case reflect.Struct:
		for i := range w.NumField() {
			diffValue(out, path+"."+w.Type().Field(i).Name, w.Field(i), g.Field(i))
		}
	case reflect.Slice:
		if w.Len() == 0 && g.Len() == 0 {
			return
		}
		if w.Len() != g.Len() {
			*out = append(*out, fmt.Sprintf("%s: %d elements, want %d", path, g.Len(), w.Len()))
			return
		}
		for i := range w.Len() {
			diffValue(out, fmt.Sprintf("%s[%d]", path, i), w.Index(i), g.Index(i))
		}
	default:
		if !w.Equal(g) {
			*out = append(*out, fmt.Sprintf("%s: %v, want %v", path, g.Interface(), w.Interface()))
		}
	}
}

// sorted returns v sorted by key, so lists compare whatever order a store
// returns them in.
func sorted[T any](v []T, key func(T) string) []T {
	v = slices.Clone(v)
	slices.SortFunc(v, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return v
}

func tenantKey(t store.Tenant) string         { return t.ID }
func userKey(u store.User) string             { return u.ObjectID }
func appKey(a store.App) string               { return a.AppID }
func pwKey(p store.PasswordCredential) string { return p.KeyID }
func keyKey(k store.KeyCredential) string     { return k.KeyID }
func spKey(sp store.ServicePrincipal) string  { return sp.TenantID + "/" + sp.AppID }
func resKey(r store.Resource) string          { return r.TenantID + "/" + r.URI }
func checkList[T any](t *testing.T, what string, want, got []T, key func(T) string) {
	t.Helper()
	check(t, what, sorted(want, key), sorted(got, key))
}

// --- tenants ---

func testTenantRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	want := tenant(1)
	want.CreatedAt = want.CreatedAt.In(zone)
	must(t, "CreateTenant", s.CreateTenant(ctx, want))
	got, err := s.Tenant(ctx, want.ID)
	must(t, "Tenant", err)
	check(t, "Tenant by id", want, got)
	got, err = s.Tenant(ctx, want.Domain)
	must(t, "Tenant by domain", err)
	check(t, "Tenant by domain", want, got)
}

func testTenantLookup(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	a, b := tenant(1), tenant(2)
	must(t, "CreateTenant", s.CreateTenant(ctx, a))
	must(t, "CreateTenant", s.CreateTenant(ctx, b))
	for _, tc := range []struct {
		key  string
		want store.Tenant
	}{
		{a.ID, a},
		{strings.ToUpper(a.ID), a},
		{a.Domain, a},
		{strings.ToUpper(a.Domain), a},
		{"Tenant2.OnMicrosoft.COM", b},
		{strings.ToUpper(b.ID), b},
	} {
		got, err := s.Tenant(ctx, tc.key)
		if err != nil {
			t.Errorf("Tenant(%q): %v", tc.key, err)
			continue
		}
		check(t, fmt.Sprintf("Tenant(%q)", tc.key), tc.want, got)
	}
	for _, key := range []string{"", guid("tenant", 3), "tenant3.onmicrosoft.com", "tenant1", "onmicrosoft.com", "%", "tenant1.onmicrosoft.com.evil"} {
		_, err := s.Tenant(ctx, key)
		wantErr(t, fmt.Sprintf("Tenant(%q)", key), err, store.ErrNotFound)
	}
}

func testTenantConflicts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	a := tenant(1)
	must(t, "CreateTenant", s.CreateTenant(ctx, a))
	sameID := tenant(2)
	sameID.ID = a.ID
	upperID := tenant(3)
	upperID.ID = strings.ToUpper(a.ID)
	sameDomain := tenant(4)
	sameDomain.Domain = a.Domain
	upperDomain := tenant(5)
	upperDomain.Domain = strings.ToUpper(a.Domain)
	for name, tt := range map[string]store.Tenant{"same record": a, "same id": sameID, "same id upper case": upperID,
		"same domain": sameDomain, "same domain upper case": upperDomain} {
		wantErr(t, "CreateTenant "+name, s.CreateTenant(ctx, tt), store.ErrConflict)
	}
	ts, err := s.ListTenants(ctx)
	must(t, "ListTenants", err)
	checkList(t, "ListTenants after conflicts", []store.Tenant{a}, ts, tenantKey)
}

func testTenantList(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	ts, err := s.ListTenants(ctx)
	must(t, "ListTenants (empty)", err)
	if len(ts) != 0 {
		t.Errorf("ListTenants of an empty store: %+v", ts)
	}
	var want []store.Tenant
	for _, n := range []int{3, 1, 2} {
		tt := tenant(n)
		must(t, "CreateTenant", s.CreateTenant(ctx, tt))
		want = append(want, tt)
	}
	ts, err = s.ListTenants(ctx)
	must(t, "ListTenants", err)
	checkList(t, "ListTenants", want, ts, tenantKey)
}

// --- users ---

func testUserRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, "CreateTenant", s.CreateTenant(ctx, tenant(1)))
	// Every combination of the two flags.
	for n := 1; n <= 4; n++ {
		u := user(1, n)
		u.Admin, u.Enabled = n&1 != 0, n&2 != 0
		must(t, "CreateUser", s.CreateUser(ctx, u))
		got, err := s.User(ctx, u.ObjectID)
		must(t, "User", err)
		check(t, "User", u, got)
		got, err = s.UserByUPN(ctx, u.UPN)
		must(t, "UserByUPN", err)
		check(t, "UserByUPN", u, got)
		got, err = s.UserByUPN(ctx, strings.ToUpper(u.UPN))
		must(t, "UserByUPN upper case", err)
		check(t, "UserByUPN upper case", u, got)
	}
}

func testUserNotFound(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	_, err := s.User(ctx, guid("user", 99))
	wantErr(t, "User missing", err, store.ErrNotFound)
	_, err = s.User(ctx, "")
	wantErr(t, "User empty id", err, store.ErrNotFound)
	_, err = s.UserByUPN(ctx, "nobody@tenant1.onmicrosoft.com")
	wantErr(t, "UserByUPN missing", err, store.ErrNotFound)
	_, err = s.UserByUPN(ctx, "user1@tenant1.onmicrosoft")
	wantErr(t, "UserByUPN prefix", err, store.ErrNotFound)
	wantErr(t, "UpdateUser missing", s.UpdateUser(ctx, user(1, 99)), store.ErrNotFound)
	wantErr(t, "CreateUser in a missing tenant", s.CreateUser(ctx, user(9, 9)), store.ErrNotFound)
	if _, err := s.User(ctx, guid("user", 9)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a user of a missing tenant was stored: %v", err)
	}
}

func testUserConflicts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	u1 := user(1, 1)
	sameID := user(1, 3)
	sameID.ObjectID = u1.ObjectID
	sameUPN := user(1, 4)
	sameUPN.UPN = strings.ToUpper(u1.UPN)
	otherTenantSameUPN := user(2, 5)
	otherTenantSameUPN.UPN = u1.UPN
	for name, u := range map[string]store.User{"same record": u1, "same object id": sameID,
		"same UPN upper case": sameUPN, "same UPN in another tenant": otherTenantSameUPN} {
		wantErr(t, "CreateUser "+name, s.CreateUser(ctx, u), store.ErrConflict)
	}
	got, err := s.User(ctx, u1.ObjectID)
	must(t, "User", err)
	check(t, "User after conflicts", u1, got)
}

func testUserUpdate(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	u := user(1, 1)
	u.UPN = "renamed@tenant1.onmicrosoft.com"
	u.DisplayName = "Renamed User"
	u.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA"
	u.Admin, u.Enabled = !u.Admin, !u.Enabled
	must(t, "UpdateUser", s.UpdateUser(ctx, u))
	got, err := s.User(ctx, u.ObjectID)
	must(t, "User", err)
	check(t, "User after update", u, got)
	got, err = s.UserByUPN(ctx, "Renamed@Tenant1.onmicrosoft.com")
	must(t, "UserByUPN new UPN", err)
	check(t, "UserByUPN new UPN", u, got)
	_, err = s.UserByUPN(ctx, user(1, 1).UPN)
	wantErr(t, "UserByUPN old UPN", err, store.ErrNotFound)

	// Taking another user's UPN conflicts and changes nothing.
	u2 := user(2, 2)
	steal := u2
	steal.UPN = strings.ToUpper(u.UPN)
	steal.DisplayName = "Thief"
	wantErr(t, "UpdateUser to a taken UPN", s.UpdateUser(ctx, steal), store.ErrConflict)
	got, err = s.User(ctx, u2.ObjectID)
	must(t, "User", err)
	check(t, "User after refused update", u2, got)
}

func testUserList(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	want1 := []store.User{user(1, 1)}
	for n := 3; n <= 5; n++ {
		u := user(1, n)
		must(t, "CreateUser", s.CreateUser(ctx, u))
		want1 = append(want1, u)
	}
	got, err := s.ListUsers(ctx, guid("tenant", 1))
	must(t, "ListUsers", err)
	checkList(t, "ListUsers tenant 1", want1, got, userKey)
	got, err = s.ListUsers(ctx, guid("tenant", 2))
	must(t, "ListUsers", err)
	checkList(t, "ListUsers tenant 2", []store.User{user(2, 2)}, got, userKey)
	must(t, "CreateTenant", s.CreateTenant(ctx, tenant(3)))
	got, err = s.ListUsers(ctx, guid("tenant", 3))
	must(t, "ListUsers of a tenant without users", err)
	if len(got) != 0 {
		t.Errorf("ListUsers of a tenant without users: %+v", got)
	}
}

// --- apps ---

func testAppRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, "CreateTenant", s.CreateTenant(ctx, tenant(1)))
	multi := app(1, 1)
	single := app(1, 2)
	single.SignInAudience = store.AudienceSingleTenant
	single.AccessTokenVersion = 0
	single.RedirectURIs = []string{"https://b.example/2", "https://a.example/1", "https://c.example/3"} // order kept
	single.CreatedAt = single.CreatedAt.In(zone)
	for _, a := range []store.App{multi, single} {
		must(t, "CreateApp", s.CreateApp(ctx, a))
		got, err := s.App(ctx, a.AppID)
		must(t, "App", err)
		check(t, "App", a, got)
		got, err = s.App(ctx, strings.ToUpper(a.AppID))
		must(t, "App upper case", err)
		check(t, "App upper case", a, got)
		if got.MultiTenant() != (a.SignInAudience == store.AudienceMultiTenant) {
			t.Errorf("MultiTenant() = %v for %s", got.MultiTenant(), got.SignInAudience)
		}
	}
}

func testAppLists(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, "CreateTenant", s.CreateTenant(ctx, tenant(1)))
	for i, lists := range [][2][]string{{nil, nil}, {{}, {}}, {nil, {"api://x"}}, {{"https://x.example/cb"}, nil}} {
		a := app(1, i+1)
		a.RedirectURIs, a.IdentifierURIs = lists[0], lists[1]
		must(t, "CreateApp", s.CreateApp(ctx, a))
		got, err := s.App(ctx, a.AppID)
		must(t, "App", err)
		check(t, fmt.Sprintf("App with lists %q", lists), a, got)
	}
}

func testAppNotFound(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	_, err := s.App(ctx, guid("app", 99))
	wantErr(t, "App missing", err, store.ErrNotFound)
	_, err = s.App(ctx, "")
	wantErr(t, "App empty id", err, store.ErrNotFound)
	wantErr(t, "UpdateApp missing", s.UpdateApp(ctx, app(1, 99)), store.ErrNotFound)
	wantErr(t, "CreateApp in a missing tenant", s.CreateApp(ctx, app(9, 9)), store.ErrNotFound)
	if _, err := s.App(ctx, guid("app", 9)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an app of a missing tenant was stored: %v", err)
	}
}

func testAppConflicts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	a := app(1, 1)
	sameID := app(2, 3)
	sameID.AppID = strings.ToUpper(a.AppID)
	sameObject := app(1, 4)
	sameObject.ObjectID = a.ObjectID
	for name, x := range map[string]store.App{"same record": a, "same app id upper case": sameID, "same object id": sameObject} {
		wantErr(t, "CreateApp "+name, s.CreateApp(ctx, x), store.ErrConflict)
	}
	got, err := s.App(ctx, a.AppID)
	must(t, "App", err)
	check(t, "App after conflicts", a, got)
}

func testAppUpdate(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	a := app(1, 1)
	a.DisplayName = "Renamed"
	a.SignInAudience = store.AudienceSingleTenant
	a.RedirectURIs = append(a.RedirectURIs, "https://new.example/cb")
	a.IdentifierURIs = nil
	a.AccessTokenVersion = 1
	must(t, "UpdateApp", s.UpdateApp(ctx, a))
	got, err := s.App(ctx, a.AppID)
	must(t, "App", err)
	check(t, "App after update", a, got)

	b := app(2, 2)
	b.AppID = strings.ToUpper(b.AppID)
	b.RedirectURIs = nil
	must(t, "UpdateApp by upper-case id", s.UpdateApp(ctx, b))
	got, err = s.App(ctx, b.AppID)
	must(t, "App", err)
	b.AppID = strings.ToLower(b.AppID)
	check(t, "App after update by upper-case id", b, got)
}

func testAppList(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	a3 := app(1, 3)
	must(t, "CreateApp", s.CreateApp(ctx, a3))
	got, err := s.ListApps(ctx, "")
	must(t, "ListApps all", err)
	checkList(t, "ListApps all", []store.App{app(1, 1), app(2, 2), a3}, got, appKey)
	got, err = s.ListApps(ctx, guid("tenant", 1))
	must(t, "ListApps tenant 1", err)
	checkList(t, "ListApps tenant 1", []store.App{app(1, 1), a3}, got, appKey)
	got, err = s.ListApps(ctx, guid("tenant", 2))
	must(t, "ListApps tenant 2", err)
	checkList(t, "ListApps tenant 2", []store.App{app(2, 2)}, got, appKey)
	got, err = s.ListApps(ctx, guid("tenant", 9))
	must(t, "ListApps missing tenant", err)
	if len(got) != 0 {
		t.Errorf("ListApps of a missing tenant: %+v", got)
	}
}

// --- password credentials ---

func testPasswordRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	p1, p2, p3 := password(1, 1), password(1, 2), password(2, 3)
	p2.Start, p2.End = p2.Start.In(zone), p2.End.In(zone)
	p2.AppID = strings.ToUpper(p2.AppID) // app ids are case-insensitive
	for _, p := range []store.PasswordCredential{p1, p2, p3} {
		must(t, "AddPassword", s.AddPassword(ctx, p))
	}
	p2.AppID = strings.ToLower(p2.AppID)
	got, err := s.Passwords(ctx, guid("app", 1))
	must(t, "Passwords", err)
	checkList(t, "Passwords app 1", []store.PasswordCredential{p1, p2}, got, pwKey)
	got, err = s.Passwords(ctx, strings.ToUpper(guid("app", 2)))
	must(t, "Passwords upper case", err)
	checkList(t, "Passwords app 2", []store.PasswordCredential{p3}, got, pwKey)

	must(t, "CreateApp", s.CreateApp(ctx, app(1, 4)))
	got, err = s.Passwords(ctx, guid("app", 4))
	must(t, "Passwords of an app without secrets", err)
	if len(got) != 0 {
		t.Errorf("Passwords of an app without secrets: %+v", got)
	}
}

func testPasswordConflicts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	p := password(1, 1)
	must(t, "AddPassword", s.AddPassword(ctx, p))
	wantErr(t, "AddPassword same key id", s.AddPassword(ctx, password(1, 1)), store.ErrConflict)
	other := password(2, 1) // same key id on another app
	wantErr(t, "AddPassword same key id on another app", s.AddPassword(ctx, other), store.ErrConflict)
	wantErr(t, "AddPassword for a missing app", s.AddPassword(ctx, password(9, 9)), store.ErrNotFound)
	got, err := s.Passwords(ctx, guid("app", 1))
	must(t, "Passwords", err)
	checkList(t, "Passwords after conflicts", []store.PasswordCredential{p}, got, pwKey)
	got, _ = s.Passwords(ctx, guid("app", 9))
	if len(got) != 0 {
		t.Errorf("a secret of a missing app was stored: %+v", got)
	}
}

func testPasswordRemove(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	p1, p2 := password(1, 1), password(1, 2)
	must(t, "AddPassword", s.AddPassword(ctx, p1))
	must(t, "AddPassword", s.AddPassword(ctx, p2))
	wantErr(t, "RemovePassword through another app", s.RemovePassword(ctx, guid("app", 2), p1.KeyID), store.ErrNotFound)
	wantErr(t, "RemovePassword of a missing app", s.RemovePassword(ctx, guid("app", 9), p1.KeyID), store.ErrNotFound)
	wantErr(t, "RemovePassword missing key", s.RemovePassword(ctx, p1.AppID, guid("pw", 9)), store.ErrNotFound)
	must(t, "RemovePassword", s.RemovePassword(ctx, strings.ToUpper(p1.AppID), p1.KeyID))
	wantErr(t, "RemovePassword twice", s.RemovePassword(ctx, p1.AppID, p1.KeyID), store.ErrNotFound)
	got, err := s.Passwords(ctx, p1.AppID)
	must(t, "Passwords", err)
	checkList(t, "Passwords after remove", []store.PasswordCredential{p2}, got, pwKey)
}

// --- key credentials ---

func testKeyRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	k1, k2, k3 := keyCred(1, 1), keyCred(1, 2), keyCred(2, 3)
	k2.Start = k2.Start.In(zone)
	k2.AppID = strings.ToUpper(k2.AppID)
	for _, k := range []store.KeyCredential{k1, k2, k3} {
		must(t, "AddKey", s.AddKey(ctx, k))
	}
	k2.AppID = strings.ToLower(k2.AppID)
	got, err := s.Keys(ctx, guid("app", 1))
	must(t, "Keys", err)
	checkList(t, "Keys app 1", []store.KeyCredential{k1, k2}, got, keyKey)
	got, err = s.Keys(ctx, strings.ToUpper(guid("app", 2)))
	must(t, "Keys upper case", err)
	checkList(t, "Keys app 2", []store.KeyCredential{k3}, got, keyKey)

	must(t, "CreateApp", s.CreateApp(ctx, app(1, 4)))
	got, err = s.Keys(ctx, guid("app", 4))
	must(t, "Keys of an app without certificates", err)
	if len(got) != 0 {
		t.Errorf("Keys of an app without certificates: %+v", got)
	}
}

func testKeyConflicts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	k := keyCred(1, 1)
	must(t, "AddKey", s.AddKey(ctx, k))
	sameID := keyCred(1, 2)
	sameID.KeyID = k.KeyID
	wantErr(t, "AddKey same key id", s.AddKey(ctx, sameID), store.ErrConflict)
	sameCert := keyCred(1, 1)
	sameCert.KeyID = guid("key", 3)
	wantErr(t, "AddKey same certificate again", s.AddKey(ctx, sameCert), store.ErrConflict)
	wantErr(t, "AddKey for a missing app", s.AddKey(ctx, keyCred(9, 9)), store.ErrNotFound)
	got, err := s.Keys(ctx, k.AppID)
	must(t, "Keys", err)
	checkList(t, "Keys after conflicts", []store.KeyCredential{k}, got, keyKey)

	// The same certificate may serve another app.
	shared := keyCred(2, 1)
	shared.KeyID = guid("key", 4)
	must(t, "AddKey same certificate on another app", s.AddKey(ctx, shared))
}

func testKeyRemove(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	k1, k2 := keyCred(1, 1), keyCred(1, 2)
	must(t, "AddKey", s.AddKey(ctx, k1))
	must(t, "AddKey", s.AddKey(ctx, k2))
	wantErr(t, "RemoveKey through another app", s.RemoveKey(ctx, guid("app", 2), k1.KeyID), store.ErrNotFound)
	wantErr(t, "RemoveKey of a missing app", s.RemoveKey(ctx, guid("app", 9), k1.KeyID), store.ErrNotFound)
	wantErr(t, "RemoveKey missing key", s.RemoveKey(ctx, k1.AppID, guid("key", 9)), store.ErrNotFound)
	must(t, "RemoveKey", s.RemoveKey(ctx, strings.ToUpper(k1.AppID), k1.KeyID))
	wantErr(t, "RemoveKey twice", s.RemoveKey(ctx, k1.AppID, k1.KeyID), store.ErrNotFound)
	got, err := s.Keys(ctx, k1.AppID)
	must(t, "Keys", err)
	checkList(t, "Keys after remove", []store.KeyCredential{k2}, got, keyKey)
	// A removed certificate may be registered again.
	must(t, "AddKey after remove", s.AddKey(ctx, k1))
}

// --- service principals ---

func testSPRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	home, guest := sp(1, 1, 1), sp(2, 1, 2)
	guest.Enabled = false
	guest.CreatedAt = guest.CreatedAt.In(zone)
	for _, x := range []store.ServicePrincipal{home, guest} {
		must(t, "CreateServicePrincipal", s.CreateServicePrincipal(ctx, x))
		got, err := s.ServicePrincipal(ctx, x.TenantID, x.AppID)
		must(t, "ServicePrincipal", err)
		check(t, "ServicePrincipal", x, got)
		got, err = s.ServicePrincipal(ctx, x.TenantID, strings.ToUpper(x.AppID))
		must(t, "ServicePrincipal upper-case app id", err)
		check(t, "ServicePrincipal upper-case app id", x, got)
	}
	for _, k := range [][2]string{{guid("tenant", 2), guid("app", 2)}, {guid("tenant", 9), guid("app", 1)}, {guid("tenant", 1), guid("app", 9)}, {"", ""}} {
		_, err := s.ServicePrincipal(ctx, k[0], k[1])
		wantErr(t, fmt.Sprintf("ServicePrincipal(%s, %s)", k[0], k[1]), err, store.ErrNotFound)
	}
}

func testSPConflicts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	x := sp(1, 1, 1)
	must(t, "CreateServicePrincipal", s.CreateServicePrincipal(ctx, x))
	sameTenantApp := sp(1, 1, 2)
	sameTenantApp.AppID = strings.ToUpper(sameTenantApp.AppID)
	sameObject := sp(2, 2, 1)
	for name, y := range map[string]store.ServicePrincipal{"same record": x, "same tenant and app": sameTenantApp, "same object id": sameObject} {
		wantErr(t, "CreateServicePrincipal "+name, s.CreateServicePrincipal(ctx, y), store.ErrConflict)
	}
	wantErr(t, "CreateServicePrincipal in a missing tenant", s.CreateServicePrincipal(ctx, sp(9, 1, 3)), store.ErrNotFound)
	wantErr(t, "CreateServicePrincipal of a missing app", s.CreateServicePrincipal(ctx, sp(1, 9, 4)), store.ErrNotFound)
	got, err := s.ListServicePrincipals(ctx, "")
	must(t, "ListServicePrincipals", err)
	checkList(t, "ListServicePrincipals after conflicts", []store.ServicePrincipal{x}, got, spKey)
}

func testSPUpdate(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	x := sp(2, 1, 1)
	must(t, "CreateServicePrincipal", s.CreateServicePrincipal(ctx, x))
	for _, enabled := range []bool{false, true, false} {
		x.Enabled = enabled
		must(t, "UpdateServicePrincipal", s.UpdateServicePrincipal(ctx, x))
		got, err := s.ServicePrincipal(ctx, x.TenantID, x.AppID)
		must(t, "ServicePrincipal", err)
		check(t, fmt.Sprintf("ServicePrincipal after update enabled=%v", enabled), x, got)
	}
	wantErr(t, "UpdateServicePrincipal missing", s.UpdateServicePrincipal(ctx, sp(1, 2, 9)), store.ErrNotFound)
}

func testSPList(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	a, b, c := sp(1, 1, 1), sp(2, 2, 2), sp(2, 1, 3)
	for _, x := range []store.ServicePrincipal{a, b, c} {
		must(t, "CreateServicePrincipal", s.CreateServicePrincipal(ctx, x))
	}
	got, err := s.ListServicePrincipals(ctx, "")
	must(t, "ListServicePrincipals all", err)
	checkList(t, "ListServicePrincipals all", []store.ServicePrincipal{a, b, c}, got, spKey)
	got, err = s.ListServicePrincipals(ctx, guid("tenant", 2))
	must(t, "ListServicePrincipals tenant 2", err)
	checkList(t, "ListServicePrincipals tenant 2", []store.ServicePrincipal{b, c}, got, spKey)
	got, err = s.ListServicePrincipals(ctx, guid("tenant", 9))
	must(t, "ListServicePrincipals missing tenant", err)
	if len(got) != 0 {
		t.Errorf("ListServicePrincipals of a missing tenant: %+v", got)
	}
}

// --- resources ---

func testResourceRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	r1 := resource(1, "https://org1.crm.dynamics.com")
	r2 := resource(1, "api://Some-Api")
	r2.AppID = guid("app", 2)
	r2.TokenVersion = 2
	r2.CreatedAt = r2.CreatedAt.In(zone)
	for _, r := range []store.Resource{r1, r2} {
		must(t, "PutResource", s.PutResource(ctx, r))
		got, err := s.Resource(ctx, r.TenantID, r.URI)
		must(t, "Resource", err)
		check(t, "Resource", r, got)
	}
	wantErr(t, "PutResource in a missing tenant", s.PutResource(ctx, resource(9, "https://x.example")), store.ErrNotFound)
}

func testResourceLookup(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	r := resource(1, "https://Org1.crm.dynamics.com")
	must(t, "PutResource", s.PutResource(ctx, r))
	for _, uri := range []string{r.URI, "https://org1.crm.dynamics.com", "HTTPS://ORG1.CRM.DYNAMICS.COM", "https://org1.crm.dynamics.com/", "HTTPS://org1.CRM.dynamics.com/"} {
		got, err := s.Resource(ctx, r.TenantID, uri)
		if err != nil {
			t.Errorf("Resource(%q): %v", uri, err)
			continue
		}
		check(t, fmt.Sprintf("Resource(%q)", uri), r, got)
	}
	for _, k := range [][2]string{
		{guid("tenant", 2), r.URI}, // another tenant
		{guid("tenant", 1), "https://org1.crm.dynamics.com/api"},
		{guid("tenant", 1), "https://org1.crm.dynamics"},
		{guid("tenant", 1), "http://org1.crm.dynamics.com"},
		{guid("tenant", 1), ""},
	} {
		_, err := s.Resource(ctx, k[0], k[1])
		wantErr(t, fmt.Sprintf("Resource(%s, %q)", k[0], k[1]), err, store.ErrNotFound)
	}
}

func testResourceUpsert(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	r := resource(1, "https://org1.crm.dynamics.com")
	must(t, "PutResource", s.PutResource(ctx, r))
	other := resource(2, "https://org1.crm.dynamics.com") // same URI, other tenant: its own record
	must(t, "PutResource other tenant", s.PutResource(ctx, other))

	// Same tenant and URI, spelled differently: replaces the record.
	r2 := r
	r2.URI = "https://ORG1.crm.dynamics.com"
	r2.AppID = guid("app", 1)
	r2.DisplayName = "Replaced"
	r2.TokenVersion = 2
	must(t, "PutResource again", s.PutResource(ctx, r2))
	got, err := s.Resource(ctx, r.TenantID, r.URI)
	must(t, "Resource", err)
	// Whether a replacement keeps the first CreatedAt is not specified.
	r2.CreatedAt = got.CreatedAt
	check(t, "Resource after upsert", r2, got)
	list, err := s.ListResources(ctx, r.TenantID)
	must(t, "ListResources", err)
	checkList(t, "ListResources after upsert", []store.Resource{r2}, list, resKey)
	got, err = s.Resource(ctx, other.TenantID, other.URI)
	must(t, "Resource other tenant", err)
	check(t, "Resource of the other tenant after upsert", other, got)
}

func testResourceList(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	got, err := s.ListResources(ctx, "")
	must(t, "ListResources empty", err)
	if len(got) != 0 {
		t.Errorf("ListResources of an empty store: %+v", got)
	}
	a, b, c := resource(1, "https://a.example"), resource(1, "https://b.example"), resource(2, "https://c.example")
	for _, r := range []store.Resource{a, b, c} {
		must(t, "PutResource", s.PutResource(ctx, r))
	}
	got, err = s.ListResources(ctx, "")
	must(t, "ListResources all", err)
	checkList(t, "ListResources all", []store.Resource{a, b, c}, got, resKey)
	got, err = s.ListResources(ctx, guid("tenant", 1))
	must(t, "ListResources tenant 1", err)
	checkList(t, "ListResources tenant 1", []store.Resource{a, b}, got, resKey)
	got, err = s.ListResources(ctx, guid("tenant", 9))
	must(t, "ListResources missing tenant", err)
	if len(got) != 0 {
		t.Errorf("ListResources of a missing tenant: %+v", got)
	}
}

func testResourceDelete(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	setup(t, s)
	a, b := resource(1, "https://a.example"), resource(2, "https://a.example")
	must(t, "PutResource", s.PutResource(ctx, a))
	must(t, "PutResource", s.PutResource(ctx, b))
	wantErr(t, "DeleteResource missing", s.DeleteResource(ctx, a.TenantID, "https://z.example"), store.ErrNotFound)
	wantErr(t, "DeleteResource missing tenant", s.DeleteResource(ctx, guid("tenant", 9), a.URI), store.ErrNotFound)
	must(t, "DeleteResource", s.DeleteResource(ctx, a.TenantID, "HTTPS://A.example/"))
	_, err := s.Resource(ctx, a.TenantID, a.URI)
	wantErr(t, "Resource after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteResource twice", s.DeleteResource(ctx, a.TenantID, a.URI), store.ErrNotFound)
	got, err := s.Resource(ctx, b.TenantID, b.URI)
	must(t, "Resource of the other tenant", err)
	check(t, "Resource of the other tenant after delete", b, got)
}

// --- signing keys ---

func testSigningKeyRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	got, err := s.SigningKeys(ctx, t0)
	must(t, "SigningKeys empty", err)
	if len(got) != 0 {
		t.Errorf("SigningKeys of an empty store: %+v", got)
	}
	k := signingKey(1, t0.In(zone))
	must(t, "AddSigningKey", s.AddSigningKey(ctx, k, time.Time{}))
	got, err = s.SigningKeys(ctx, t0)
	must(t, "SigningKeys", err)
	check(t, "SigningKeys", []store.SigningKey{k}, got)
}

func testSigningKeyNotBefore(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	k1 := signingKey(1, t0)
	must(t, "AddSigningKey first key", s.AddSigningKey(ctx, k1, time.Time{}))
	// Zero notBefore: any existing key was created after it.
	wantErr(t, "AddSigningKey with zero notBefore over a key", s.AddSigningKey(ctx, signingKey(2, t0.Add(time.Hour)), time.Time{}), store.ErrConflict)
	// notBefore before k1's creation: k1 was created after it.
	wantErr(t, "AddSigningKey notBefore before the newest key", s.AddSigningKey(ctx, signingKey(2, t0.Add(time.Hour)), t0.Add(-time.Millisecond)), store.ErrConflict)
	// notBefore equal to k1's creation: k1 is not after it.
	k2 := signingKey(2, t0.Add(time.Hour))
	must(t, "AddSigningKey notBefore = newest key", s.AddSigningKey(ctx, k2, k1.CreatedAt))
	// A second rotator that saw only k1 loses.
	wantErr(t, "AddSigningKey by a rotator that missed k2", s.AddSigningKey(ctx, signingKey(3, t0.Add(2*time.Hour)), k1.CreatedAt), store.ErrConflict)
	// The same kid again conflicts too.
	dup := signingKey(2, t0.Add(3*time.Hour))
	wantErr(t, "AddSigningKey same kid", s.AddSigningKey(ctx, dup, t0.Add(3*time.Hour)), store.ErrConflict)
	k3 := signingKey(3, t0.Add(4*time.Hour))
	must(t, "AddSigningKey later", s.AddSigningKey(ctx, k3, t0.Add(3*time.Hour)))
	got, err := s.SigningKeys(ctx, t0)
	must(t, "SigningKeys", err)
	check(t, "SigningKeys newest first", []store.SigningKey{k3, k2, k1}, got)
}

func testSigningKeyRetirement(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var keys []store.SigningKey // newest first
	for n := 1; n <= 4; n++ {
		k := signingKey(n, t0.Add(time.Duration(n)*24*time.Hour))
		k.RetireAt = t0.Add(time.Duration(n) * 10 * 24 * time.Hour) // 10, 20, 30, 40 days
		notBefore := time.Time{}
		if n > 1 {
			notBefore = keys[0].CreatedAt
		}
		must(t, "AddSigningKey", s.AddSigningKey(ctx, k, notBefore))
		keys = append([]store.SigningKey{k}, keys...)
	}
	day := 24 * time.Hour
	for _, tc := range []struct {
		now  time.Time
		want []store.SigningKey
	}{
		{t0, keys},
		{t0.Add(10*day - time.Second), keys},
		{t0.Add(10 * day), keys[:3]}, // retired at RetireAt
		{t0.Add(25 * day), keys[:2]},
		{t0.Add(40*day - time.Second), keys[:1]},
		{t0.Add(40 * day), nil},
		{t0.Add(400 * day), nil},
	} {
		got, err := s.SigningKeys(ctx, tc.now)
		must(t, "SigningKeys", err)
		check(t, fmt.Sprintf("SigningKeys at %s", tc.now.Sub(t0)), tc.want, got)
	}
}

func testSigningKeyConcurrent(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	k0 := signingKey(0, t0)
	must(t, "AddSigningKey", s.AddSigningKey(ctx, k0, time.Time{}))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.AddSigningKey(ctx, signingKey(i+1, t0.Add(time.Hour+time.Duration(i)*time.Millisecond)), k0.CreatedAt)
		})
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("AddSigningKey: goroutines %d and %d both rotated", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("AddSigningKey goroutine %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("AddSigningKey: no goroutine rotated: %v", errs)
	}
	got, err := s.SigningKeys(ctx, t0)
	must(t, "SigningKeys", err)
	check(t, "SigningKeys after concurrent rotation", []store.SigningKey{signingKey(won+1, t0.Add(time.Hour+time.Duration(won)*time.Millisecond)), k0}, got)
}

// --- grants ---

func testAuthCodeRedeem(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	c := authCode(1, t0.Add(5*time.Minute).In(zone))
	other := authCode(2, t0.Add(5*time.Minute))
	other.Nonce, other.Challenge, other.ChallengeMethod = "", "", "" // optional fields
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, c))
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, other))
	wantErr(t, "CreateAuthCode same hash", s.CreateAuthCode(ctx, authCode(1, t0)), store.ErrConflict)
	_, err := s.RedeemAuthCode(ctx, hash("unknown"))
	wantErr(t, "RedeemAuthCode unknown", err, store.ErrNotFound)
	for _, want := range []store.AuthCode{c, other} {
		got, err := s.RedeemAuthCode(ctx, want.Hash)
		must(t, "RedeemAuthCode", err)
		check(t, "RedeemAuthCode", want, got)
		_, err = s.RedeemAuthCode(ctx, want.Hash)
		wantErr(t, "RedeemAuthCode twice", err, store.ErrNotFound)
	}
}

func testAuthCodeConcurrent(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	c := authCode(1, t0.Add(time.Hour))
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, c))
	redeemOnce(t, func() (any, error) { return s.RedeemAuthCode(ctx, c.Hash) }, c)
}

func testRefreshTokenRedeem(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	r := refreshToken(1, t0.Add(90*24*time.Hour))
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
	wantErr(t, "CreateRefreshToken same hash", s.CreateRefreshToken(ctx, refreshToken(1, t0)), store.ErrConflict)
	_, err := s.RedeemRefreshToken(ctx, hash("unknown"))
	wantErr(t, "RedeemRefreshToken unknown", err, store.ErrNotFound)
	got, err := s.RedeemRefreshToken(ctx, r.Hash)
	must(t, "RedeemRefreshToken", err)
	check(t, "RedeemRefreshToken", r, got)
	_, err = s.RedeemRefreshToken(ctx, r.Hash)
	wantErr(t, "RedeemRefreshToken twice", err, store.ErrNotFound)
	// Rotation: the successor is a new record.
	next := refreshToken(2, t0.Add(91*24*time.Hour))
	must(t, "CreateRefreshToken successor", s.CreateRefreshToken(ctx, next))
	got, err = s.RedeemRefreshToken(ctx, next.Hash)
	must(t, "RedeemRefreshToken successor", err)
	check(t, "RedeemRefreshToken successor", next, got)
}

func testRefreshTokenConcurrent(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	r := refreshToken(1, t0.Add(time.Hour))
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
	redeemOnce(t, func() (any, error) { return s.RedeemRefreshToken(ctx, r.Hash) }, r)
}

// redeemOnce runs redeem from several goroutines at once: exactly one must
// get want, the others ErrNotFound.
func redeemOnce(t *testing.T, redeem func() (any, error), want any) {
	t.Helper()
	const n = 8
	type result struct {
		v   any
		err error
	}
	res := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			v, err := redeem()
			res[i] = result{v, err}
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, r := range res {
		switch {
		case r.err == nil:
			wins++
			check(t, fmt.Sprintf("redeemed by goroutine %d", i), want, r.v)
		case !errors.Is(r.err, store.ErrNotFound):
			t.Errorf("goroutine %d: %v, want nil or ErrNotFound", i, r.err)
		}
	}
	if wins != 1 {
		t.Errorf("%d goroutines redeemed the same grant, want exactly 1", wins)
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	a, b := session(1, t0.Add(8*time.Hour).In(zone)), session(2, t0.Add(9*time.Hour))
	must(t, "CreateSession", s.CreateSession(ctx, a))
	must(t, "CreateSession", s.CreateSession(ctx, b))
	wantErr(t, "CreateSession same hash", s.CreateSession(ctx, session(1, t0)), store.ErrConflict)
	for _, want := range []store.Session{a, b} {
		got, err := s.Session(ctx, want.Hash)
		must(t, "Session", err)
		check(t, "Session", want, got)
		// Reading a session does not consume it.
		got, err = s.Session(ctx, want.Hash)
		must(t, "Session again", err)
		check(t, "Session again", want, got)
	}
	_, err := s.Session(ctx, hash("unknown"))
	wantErr(t, "Session unknown", err, store.ErrNotFound)
	must(t, "DeleteSession", s.DeleteSession(ctx, a.Hash))
	_, err = s.Session(ctx, a.Hash)
	wantErr(t, "Session after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteSession twice", s.DeleteSession(ctx, a.Hash), store.ErrNotFound)
	got, err := s.Session(ctx, b.Hash)
	must(t, "Session of the other", err)
	check(t, "Session of the other after delete", b, got)
}

func testDeleteExpired(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	now := t0
	expiries := []time.Time{now.Add(-time.Hour), now.Add(-time.Second), now, now.Add(time.Second), now.Add(time.Hour)}
	live := func(e time.Time) bool { return e.After(now) }
	for i, e := range expiries {
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, authCode(i, e)))
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, refreshToken(i, e)))
		must(t, "CreateSession", s.CreateSession(ctx, session(i, e)))
	}
	// Unrelated records are untouched.
	setup(t, s)
	k := signingKey(1, now.Add(-48*time.Hour))
	k.RetireAt = now.Add(-time.Hour)
	must(t, "AddSigningKey", s.AddSigningKey(ctx, k, time.Time{}))

	must(t, "DeleteExpired", s.DeleteExpired(ctx, now.In(zone)))
	for i, e := range expiries {
		what := fmt.Sprintf("expiring at now%+v", e.Sub(now))
		_, err := s.Session(ctx, session(i, e).Hash)
		if live(e) {
			must(t, "Session "+what, err)
		} else {
			wantErr(t, "Session "+what, err, store.ErrNotFound)
		}
		c, err := s.RedeemAuthCode(ctx, authCode(i, e).Hash)
		if live(e) {
			must(t, "RedeemAuthCode "+what, err)
			check(t, "RedeemAuthCode "+what, authCode(i, e), c)
		} else {
			wantErr(t, "RedeemAuthCode "+what, err, store.ErrNotFound)
		}
		r, err := s.RedeemRefreshToken(ctx, refreshToken(i, e).Hash)
		if live(e) {
			must(t, "RedeemRefreshToken "+what, err)
			check(t, "RedeemRefreshToken "+what, refreshToken(i, e), r)
		} else {
			wantErr(t, "RedeemRefreshToken "+what, err, store.ErrNotFound)
		}
	}
	if _, err := s.Tenant(ctx, guid("tenant", 1)); err != nil {
		t.Errorf("DeleteExpired removed a tenant: %v", err)
	}
	// Signing keys are not grants: retired keys stay (SigningKeys filters them).
	got, err := s.SigningKeys(ctx, now.Add(-2*time.Hour))
	must(t, "SigningKeys", err)
	check(t, "SigningKeys after DeleteExpired", []store.SigningKey{k}, got)
	// Nothing left to delete is not an error.
	must(t, "DeleteExpired again", s.DeleteExpired(ctx, now))
}

// --- environments ---

// testEnvironments covers store.Environments; it is skipped for a store
// that does not implement it yet.
func testEnvironments(t *testing.T, s store.Store) {
	es, ok := any(s).(store.Environments)
	if !ok {
		t.Skip("store does not implement store.Environments")
	}
	ctx := ctxOf(t)
	setup(t, s)
	got, err := es.ListEnvironments(ctx)
	must(t, "ListEnvironments empty", err)
	if len(got) != 0 {
		t.Errorf("ListEnvironments of an empty store: %+v", got)
	}
	env := func(tenantN, n int) store.Environment {
		return store.Environment{ID: fmt.Sprintf("e0000000-0000-4000-8000-%012d", n), Name: fmt.Sprintf("org%d", n),
			TenantID: guid("tenant", tenantN), URL: fmt.Sprintf("https://org%d.crm.example", n), CreatedAt: t0.Add(time.Duration(n) * time.Second)}
	}
	e1, e2 := env(1, 1), env(2, 2)
	e2.CreatedAt = e2.CreatedAt.In(zone)
	for _, e := range []store.Environment{e1, e2} {
		must(t, "CreateEnvironment", es.CreateEnvironment(ctx, e))
		for _, key := range []string{e.ID, strings.ToUpper(e.ID), e.Name, strings.ToUpper(e.Name)} {
			got, err := es.Environment(ctx, key)
			if err != nil {
				t.Errorf("Environment(%q): %v", key, err)
				continue
			}
			check(t, fmt.Sprintf("Environment(%q)", key), e, got)
		}
	}
	for _, key := range []string{"", "org3", env(1, 3).ID, "org"} {
		_, err := es.Environment(ctx, key)
		wantErr(t, fmt.Sprintf("Environment(%q)", key), err, store.ErrNotFound)
	}

	sameID := env(1, 3)
	sameID.ID = strings.ToUpper(e1.ID)
	sameName := env(1, 4)
	sameName.Name = strings.ToUpper(e1.Name)
	for name, e := range map[string]store.Environment{"same record": e1, "same id upper case": sameID, "same name upper case": sameName} {
		wantErr(t, "CreateEnvironment "+name, es.CreateEnvironment(ctx, e), store.ErrConflict)
	}
	wantErr(t, "CreateEnvironment in a missing tenant", es.CreateEnvironment(ctx, env(9, 5)), store.ErrNotFound)

	e1.URL = "https://org1.moved.example"
	must(t, "UpdateEnvironment", es.UpdateEnvironment(ctx, e1))
	got1, err := es.Environment(ctx, e1.ID)
	must(t, "Environment", err)
	check(t, "Environment after update", e1, got1)
	wantErr(t, "UpdateEnvironment missing", es.UpdateEnvironment(ctx, env(1, 6)), store.ErrNotFound)

	got, err = es.ListEnvironments(ctx)
	must(t, "ListEnvironments", err)
	checkList(t, "ListEnvironments", []store.Environment{e1, e2}, got, func(e store.Environment) string { return e.ID })
}
