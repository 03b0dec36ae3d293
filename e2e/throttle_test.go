package e2e

// Service protection limits over real HTTPS (reference §3): each limit at
// its exact boundary with small configured limits and a fake clock (the
// suite never waits for a window to slide), the concurrency limit under
// truly parallel requests, Retry-After against the real remaining time,
// penalty extension, counters independent per user and per environment,
// the rate-limit headers on every response, and the observability that
// comes with them (/metrics, request ids, structured logs).

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/throttle"
	"github.com/google/uuid"
)

// thrClock is the limits' fake clock: moved by hand, and optionally
// moving by step at every reading (the limiter reads it when a request
// starts and when it ends, so each admitted request then executes for
// exactly step).
type thrClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *thrClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.t
	c.t = c.t.Add(c.step)
	return now
}

func (c *thrClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *thrClock) Step(d time.Duration) {
	c.mu.Lock()
	c.step = d
	c.mu.Unlock()
}

// thrReply is a Web API answer.
type thrReply struct {
	status int
	header http.Header
	body   []byte
}

func (r thrReply) errorCode(t testing.TB) (code, msg string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("status %d: error body is not JSON: %q", r.status, r.body)
	}
	return e.Error.Code, e.Error.Message
}

// thrDo sends one Web API request.
func thrDo(t testing.TB, c *http.Client, method, u, token string, body io.Reader, hdr ...string) thrReply {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return thrReply{status: resp.StatusCode, header: resp.Header, body: b}
}

// thrToken gets an app-only token of a demo app for an environment.
func thrToken(t testing.TB, ts *testStack, appID, secret, envURL string) string {
	t.Helper()
	return postToken(t, ts, v2Path(demo.ContosoTenantID), secretForm(appID, secret, envURL+"/.default")).accessToken(t)
}

var timeRemainingRE = regexp.MustCompile(`^\d{1,3}(,\d{3})*\.\d{2}$`)

// checkRateHeaders checks the three headers every response carries.
func checkRateHeaders(t testing.TB, what string, r thrReply, burst int, timeLeft string) {
	t.Helper()
	if got := r.header.Get("x-ms-ratelimit-burst-remaining-xrm-requests"); got != strconv.Itoa(burst) {
		t.Errorf("%s: x-ms-ratelimit-burst-remaining-xrm-requests %q, want %d", what, got, burst)
	}
	got := r.header.Get("x-ms-ratelimit-time-remaining-xrm-requests")
	if !timeRemainingRE.MatchString(got) || (timeLeft != "" && got != timeLeft) {
		t.Errorf("%s: x-ms-ratelimit-time-remaining-xrm-requests %q, want %q in the 1,200.00 format", what, got, timeLeft)
	}
	if n, err := strconv.Atoi(r.header.Get("x-ms-dop-hint")); err != nil || n < 1 {
		t.Errorf("%s: x-ms-dop-hint %q, want a positive integer", what, r.header.Get("x-ms-dop-hint"))
	}
	id := r.header.Get("x-dvs2s-request-id")
	if _, err := uuid.Parse(id); err != nil || r.header.Get("REQ_ID") != id {
		t.Errorf("%s: request id %q, REQ_ID %q: want one uuid in both", what, id, r.header.Get("REQ_ID"))
	}
}

// check429 checks a refusal: status, code, documented message, an integer
// Retry-After, and returns Retry-After.
func check429(t testing.TB, r thrReply, code, msg string) time.Duration {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", r.status, r.body)
	}
	gotCode, gotMsg := r.errorCode(t)
	if gotCode != code || gotMsg != msg {
		t.Errorf("error %s %q, want %s %q", gotCode, gotMsg, code, msg)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; odata.metadata=minimal" {
		t.Errorf("Content-Type %q", ct)
	}
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("Retry-After %q: want an integer number of seconds", r.header.Get("Retry-After"))
	}
	return time.Duration(ra) * time.Second
}

