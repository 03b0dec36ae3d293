// Package rowsecurity measures what row-level security costs the Web API:
// the same requests as a Basic-depth user and as a System Administrator,
// in the same run, on 100,000 accounts spread over a five-level
// business-unit tree (issue 4: target ≤ 1.2 × the System Administrator
// cost).
//
//	go test ./bench/rowsecurity -run '^$' -bench . -benchtime 2000x -count 5
//
// The stack runs in process (stack.Start on a temporary directory, the
// service protection limits off); requests are served by the Web API's
// handler directly (httptest), with real access tokens from the identity
// service, so the figures are the handler's: authentication (token
// signature, principal cache), the security decision and the row filter
// compiled to SQL, SQLite and the JSON encoding, without TLS and network.
// Each benchmark alternates the two principals request by request and
// reports both costs and their ratio, so drift on a shared machine hits
// both alike. DVS2S_BENCH_ANALYZE=1 gives SQLite table statistics after
// the seeding (ANALYZE); DVS2S_BENCH_KEEP=1 keeps the data directory for
// inspection (sqlite3 <dir>/env/<id>.db). Results and the analysis are in
// docs/benchmarks.md.
package rowsecurity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/throttle"
)

// The shape of the data.
const (
	rows     = 100_000
	levels   = 5 // business units: a binary tree of 5 levels (31 units)
	perBU    = 4 // owners per business unit (124 owners, ~800 rows each)
	shares   = 20_000
	myShares = 100 // of which shared with the Basic user
	listTop  = 50
)

var cities = []string{"Redmond", "Seattle", "Dallas", "Santa Cruz", "London", "Paris", "Berlin", "Madrid", "Oslo", "Tokyo"}

// fixture is the running stack with its data and the two principals.
type fixture struct {
	stack   *stack.Stack
	handler http.Handler
	base    string // <environment URL>/api/data/v9.2/
	basic   string // token of the Basic-depth application user
	admin   string // token of the System Administrator application user
	me      string // the Basic user's systemuserid
	mine    []string
	visible map[string]bool // the rows the Basic user may read
}

var (
	once  sync.Once
	fx    *fixture
	fxErr error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fx != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		fx.stack.Close(ctx)
		cancel()
		if os.Getenv("DVS2S_BENCH_KEEP") == "" {
			os.RemoveAll(fx.stack.Config.DataDir)
		} else {
			fmt.Println("data directory kept:", fx.stack.Config.DataDir)
		}
	}
	os.Exit(code)
}

func getFixture(b *testing.B) *fixture {
	b.Helper()
	once.Do(func() { fx, fxErr = setup() })
	if fxErr != nil {
		b.Fatal(fxErr)
	}
	return fx
}

