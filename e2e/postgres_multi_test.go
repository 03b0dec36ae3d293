package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/pki"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/store/postgres/pgtest"
	"github.com/dvs2s/dvs2s/throttle"
)

// The deployment this file tests: several `dvs2s serve` instances on
// different machines (here: loopback addresses 127.0.0.2 and 127.0.0.3),
// one PostgreSQL database, one master key, one TLS certificate authority,
// and a load balancer that owns the public address (here: a TCP
// round-robin proxy on 127.0.0.1, which "localhost" names). Every instance
// listens on the same ports and publishes the same URLs — the load
// balancer's — so tokens name the same issuer and audience whichever
// instance issued them.

// instance is one stack of a multi-instance deployment.
type instance struct {
	*stack.Stack
	addr   string       // the machine's address, e.g. 127.0.0.2
	client *http.Client // reaches this instance only, whatever the URL's host
	logs   *syncBuffer
}

// lb is a round-robin TCP load balancer from 127.0.0.1:<port> to
// <backend>:<port> for each of ports.
type lb struct {
	lns      []net.Listener
	backends []string
	next     atomic.Uint64
	wg       sync.WaitGroup
}

func startLB(t testing.TB, ports []int, backends []string) *lb {
	t.Helper()
	b := &lb{backends: backends}
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			b.close()
			t.Fatalf("load balancer: %v", err)
		}
		b.lns = append(b.lns, ln)
		b.wg.Add(1)
		go b.serve(ln, p)
	}
	t.Cleanup(b.close)
	return b
}

func (b *lb) serve(ln net.Listener, port int) {
	defer b.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		backend := b.backends[b.next.Add(1)%uint64(len(b.backends))]
		go func() {
			defer c.Close()
			s, err := net.DialTimeout("tcp", net.JoinHostPort(backend, strconv.Itoa(port)), 5*time.Second)
			if err != nil {
				return
			}
			defer s.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(s, c); s.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { io.Copy(c, s); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func (b *lb) close() {
	for _, ln := range b.lns {
		ln.Close()
	}
}

// freePortPair finds a port p such that p and p+1 are free on every
// address.
func freePortPair(t testing.TB, addrs ...string) int {
	t.Helper()
	for range 50 {
		n, _ := rand.Int(rand.Reader, big.NewInt(20000))
		p := 30000 + int(n.Int64())
		var lns []net.Listener
		ok := true
		for _, a := range addrs {
			for _, q := range []int{p, p + 1} {
				ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(q)))
				if err != nil {
					ok = false
					break
				}
				lns = append(lns, ln)
			}
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// pinnedClient is an HTTPS client that trusts caPEM and connects to addr
// whatever host a URL names (as a client behind a sticky load balancer).
func pinnedClient(t testing.TB, caPEM []byte, addr string) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad CA PEM")
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, hostPort string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(hostPort)
			if err != nil {
				return nil, err
			}
			return d.DialContext(ctx, network, net.JoinHostPort(addr, port))
		},
		MaxIdleConnsPerHost: 16,
	}}
}