// startThrottled starts a stack with a second environment ("second",
// with the demo's application users and roles) and the given limits.
func startThrottled(t *testing.T, clk *thrClock, limits throttle.Limits, envLimits map[string]throttle.Limits) *testStack {
	t.Helper()
	dir := t.TempDir()
	first := start(t, dir)
	env, err := first.Envs.Create(context.Background(), "second", demo.ContosoTenantID, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.EnsureEnvironment(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	first.stop(t)
	return start(t, dir, func(c *stack.Config) {
		c.Limits, c.EnvLimits, c.ThrottleNow = limits, envLimits, clk.Now
	})
}

func envURLNamed(t testing.TB, ts *testStack, name string) string {
	t.Helper()
	for _, e := range ts.Info.Environments {
		if e.Name == name {
			return e.URL
		}
	}
	t.Fatalf("no environment %s in %+v", name, ts.Info.Environments)
	return ""
}

func TestThrottleLimits(t *testing.T) {
	clk := &thrClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	ts := startThrottled(t, clk,
		throttle.Limits{Requests: 4, Window: 60 * time.Second},
		map[string]throttle.Limits{"second": {Requests: 1000, ExecutionTime: 3 * time.Second, Concurrent: 3}})
	contoso, second := envURLNamed(t, ts, "contoso"), envURLNamed(t, ts, "second")
	portal := thrToken(t, ts, demo.PortalAppID, demo.PortalSecret, contoso)
	inventory := thrToken(t, ts, demo.InventoryAppID, demo.InventorySecret, contoso)
	whoAmI := contoso + "/api/data/v9.2/WhoAmI"
	reqMsg := "Number of requests exceeded the limit of 4 over time window of 60 seconds."

	t.Run("request count boundary", func(t *testing.T) {
		for i := 1; i <= 4; i++ {
			r := thrDo(t, ts.client, "GET", whoAmI, portal, nil)
			if r.status != http.StatusOK {
				t.Fatalf("request %d of 4: status %d: %s", i, r.status, r.body)
			}
			checkRateHeaders(t, fmt.Sprintf("request %d", i), r, 4-i, "1,200.00")
		}
		r := thrDo(t, ts.client, "GET", whoAmI, portal, nil)
		if ra := check429(t, r, "0x80072322", reqMsg); ra != 60*time.Second {
			t.Errorf("Retry-After %v, want 60s (the clock did not move)", ra)
		}
		checkRateHeaders(t, "429", r, 0, "1,200.00")
	})

	t.Run("independent per user", func(t *testing.T) {
		r := thrDo(t, ts.client, "GET", whoAmI, inventory, nil)
		if r.status != http.StatusOK {
			t.Fatalf("inventory app while the portal app is throttled: %d %s", r.status, r.body)
		}
		checkRateHeaders(t, "inventory", r, 3, "")
	})

	t.Run("independent per environment", func(t *testing.T) {
		tok := thrToken(t, ts, demo.PortalAppID, demo.PortalSecret, second)
		r := thrDo(t, ts.client, "GET", second+"/api/data/v9.2/WhoAmI", tok, nil)
		if r.status != http.StatusOK {
			t.Fatalf("portal app in the second environment while throttled in contoso: %d %s", r.status, r.body)
		}
		// The second environment has its own configured limits.
		checkRateHeaders(t, "second", r, 999, "3.00")
	})

	t.Run("Retry-After accuracy", func(t *testing.T) {
		clk.Advance(20*time.Second + 500*time.Millisecond)
		r := thrDo(t, ts.client, "GET", whoAmI, portal, nil)
		ra := check429(t, r, "0x80072322", reqMsg)
		// The first four requests leave the window 60 s after they were
		// made: 39.5 s from now.
		real := 39500 * time.Millisecond
		if d := ra - real; d < 0 || d > time.Second {
			t.Fatalf("Retry-After %v, real remaining time %v: want within one second above it", ra, real)
		}
		clk.Advance(ra - time.Second)
		if r := thrDo(t, ts.client, "GET", whoAmI, portal, nil); r.status != http.StatusTooManyRequests {
			t.Fatalf("one second before Retry-After ends: %d, want 429", r.status)
		}
		clk.Advance(time.Second)
		if r := thrDo(t, ts.client, "GET", whoAmI, portal, nil); r.status != http.StatusOK {
			t.Fatalf("after Retry-After: %d %s", r.status, r.body)
		}
	})

	t.Run("penalty extension", func(t *testing.T) {
		// The inventory app's one request left the window with the clock
		// moves above: four reach the limit.
		for i := 0; i < 4; i++ {
			if r := thrDo(t, ts.client, "GET", whoAmI, inventory, nil); r.status != http.StatusOK {
				t.Fatalf("inventory request: %d", r.status)
			}
		}
		first := check429(t, thrDo(t, ts.client, "GET", whoAmI, inventory, nil), "0x80072322", reqMsg)
		// Hammering during the penalty pushes its end further out.
		clk.Advance(5 * time.Second)
		var last time.Duration
		for i := 0; i < 4; i++ {
			last = check429(t, thrDo(t, ts.client, "GET", whoAmI, inventory, nil), "0x80072322", reqMsg)
		}
		if last <= first-5*time.Second {
			t.Fatalf("Retry-After %v after hammering, the penalty would have ended in %v: not extended", last, first-5*time.Second)
		}
		clk.Advance(first - 5*time.Second)
		if r := thrDo(t, ts.client, "GET", whoAmI, inventory, nil); r.status != http.StatusTooManyRequests {
			t.Fatalf("at the end of the original penalty after hammering: %d, want 429", r.status)
		}
	})

	t.Run("execution time boundary", func(t *testing.T) {
		// In "second": 3 s of execution time (and the 60 s window of every
		// environment). Each request now executes
		// for exactly one second of the fake clock.
		tok := thrToken(t, ts, demo.InventoryAppID, demo.InventorySecret, second)
		u := second + "/api/data/v9.2/WhoAmI"
		clk.Step(time.Second)
		defer clk.Step(0)
		for i, left := range []string{"3.00", "2.00", "1.00"} {
			r := thrDo(t, ts.client, "GET", u, tok, nil)
			if r.status != http.StatusOK {
				t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
			}
			checkRateHeaders(t, fmt.Sprintf("request %d", i+1), r, 999-i, left)
		}
		r := thrDo(t, ts.client, "GET", u, tok, nil)
		check429(t, r, "0x80072321", "Combined execution time of incoming requests exceeded limit of 3,000  milliseconds over time window of 60 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.")
		checkRateHeaders(t, "429", r, 996, "0.00")
	})

	t.Run("concurrency under parallel requests", func(t *testing.T) {
		tok := thrToken(t, ts, demo.PortalAppID, demo.PortalSecret, second)
		thrConcurrency(t, ts, second, tok, 3, 16)
	})

	t.Run("headers on failure", func(t *testing.T) {
		// A window later, the inventory app's penalty in "second" is over
		// and its window empty.
		clk.Advance(61 * time.Second)
		tok := thrToken(t, ts, demo.InventoryAppID, demo.InventorySecret, second)
		r := thrDo(t, ts.client, "GET", second+"/api/data/v9.2/accounts("+uuid.NewString()+")", tok, nil)
		if r.status != http.StatusNotFound {
			t.Fatalf("missing account: %d %s", r.status, r.body)
		}
		checkRateHeaders(t, "404", r, 999, "3.00")
		// Before authentication: the whole budget.
		r = thrDo(t, ts.client, "GET", second+"/api/data/v9.2/WhoAmI", "", nil)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("no token: %d", r.status)
		}
		checkRateHeaders(t, "401", r, 1000, "3.00")
	})

	t.Run("metrics", func(t *testing.T) {
		m := thrMetrics(t, ts)
		for series, min := range map[string]float64{
			`dvs2s_webapi_requests_total{environment="contoso",operation="whoami",status="200",table=""}`:         8,
			`dvs2s_webapi_requests_total{environment="contoso",operation="whoami",status="429",table=""}`:         8,
			`dvs2s_webapi_requests_total{environment="second",operation="retrieve",status="404",table="account"}`: 1,
			`dvs2s_webapi_throttled_total{environment="contoso",limit="requests"}`:                                8,
			`dvs2s_webapi_throttled_total{environment="second",limit="execution_time"}`:                           1,
			`dvs2s_webapi_throttled_total{environment="second",limit="concurrency"}`:                              13,
			`dvs2s_identity_tokens_issued_total{grant="client_credentials"}`:                                      6,
			`dvs2s_webapi_active_principals{environment="contoso"}`:                                               2,
			`dvs2s_webapi_active_principals{environment="second"}`:                                                2,
			`dvs2s_webapi_request_duration_seconds_count{environment="contoso",operation="whoami",table=""}`:      16,
		} {
			if got, ok := m[series]; !ok || got < min {
				t.Errorf("%s = %v (present %v), want at least %v", series, got, ok, min)
			}
		}
	})

	t.Run("logs", func(t *testing.T) {
		logs := ts.logs.String()
		for _, want := range []string{"environment=contoso", "principal=" + demo.PortalAppUserID, "operation=whoami", "throttled=requests", "throttled=concurrency", "throttled=execution_time"} {
			if !strings.Contains(logs, want) {
				t.Errorf("the logs have no %q", want)
			}
		}
		for _, secret := range []string{portal, inventory, demo.PortalSecret, demo.InventorySecret} {
			if strings.Contains(logs, secret) {
				t.Errorf("the logs contain a token or secret (%.12s…)", secret)
			}
		}
	})
}

// thrConcurrency sends n truly parallel requests of one user over one
// HTTP/2 connection, each holding its request body open: exactly limit are
// admitted and stay in flight, the others are refused at once with
// 0x80072326; once the held requests end, the user is admitted again.
func thrConcurrency(t *testing.T, ts *testStack, envURL, tok string, limit, n int) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ts.CAPool)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer c.CloseIdleConnections()
	type result struct {
		i      int
		status int
		code   string
		proto  string
	}
	results := make(chan result, n)
	writers := make([]*io.PipeWriter, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		pr, pw := io.Pipe()
		writers[i] = pw
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest("POST", envURL+"/api/data/v9.2/accounts", pr)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				results <- result{i: i, status: -1, code: err.Error()}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			json.Unmarshal(b, &e)
			results <- result{i: i, status: resp.StatusCode, code: e.Error.Code, proto: resp.Proto}
		}(i)
	}
	// The refused requests answer while the admitted ones wait for their
	// bodies.
	deadline := time.After(20 * time.Second)
	for got := 0; got < n-limit; got++ {
		select {
		case r := <-results:
			if r.status != http.StatusTooManyRequests || r.code != "0x80072326" {
				t.Fatalf("a parallel request answered %d %s while %d were held; want 429 0x80072326", r.status, r.code, limit)
			}
			if r.proto != "HTTP/2.0" {
				t.Fatalf("protocol %s; the test needs HTTP/2", r.proto)
			}
			writers[r.i].CloseWithError(io.ErrUnexpectedEOF) // refused: its body is not read
			writers[r.i] = nil
		case <-deadline:
			t.Fatalf("only %d of %d parallel requests refused", got, n-limit)
		}
	}
	select {
	case r := <-results:
		t.Fatalf("request answered %d %s while it should be held in flight: more than %d admitted?", r.status, r.code, limit)
	case <-time.After(300 * time.Millisecond):
	}
	// While the limit is in use, a new request is refused at once too.
	r := thrDo(t, ts.client, "GET", envURL+"/api/data/v9.2/WhoAmI", tok, nil)
	check429(t, r, "0x80072326", fmt.Sprintf("Number of concurrent requests exceeded the limit of %d.", limit))
	for i, w := range writers {
		if w != nil {
			fmt.Fprintf(w, `{"name":"concurrency %d"}`, i)
			w.Close()
		}
	}
	wg.Wait()
	close(results)
	admitted := 0
	for r := range results {
		if r.status != http.StatusNoContent {
			t.Errorf("held request ended with %d %s, want 204", r.status, r.code)
		}
		admitted++
	}
	if admitted != limit {
		t.Errorf("%d held requests, want %d", admitted, limit)
	}
	if r := thrDo(t, ts.client, "GET", envURL+"/api/data/v9.2/WhoAmI", tok, nil); r.status != http.StatusOK {
		t.Fatalf("after the parallel requests ended: %d %s", r.status, r.body)
	}
}

// thrMetrics reads /metrics on the identity service's port.
func thrMetrics(t testing.TB, ts *testStack) map[string]float64 {
	t.Helper()
	resp, err := ts.client.Get(ts.Info.AuthorityHost + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