func setup() (*fixture, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "dvs2s-rowsecurity-")
	if err != nil {
		return nil, err
	}
	off := throttle.Limits{Requests: -1, ExecutionTime: -1, Concurrent: -1}
	s, err := stack.Start(ctx, stack.Config{DataDir: dir, Port: 0, Limits: off, TokenLifetime: 12 * time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	f := &fixture{stack: s}
	env, err := s.Envs.Open(ctx, demo.EnvironmentName)
	if err != nil {
		return nil, err
	}
	sch := env.Schema()
	sys := environment.Caller{UserID: env.System, BU: env.RootBU}
	accounts, users, bus, teams, poa := sch.Table(schema.TableAccount), sch.Table(schema.TableSystemUser), sch.Table(schema.TableBusinessUnit),
		sch.Table(schema.TableTeam), sch.Table(schema.TablePOA)
	ref := func(table, id string) store.Ref { return store.Ref{ID: id, Table: table} }
	org := ref(schema.TableOrganization, env.ID)

	// The business-unit tree, and perBU owners in each unit.
	var units []string
	owners := []store.Ref{}
	ownerBU := map[string]string{}
	err = env.Data.InTx(ctx, func(d store.Data) error {
		level := []string{env.RootBU}
		units = append(units, env.RootBU)
		for l := 1; l < levels; l++ {
			var next []string
			for _, p := range level {
				for c := 0; c < 2; c++ {
					r := store.Row{"name": fmt.Sprintf("Bench L%d-%d", l, len(units)), "parentbusinessunitid": ref(schema.TableBusinessUnit, p),
						"isdisabled": false, "organizationid": org}
					if _, err := env.Insert(ctx, d, bus, r, sys); err != nil {
						return err
					}
					next = append(next, r["businessunitid"].(string))
					units = append(units, r["businessunitid"].(string))
				}
			}
			level = next
		}
		for _, u := range units {
			for i := 0; i < perBU; i++ {
				r := store.Row{"firstname": "Bench", "lastname": fmt.Sprintf("Owner %d", len(owners)), "domainname": fmt.Sprintf("owner%d@bench.test", len(owners)),
					"accessmode": int64(0), "isdisabled": false, "businessunitid": ref(schema.TableBusinessUnit, u), "organizationid": org}
				if _, err := env.Insert(ctx, d, users, r, sys); err != nil {
					return err
				}
				owners = append(owners, ref(schema.TableSystemUser, r["systemuserid"].(string)))
				ownerBU[r["systemuserid"].(string)] = u
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	leaf := units[len(units)-1] // a unit of the fifth level

	// The two principals: application users with a token each.
	client := &http.Client{Timeout: 30 * time.Second}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPool)
	client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	var envURL string
	for _, e := range s.Info.Environments {
		if e.Name == demo.EnvironmentName {
			envURL = e.URL
		}
	}
	f.base = envURL + "/api/data/v9.2/"
	f.handler = s.WebAPI.Handler(env.ID)
	principal := func(name, bu, roleID string) (string, string, error) {
		app, err := s.Directory.CreateApp(ctx, directory.AppSpec{Tenant: demo.ContosoTenantID, DisplayName: name})
		if err != nil {
			return "", "", err
		}
		_, secretText, err := s.Directory.AddSecret(ctx, app.AppID, "bench", 24*time.Hour)
		if err != nil {
			return "", "", err
		}
		u, err := env.CreateAppUser(ctx, env.Data, environment.AppUserSpec{AppID: app.AppID, BusinessUnitID: bu}, sys)
		if err != nil {
			return "", "", err
		}
		id := u["systemuserid"].(string)
		if err := env.AssignRole(ctx, id, roleID); err != nil {
			return "", "", err
		}
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {app.AppID}, "client_secret": {secretText}, "scope": {envURL + "/.default"}}
		res, err := client.PostForm(s.Info.AuthorityHost+"/"+demo.ContosoTenantID+"/oauth2/v2.0/token", form)
		if err != nil {
			return "", "", err
		}
		defer res.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
			return "", "", fmt.Errorf("token for %s: %d %v", name, res.StatusCode, err)
		}
		return id, tok.AccessToken, nil
	}
	basicRole, err := env.CreateRole(ctx, "Bench Basic")
	if err != nil {
		return nil, err
	}
	if err := env.GrantByName(ctx, env.Data, basicRole["roleid"].(string), environment.TablePrivileges(accounts, security.Basic)); err != nil {
		return nil, err
	}
	sa, err := env.RoleByName(ctx, "System Administrator")
	if err != nil {
		return nil, err
	}
	me, basicTok, err := principal("Bench Basic User", leaf, basicRole["roleid"].(string))
	if err != nil {
		return nil, err
	}
	_, adminTok, err := principal("Bench System Administrator", env.RootBU, sa["roleid"].(string))
	if err != nil {
		return nil, err
	}
	f.basic, f.admin, f.me = basicTok, adminTok, me
	f.visible = map[string]bool{}
	// The Basic user is one of the owners of its unit, and a member of an
	// owner team that is another.
	team := store.Row{"name": "Bench Team", "teamtype": int64(0), "isdefault": false, "businessunitid": ref(schema.TableBusinessUnit, leaf), "organizationid": org}
	if _, err := env.Insert(ctx, env.Data, teams, team, sys); err != nil {
		return nil, err
	}
	var m2m *schema.ManyToMany
	for _, m := range sch.ManyToManys() {
		if m.SchemaName == "teammembership_association" {
			m2m = m
		}
	}
	if err := env.Data.Associate(ctx, m2m, me, team["teamid"].(string)); err != nil {
		return nil, err
	}
	owners[len(owners)-1] = ref(schema.TableSystemUser, me)
	ownerBU[me] = leaf
	owners[len(owners)-2] = ref(schema.TableTeam, team["teamid"].(string))
	ownerBU[team["teamid"].(string)] = leaf

	// 100,000 accounts, owners round-robin; shares.
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []string
	const batch = 5000
	for i := 0; i < rows; {
		end := min(i+batch, rows)
		err := env.Data.InTx(ctx, func(d store.Data) error {
			for ; i < end; i++ {
				o := owners[i%len(owners)]
				r := store.Row{"name": fmt.Sprintf("Bench account %06d", i), "address1_city": cities[rng.IntN(len(cities))],
					"revenue": float64(rng.IntN(10_000_000)), "numberofemployees": int64(rng.IntN(5000)),
					"ownerid": o, "owningbusinessunit": ref(schema.TableBusinessUnit, ownerBU[o.ID])}
				if _, err := env.Insert(ctx, d, accounts, r, sys); err != nil {
					return err
				}
				ids = append(ids, r["accountid"].(string))
				if o.ID == me {
					f.mine = append(f.mine, r["accountid"].(string))
				}
				if o.ID == me || o.ID == team["teamid"] {
					f.visible[r["accountid"].(string)] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = env.Data.InTx(ctx, func(d store.Data) error {
		for i := 0; i < shares; i++ {
			principal := owners[rng.IntN(len(owners))].ID
			if i < myShares {
				principal = me
			}
			r := store.Row{"name": "account shared", "objectid": ids[rng.IntN(len(ids))], "objecttypecode": schema.TableAccount,
				"principalid": principal, "principaltypecode": schema.TableSystemUser, "accessrightsmask": security.Read.Right() | security.Write.Right()}
			if principal == me || principal == team["teamid"] {
				f.visible[r["objectid"].(string)] = true
			}
			if _, err := env.Insert(ctx, d, poa, r, sys); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// With DVS2S_BENCH_ANALYZE set, SQLite gets table statistics (as
	// ANALYZE or PRAGMA optimize would give it): its planner then knows how
	// many rows an owner has.
	if os.Getenv("DVS2S_BENCH_ANALYZE") != "" {
		db, err := sql.Open("sqlite", filepath.Join(dir, "env", env.ID+".db"))
		if err != nil {
			return nil, err
		}
		_, err = db.ExecContext(ctx, "ANALYZE")
		db.Close()
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

// get serves one GET with a token and returns the status and body.
func (f *fixture) get(path, token string) (int, []byte) {
	req := httptest.NewRequest(http.MethodGet, f.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// compare alternates the two principals on the same requests and reports
// each one's median time per request and the ratio of the medians (the
// machine is shared: medians of paired, interleaved requests are what
// other people's load disturbs least), and the ratio of the means.
func compare(b *testing.B, f *fixture, path func(i int) string, check func(b *testing.B, who string, body []byte)) {
	// Warm both principals' caches and check the answers once.
	for _, who := range []struct{ name, tok string }{{"System Administrator", f.admin}, {"Basic", f.basic}} {
		status, body := f.get(path(0), who.tok)
		if status != http.StatusOK {
			b.Fatalf("%s: %d %s", who.name, status, body)
		}
		check(b, who.name, body)
	}
	admin, basic := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Who goes first alternates: the first of a pair reads the row's
		// pages from the file, the second finds them in SQLite's cache.
		p := path(i)
		for j := 0; j < 2; j++ {
			t0 := time.Now()
			if (i+j)%2 == 0 {
				if status, body := f.get(p, f.admin); status != http.StatusOK {
					b.Fatalf("System Administrator: %d %s", status, body)
				}
				admin = append(admin, time.Since(t0))
			} else {
				if status, body := f.get(p, f.basic); status != http.StatusOK {
					b.Fatalf("Basic: %d %s", status, body)
				}
				basic = append(basic, time.Since(t0))
			}
		}
	}
	b.StopTimer()
	ma, mb := median(admin), median(basic)
	b.ReportMetric(float64(ma.Nanoseconds()), "sysadmin-ns/req")
	b.ReportMetric(float64(mb.Nanoseconds()), "basic-ns/req")
	b.ReportMetric(float64(mb)/float64(ma), "basic/sysadmin")
	b.ReportMetric(float64(sum(basic))/float64(sum(admin)), "mean-ratio")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func sum(d []time.Duration) (t time.Duration) {
	for _, x := range d {
		t += x
	}
	return t
}

// BenchmarkGetByID is GET accounts(<id>)?$select=... over the Basic user's
// own rows (which both principals may read), round-robin.
func BenchmarkGetByID(b *testing.B) {
	f := getFixture(b)
	compare(b, f, func(i int) string {
		return "accounts(" + f.mine[i%len(f.mine)] + ")?$select=name,address1_city,revenue"
	}, func(b *testing.B, who string, body []byte) {
		var r map[string]any
		if json.Unmarshal(body, &r) != nil || r["name"] == nil {
			b.Fatalf("%s: %s", who, body)
		}
	})
}

// listCheck checks a list answer: n rows (0: at least one), and for the
// Basic user only rows it may read.
func listCheck(f *fixture, adminRows, basicRows int) func(b *testing.B, who string, body []byte) {
	return func(b *testing.B, who string, body []byte) {
		var r struct {
			Value []map[string]any `json:"value"`
		}
		want := adminRows
		if who == "Basic" {
			want = basicRows
		}
		if json.Unmarshal(body, &r) != nil || (want > 0 && len(r.Value) != want) || len(r.Value) == 0 {
			b.Fatalf("%s: %d rows, want %d: %.300s", who, len(r.Value), want, body)
		}
		for _, row := range r.Value {
			if id, _ := row["accountid"].(string); who == "Basic" && !f.visible[id] {
				b.Fatalf("the Basic user got row %s it may not read", id)
			}
		}
	}
}

// BenchmarkListOwn is the same filtered list with the same answer for
// both: the Basic user's own accounts in one city, a page of 50
// ($filter=_ownerid_value eq <id> and address1_city eq 'Seattle'). The
// difference is the cost of the security decision and its row filter.
func BenchmarkListOwn(b *testing.B) {
	f := getFixture(b)
	q := "accounts?$select=name,address1_city,revenue&$top=50&$filter=" + url.QueryEscape("_ownerid_value eq "+f.me+" and address1_city eq 'Seattle'")
	compare(b, f, func(int) string { return q }, listCheck(f, listTop, listTop))
}

// BenchmarkListIndexed is a list filtered through an index: the accounts
// whose name starts with a prefix (1,000 rows: 012000 to 012999), first 50. The System
// Administrator gets 50 rows; the Basic user the few of them it may read.
func BenchmarkListIndexed(b *testing.B) {
	f := getFixture(b)
	q := "accounts?$select=name,address1_city,revenue&$top=50&$filter=" + url.QueryEscape("startswith(name,'Bench account 012')")
	compare(b, f, func(int) string { return q }, listCheck(f, listTop, 0))
}

// BenchmarkListUnindexed is a page of 50 accounts of one city, a filter
// no index serves: both get a full page, the System Administrator from
// the first ~500 rows in key order, the Basic user from the ~1,700 rows it
// may read (its own, its team's, shared with it), each of which must be
// read to test the city. The work grows with the rows the principal may
// read, not with the security decision.
func BenchmarkListUnindexed(b *testing.B) {
	f := getFixture(b)
	q := "accounts?$select=name,address1_city,revenue&$top=50&$filter=" + url.QueryEscape("address1_city eq 'Seattle'")
	compare(b, f, func(int) string { return q }, listCheck(f, listTop, listTop))
}