// startInstance starts one instance of the deployment.
func startInstance(t testing.TB, addr, dir, database, masterKey string, port int, mod ...func(*stack.Config)) *instance {
	t.Helper()
	logs := &syncBuffer{}
	c := stack.Config{DataDir: dir, Database: database, MasterKey: masterKey, Listen: addr, Port: port, Hosts: []string{"localhost"},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mod {
		m(&c)
	}
	s, err := stack.Start(context.Background(), c)
	if err != nil {
		t.Fatalf("start instance on %s: %v", addr, err)
	}
	in := &instance{Stack: s, addr: addr, logs: logs, client: pinnedClient(t, s.CAPool, addr)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
		if t.Failed() {
			t.Logf("logs of %s (last 4000 bytes):\n%s", addr, tail(logs.String(), 4000))
		}
	})
	return in
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// copyCA gives a data directory the certificate authority of another, as a
// deployment gives every instance the same TLS trust.
func copyCA(t testing.TB, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "ca-key.pem"} {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func randomMasterKey() string {
	k := make([]byte, 32)
	rand.Read(k)
	return hex.EncodeToString(k)
}

// token gets an app token for the demo environment from one instance.
func (in *instance) token(t testing.TB, envURL string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.PortalAppID}, "client_secret": {demo.PortalSecret},
		"scope": {envURL + "/.default"}}
	resp, err := in.client.PostForm(in.Info.AuthorityHost+"/"+demo.ContosoTenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatalf("token from %s: %v", in.addr, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	tok, _ := body["access_token"].(string)
	if resp.StatusCode != http.StatusOK || tok == "" {
		t.Fatalf("token from %s: %d %v", in.addr, resp.StatusCode, body)
	}
	return tok
}

// api sends a Web API request to one instance.
func (in *instance) api(ctx context.Context, method, u, token string, body any, hdr ...string) (int, http.Header, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func jwksKids(t testing.TB, in *instance) []string {
	t.Helper()
	resp, err := in.client.Get(in.Info.AuthorityHost + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}

// TestPostgresTwoInstances: two instances behind a load balancer, one
// PostgreSQL database. They generate one signing key between them even
// when they start at the same moment; tokens from either are accepted by
// both; a client alternating between them creates and updates rows with
// no write lost, duplicated or refused; and each instance counts service
// protection limits on its own, as Dataverse's web servers do.
func TestPostgresTwoInstances(t *testing.T) {
	database := pgtest.NewDatabase(t)
	masterKey := randomMasterKey()
	addrA, addrB := "127.0.0.2", "127.0.0.3"
	port := freePortPair(t, "127.0.0.1", addrA, addrB)
	startLB(t, []int{port, port + 1}, []string{addrA, addrB})
	dirA, dirB := t.TempDir(), t.TempDir()
	const limit = 400 // requests per user per instance in the window
	limits := func(c *stack.Config) { c.Limits = throttle.Limits{Requests: limit, Window: time.Hour} }

	t.Run("first start together: one signing key", func(t *testing.T) {
		// A new database, both instances starting at once (no demo seed:
		// seeding is for one instance to do first). Both share the CA.
		dirC, dirD := t.TempDir(), t.TempDir()
		if _, err := pki.LoadOrCreateCA(filepath.Join(dirC, "ca.pem"), filepath.Join(dirC, "ca-key.pem")); err != nil {
			t.Fatal(err)
		}
		copyCA(t, dirC, dirD)
		var wg sync.WaitGroup
		ins := make([]*instance, 2)
		for i, a := range []struct{ addr, dir string }{{addrA, dirC}, {addrB, dirD}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ins[i] = startInstance(t, a.addr, a.dir, database, masterKey, port, func(c *stack.Config) { c.NoDemo = true })
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		keys, err := ins[0].Store.SigningKeys(t.Context(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 {
			t.Errorf("%d signing keys after two instances started together, want 1", len(keys))
		}
		ka, kb := jwksKids(t, ins[0]), jwksKids(t, ins[1])
		if !slices.Equal(ka, kb) || len(ka) != 1 {
			t.Errorf("JWKS differ: %v and %v", ka, kb)
		}
		for _, in := range ins {
			in.Close(t.Context())
		}
	})

	// The deployment: A starts first (and seeds the demo), B joins it.
	a := startInstance(t, addrA, dirA, database, masterKey, port, limits)
	copyCA(t, dirA, dirB)
	b := startInstance(t, addrB, dirB, database, masterKey, port, limits)
	ins := []*instance{a, b}
	envURL := s2sEnvURLOf(t, a)
	if u := s2sEnvURLOf(t, b); u != envURL {
		t.Fatalf("instances publish different environment URLs: %s and %s", envURL, u)
	}
	if a.Info.AuthorityHost != b.Info.AuthorityHost {
		t.Fatalf("instances publish different authorities: %s and %s", a.Info.AuthorityHost, b.Info.AuthorityHost)
	}
	api := envURL + "/api/data/v9.2/"

	t.Run("tokens from one instance are accepted by the other", func(t *testing.T) {
		if ka, kb := jwksKids(t, a), jwksKids(t, b); !slices.Equal(ka, kb) {
			t.Fatalf("JWKS differ: %v and %v", ka, kb)
		}
		for i, from := range ins {
			tok := from.token(t, envURL)
			for j, to := range ins {
				status, _, body, err := to.api(t.Context(), http.MethodGet, api+"WhoAmI", tok, nil)
				if err != nil || status != http.StatusOK {
					t.Errorf("token from instance %d used on instance %d: %d %s %v", i, j, status, body, err)
				}
			}
		}
	})

	t.Run("alternating writes: none lost, duplicated or refused", func(t *testing.T) {
		ctx := t.Context()
		tokens := []string{a.token(t, envURL), b.token(t, envURL)}
		const workers, each = 4, 30
		prefix := "multi-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
		var mu sync.Mutex
		ids := map[string]string{} // name → account id
		var refused atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					// Request k goes to instance k%2 with a token issued by
					// the other instance.
					k := w*each + i
					to, tok := ins[k%2], tokens[(k+1)%2]
					name := fmt.Sprintf("%s%03d", prefix, k)
					status, hdr, body, err := to.api(ctx, http.MethodPost, api+"accounts", tok, map[string]any{"name": name, "numberofemployees": k})
					if err != nil || status != http.StatusNoContent {
						refused.Add(1)
						t.Errorf("create %s on instance %d: %d %s %v", name, k%2, status, body, err)
						continue
					}
					loc := hdr.Get("OData-EntityId")
					id := loc[strings.LastIndex(loc, "(")+1 : len(loc)-1]
					mu.Lock()
					ids[name] = id
					mu.Unlock()
					// Update it through the other instance, conditionally on
					// the version the first one wrote.
					other := ins[(k+1)%2]
					st, h, b, err := other.api(ctx, http.MethodGet, api+"accounts("+id+")?$select=name", tokens[k%2], nil)
					if err != nil || st != http.StatusOK {
						refused.Add(1)
						t.Errorf("read %s on instance %d: %d %s %v", name, (k+1)%2, st, b, err)
						continue
					}
					st, _, b, err = other.api(ctx, http.MethodPatch, api+"accounts("+id+")", tokens[k%2], map[string]any{"numberofemployees": k + 1000},
						"If-Match", h.Get("ETag"))
					if err != nil || st != http.StatusNoContent {
						refused.Add(1)
						t.Errorf("update %s on instance %d: %d %s %v", name, (k+1)%2, st, b, err)
					}
				}
			}()
		}
		wg.Wait()
		if refused.Load() > 0 {
			t.Fatalf("%d requests refused or failed", refused.Load())
		}
		if len(ids) != workers*each {
			t.Fatalf("%d distinct names acknowledged, want %d", len(ids), workers*each)
		}
		// Both instances see exactly the rows written, each once, updated.
		for n, in := range ins {
			status, _, body, err := in.api(ctx, http.MethodGet, api+"accounts?$select=name,numberofemployees&$filter=startswith(name,'"+prefix+"')&$count=true",
				tokens[n], nil, "Prefer", "odata.maxpagesize=5000")
			if err != nil || status != http.StatusOK {
				t.Fatalf("list on instance %d: %d %s %v", n, status, body, err)
			}
			var page struct {
				Count int `json:"@odata.count"`
				Value []struct {
					ID    string `json:"accountid"`
					Name  string `json:"name"`
					Staff int    `json:"numberofemployees"`
				} `json:"value"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, r := range page.Value {
				if seen[r.Name] {
					t.Errorf("instance %d: %s twice", n, r.Name)
				}
				seen[r.Name] = true
				if ids[r.Name] != r.ID {
					t.Errorf("instance %d: %s has id %s, the create answered %s", n, r.Name, r.ID, ids[r.Name])
				}
				k, _ := strconv.Atoi(strings.TrimPrefix(r.Name, prefix))
				if r.Staff != k+1000 {
					t.Errorf("instance %d: %s has numberofemployees %d, want the update's %d", n, r.Name, r.Staff, k+1000)
				}
			}
			if len(page.Value) != len(ids) || page.Count != len(ids) {
				t.Errorf("instance %d lists %d rows (count %d), want %d", n, len(page.Value), page.Count, len(ids))
			}
		}
	})

	t.Run("a table defined on one instance is served by the other", func(t *testing.T) {
		ctx := t.Context()
		env, err := a.Envs.Open(ctx, demo.EnvironmentName)
		if err != nil {
			t.Fatal(err)
		}
		role, err := env.RoleByName(ctx, "System Administrator")
		if err != nil {
			t.Fatal(err)
		}
		if err := env.AssignRole(ctx, demo.PortalAppUserID, role["roleid"].(string)); err != nil {
			t.Fatal(err)
		}
		tok := a.token(t, envURL)
		var status int
		var body []byte
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			// The role shows once A's principal cache expires.
			if status, _, body, err = a.api(ctx, http.MethodPost, api+"EntityDefinitions", tok, bankAccount()); err == nil && status != http.StatusForbidden {
				break
			}
		}
		if err != nil || status != http.StatusNoContent {
			t.Fatalf("POST EntityDefinitions on A: %d %s %v", status, body, err)
		}
		var hdr http.Header
		start := time.Now()
		for deadline := start.Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			status, hdr, body, err = b.api(ctx, http.MethodPost, api+"new_bankaccounts", tok, map[string]any{"new_accountname": "made on B", "new_branch": 7})
			if err == nil && status == http.StatusNoContent {
				break
			}
		}
		if err != nil || status != http.StatusNoContent {
			t.Fatalf("create a row of the new table on B: %d %s %v", status, body, err)
		}
		t.Logf("B served the table defined on A after %v", time.Since(start).Round(time.Millisecond))
		loc := hdr.Get("OData-EntityId")
		status, _, body, err = a.api(ctx, http.MethodGet, api+"new_bankaccounts("+loc[strings.LastIndex(loc, "(")+1:len(loc)-1]+")?$select=new_accountname,new_branch", tok, nil)
		if err != nil || status != http.StatusOK || !strings.Contains(string(body), `"made on B"`) {
			t.Errorf("read B's row of the new table on A: %d %s %v", status, body, err)
		}
	})

	t.Run("service protection limits count per instance", func(t *testing.T) {
		ctx := t.Context()
		tok := a.token(t, envURL)
		throttled := false
		for range limit + 10 {
			status, _, _, err := a.api(ctx, http.MethodGet, api+"WhoAmI", tok, nil)
			if err != nil {
				t.Fatal(err)
			}
			if status == http.StatusTooManyRequests {
				throttled = true
				break
			}
		}
		if !throttled {
			t.Fatalf("instance A never throttled after %d requests (limit %d)", limit+10, limit)
		}
		status, _, body, err := b.api(ctx, http.MethodGet, api+"WhoAmI", tok, nil)
		if err != nil || status != http.StatusOK {
			t.Errorf("instance B refused the user throttled on instance A: %d %s %v", status, body, err)
		}
	})
}

// s2sEnvURLOf is the demo environment's URL as an instance publishes it.
func s2sEnvURLOf(t testing.TB, in *instance) string {
	t.Helper()
	for _, e := range in.Info.Environments {
		if e.Name == demo.EnvironmentName && e.URL != "" {
			return strings.TrimRight(e.URL, "/")
		}
	}
	t.Fatalf("instance %s has no demo environment: %+v", in.addr, in.Info.Environments)
	return ""
}
