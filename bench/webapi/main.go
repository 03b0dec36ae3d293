// Command webapi measures the Dataverse Web API of dvs2s on a table of
// 100,000 accounts against a bare Go HTTPS handler that returns the same
// bytes, both measured in the same run with the same load generator:
//
//   - GET by id: GET accounts(<id>) with an app-only bearer token, over
//     -ids different rows round-robin;
//   - list: GET accounts?$select=…&$filter=…&$top=50 (-select, -filter,
//     -top), with its latency percentiles, at -c connections and at one;
//   - the resident memory (VmRSS) of the server process under load.
//
// Usage, from the repository root:
//
//	go run ./bench/webapi                       # wrk if installed, else the Go client
//	go run ./bench/webapi -rounds 5 -duration 5s -data /tmp/wb-data
//	go run ./bench/webapi -database postgres://…   # the server on PostgreSQL (serve --database)
//
// It builds ./cmd/dvs2s (or starts -bin) as a separate process with
// `serve --log-level warn` and the service protection limits off, on a
// data directory (-data, kept and reused; default a temporary one) and
// free ports. A new data directory is first served once, so the demo is
// seeded; then, with the server stopped, accounts are inserted straight
// into the environment database until there are -rows
// (environment.Env.Insert, as the server inserts; much faster than POST
// accounts). Then the server starts again; the tool gets a token for the
// demo Fabrikam Portal app (client credentials; its application user has
// Global privileges on account), records one GET-by-id and one list
// response, and starts itself again as the bare server (-bare, see
// bare.go) replaying them. Each round runs the -phases, each for
// -duration: bare GET and GET by id, bare list and list at -c keep-alive
// connections, and the list from one connection (its latency without
// queueing). The tool prints every round and the medians as Markdown.
// Results go to docs/benchmarks.md by hand, with the command that
// produced them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/bench/internal/benchkit"
)

type options struct {
	benchkit.Options
	rows   int
	ids    int
	sel    string
	filter string
	top    int
	data   string
	phases string
}

func main() {
	var o options
	var bare string
	flag.StringVar(&bare, "bare", "", "internal: serve the bare baseline described by this file")
	flag.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each measured phase")
	flag.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured load on each phase before the first round")
	flag.IntVar(&o.Rounds, "rounds", 3, "how many times to run the phases (medians are reported)")
	flag.IntVar(&o.Conns, "c", 32, "concurrent keep-alive HTTPS connections")
	flag.StringVar(&o.Loadgen, "loadgen", "auto", "load generator: wrk (Debian package wrk), go (built in), or auto (wrk if installed, else go)")
	flag.IntVar(&o.Threads, "threads", runtime.NumCPU(), "wrk threads")
	flag.IntVar(&o.rows, "rows", 100_000, "accounts in the table")
	flag.IntVar(&o.ids, "ids", 1000, "distinct rows the GET-by-id phase asks for, round-robin")
	flag.StringVar(&o.sel, "select", "name,revenue", "$select of the list")
	flag.StringVar(&o.filter, "filter", "startswith(name,'Fabrikam 01') and revenue gt 5000000", "$filter of the list")
	flag.IntVar(&o.top, "top", 50, "$top of the list")
	flag.StringVar(&o.Bin, "bin", "", "dvs2s binary to start (default: go build ./cmd/dvs2s)")
	flag.StringVar(&o.data, "data", "", "data directory, kept and reused when it holds enough rows (default: a temporary one)")
	flag.StringVar(&database, "database", "", "PostgreSQL URL: serve --database, and the rows seeded there (default: SQLite in the data directory)")
	flag.StringVar(&serveArgs, "serve-args", "", `extra arguments of the measured server's serve command, e.g. "--read-cache 0"`)
	flag.BoolVar(&o.Keep, "keep", false, "keep the temporary directory")
	flag.StringVar(&o.phases, "phases", "bare-get,get,bare-list,list,list-c1", "phases of a round, in this order (list-c1: the list from one connection, for its latency without queueing)")
	flag.Parse()
	if bare != "" {
		serveBare(bare)
		return
	}
	if o.Rounds < 1 || o.Conns < 1 || o.Duration <= 0 || o.rows < 1 || o.ids < 1 || o.top < 1 {
		fmt.Fprintln(os.Stderr, "webapi: -rounds, -c, -duration, -rows, -ids and -top must be positive")
		os.Exit(2)
	}
	benchkit.Main("webapi", func(ctx context.Context) error { return run(ctx, o) })
}

// run is the whole benchmark.
func run(ctx context.Context, o options) error {
	o.Loadgen = benchkit.Loadgen(o.Loadgen)
	tmp, remove, err := benchkit.TempDir("dvs2s-bench-webapi-", "temporary directory:", o.Keep)
	if err != nil {
		return err
	}
	defer remove()
	dataDir := o.data
	if dataDir == "" {
		dataDir = filepath.Join(tmp, "data")
	}
	if dataDir, err = filepath.Abs(dataDir); err != nil {
		return err
	}
	bin, err := benchkit.Build(ctx, o.Bin, tmp)
	if err != nil {
		return err
	}

	// A new data directory: serve once, so the demo tenants, apps and
	// environment exist; then fill the table with the server stopped.
	if _, err := os.Stat(filepath.Join(dataDir, "stack.json")); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(os.Stderr, "first start (demo seed) ...")
		srv, err := startServer(ctx, bin, dataDir)
		if err != nil {
			return err
		}
		srv.Stop()
	}
	n, err := seedAccounts(ctx, dataDir, o.rows)
	if err != nil {
		return fmt.Errorf("seeding accounts: %w", err)
	}
	fmt.Fprintf(os.Stderr, "%d accounts in the table\n", n)

	srv, err := startServer(ctx, bin, dataDir)
	if err != nil {
		return err
	}
	defer srv.Stop()
	tgt, err := newTarget(ctx, srv, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "server pid %d at %s; %d ids; list: %s\n", srv.Pid(), tgt.envURL, len(tgt.getPaths), tgt.listPath)

	bare, err := startBare(ctx, tmp, srv, tgt)
	if err != nil {
		return err
	}
	defer bare.Stop()

	gen, err := newLoadgen(o.Loadgen, o.Threads, tmp, srv.Info.CAFile, requestHeaders(tgt.token))
	if err != nil {
		return err
	}
	type phase struct {
		name  string
		p     *benchkit.Proc
		host  string
		paths []string
		conns int
		get   func(*round) *phaseResult
	}
	c := o.Conns
	all := map[string]phase{
		"bare-get":  {"bare GET", bare.Proc, bare.host, tgt.getPaths, c, func(r *round) *phaseResult { return &r.bareGet }},
		"get":       {"GET by id", srv.Proc, tgt.host, tgt.getPaths, c, func(r *round) *phaseResult { return &r.get }},
		"bare-list": {"bare list", bare.Proc, bare.host, []string{tgt.listPath}, c, func(r *round) *phaseResult { return &r.bareList }},
		"list":      {"list", srv.Proc, tgt.host, []string{tgt.listPath}, c, func(r *round) *phaseResult { return &r.list }},
		"list-c1":   {"list c=1", srv.Proc, tgt.host, []string{tgt.listPath}, 1, func(r *round) *phaseResult { return &r.list1 }},
	}
	var phases []phase
	for _, name := range strings.Split(o.phases, ",") {
		ph, ok := all[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("-phases: unknown phase %q (bare-get, get, bare-list, list, list-c1)", name)
		}
		phases = append(phases, ph)
	}
	idle := memInfo{rss: procMemKB(srv.Pid(), "VmRSS"), hwm: procMemKB(srv.Pid(), "VmHWM"), bareRSS: procMemKB(bare.Pid(), "VmRSS")}
	if o.Warmup > 0 {
		fmt.Fprintf(os.Stderr, "warming up (%s per phase) ...\n", o.Warmup)
		for _, ph := range phases {
			if _, err := measure(ctx, gen, ph.p, ph.host, ph.paths, ph.conns, o.Warmup); err != nil {
				return fmt.Errorf("warm-up %s: %w", ph.name, err)
			}
		}
	}
	var rows []round
	for i := range o.Rounds {
		var r round
		r.pressure = cpuPressure()
		fmt.Fprintf(os.Stderr, "round %d/%d (cpu pressure avg10 %.0f%%):", i+1, o.Rounds, r.pressure)
		for _, ph := range phases {
			res, err := measure(ctx, gen, ph.p, ph.host, ph.paths, ph.conns, o.Duration)
			if err != nil {
				return fmt.Errorf("%s: %w", ph.name, err)
			}
			*ph.get(&r) = res
			fmt.Fprintf(os.Stderr, " %s %.0f/s p50 %.2fms;", ph.name, res.Rate, res.p50)
		}
		fmt.Fprintln(os.Stderr)
		rows = append(rows, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	end := memInfo{rss: procMemKB(srv.Pid(), "VmRSS"), hwm: procMemKB(srv.Pid(), "VmHWM"), bareRSS: procMemKB(bare.Pid(), "VmRSS"),
		bareHWM: procMemKB(bare.Pid(), "VmHWM")}
	report(os.Stdout, o, gen.name(), n, tgt, idle, end, rows)
	return nil
}

// round is one pass over the phases.
type round struct {
	pressure       float64 // /proc/pressure/cpu "some" avg10 at the start
	bareGet, get   phaseResult
	bareList, list phaseResult
	list1          phaseResult // the list at concurrency 1: its latency without queueing
}

type memInfo struct {
	rss, hwm         int64 // server VmRSS, VmHWM (kB)
	bareRSS, bareHWM int64
}

// target is what the benchmark asks the environment for.
type target struct {
	envURL   string // https://localhost:P+1
	host     string // localhost:P+1
	token    string
	getPaths []string // /api/data/v9.2/accounts(<id>)
	listPath string
	getRec   recorded // the response to getPaths[0]
	listRec  recorded
	client   *http.Client
}

const apiPath = "/api/data/v9.2/"

func newTarget(ctx context.Context, s *benchkit.Server, o options) (*target, error) {
	info := s.Info
	var tenantID, clientID, secret string
	for _, tn := range info.Tenants {
		if tn.Name == "contoso" {
			tenantID = tn.ID
		}
	}
	for _, a := range info.Apps {
		if a.Name == "Fabrikam Portal" {
			clientID, secret = a.ClientID, a.ClientSecret
		}
	}
	for _, e := range info.Environments {
		if e.Name == "contoso" {
			t := &target{envURL: strings.TrimRight(e.URL, "/")}
			u, err := url.Parse(t.envURL)
			if err != nil {
				return nil, err
			}
			t.host = u.Host
			if tenantID == "" || clientID == "" || secret == "" {
				break
			}
			if t.client, err = benchkit.Client(info.CAFile, 4); err != nil {
				return nil, err
			}
			if err := t.prepare(ctx, info.AuthorityHost+"/"+tenantID+"/oauth2/v2.0/token", clientID, secret, o); err != nil {
				return nil, err
			}
			return t, nil
		}
	}
	return nil, errors.New("stack.json lacks the demo contoso tenant and environment or the Fabrikam Portal app with a secret")
}

// prepare gets the token, picks the ids and records both responses.
func (t *target) prepare(ctx context.Context, tokenURL, clientID, secret string, o options) error {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
		"scope": {t.envURL + "/.default"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := t.do(req, &tr); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	t.token = tr.AccessToken

	// Ids spread over the whole table: the first 5000 in accountid order
	// (random GUIDs), every (5000/ids)-th of them.
	var page struct {
		Value []struct {
			ID string `json:"accountid"`
		} `json:"value"`
	}
	if _, err := t.get(ctx, apiPath+"accounts?$select=accountid&$top=5000", &page); err != nil {
		return err
	}
	if len(page.Value) == 0 {
		return errors.New("no accounts")
	}
	step := max(1, len(page.Value)/o.ids)
	for i := 0; i < len(page.Value) && len(t.getPaths) < o.ids; i += step {
		t.getPaths = append(t.getPaths, apiPath+"accounts("+page.Value[i].ID+")")
	}
	if t.getRec, err = t.get(ctx, t.getPaths[0], nil); err != nil {
		return err
	}
	t.listPath = apiPath + "accounts?$select=" + o.sel + "&$filter=" + url.PathEscape(o.filter) + "&$top=" + strconv.Itoa(o.top)
	var list struct {
		Value []json.RawMessage `json:"value"`
	}
	if t.listRec, err = t.get(ctx, t.listPath, &list); err != nil {
		return err
	}
	if len(list.Value) != o.top {
		fmt.Fprintf(os.Stderr, "warning: the list returns %d rows, not %d\n", len(list.Value), o.top)
	}
	return nil
}

// get sends an authenticated GET and decodes the 200 response into out
// (when not nil).
func (t *target) get(ctx context.Context, path string, out any) (recorded, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.envURL+path, nil)
	if err != nil {
		return recorded{}, err
	}
	for _, h := range requestHeaders(t.token) {
		req.Header.Set(h[0], h[1])
	}
	return t.do(req, out)
}

func (t *target) do(req *http.Request, out any) (recorded, error) {
	resp, err := t.client.Do(req)
	if err != nil {
		return recorded{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return recorded{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return recorded{}, fmt.Errorf("%s %s: HTTP %d: %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return recorded{}, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return record(resp, b), nil
}

// bareServer is the running baseline process.
type bareServer struct {
	*benchkit.Proc
	host string
}

// startBare starts this program with -bare on a free port, replaying the
// recorded responses with the stack's certificate, and checks that it
// answers with the same bytes.
func startBare(ctx context.Context, dir string, s *benchkit.Server, t *target) (*bareServer, error) {
	port, err := benchkit.FreePortPair()
	if err != nil {
		return nil, err
	}
	data := filepath.Dir(s.Info.CAFile)
	spec := bareSpec{CertFile: filepath.Join(data, "server.pem"), KeyFile: filepath.Join(data, "server-key.pem"), Port: port,
		Get: t.getRec, List: t.listRec}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	sf := filepath.Join(dir, "bare.json")
	if err := os.WriteFile(sf, b, 0o600); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, err := benchkit.Start(self, "-bare", sf)
	if err != nil {
		return nil, err
	}
	bs := &bareServer{Proc: p, host: "localhost:" + strconv.Itoa(port)}
	bt := *t
	bt.envURL = "https://" + bs.host
	for i := 0; ; i++ {
		if p.Exited() {
			return nil, fmt.Errorf("bare server exited: %s", p.Stderr.String())
		}
		g, err := bt.get(ctx, t.getPaths[0], nil)
		if err == nil {
			l, err := bt.get(ctx, t.listPath, nil)
			if err != nil {
				bs.Stop()
				return nil, err
			}
			if string(g.Body) != string(t.getRec.Body) || string(l.Body) != string(t.listRec.Body) {
				bs.Stop()
				return nil, errors.New("the bare server does not answer with the recorded bytes")
			}
			return bs, nil
		}
		if i > 100 {
			bs.Stop()
			return nil, fmt.Errorf("bare server not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cpuPressure is the "some" avg10 of /proc/pressure/cpu: the share of the
// last 10 seconds in which some runnable task waited for a CPU.
func cpuPressure() float64 {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return -1
	}
	for _, f := range strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) {
		if v, ok := strings.CutPrefix(f, "avg10="); ok {
			x, _ := strconv.ParseFloat(v, 64)
			return x
		}
	}
	return -1
}

// machine is benchkit.Machine with the memory size.
func machine() string {
	m := benchkit.Machine()
	if kb := memTotalKB(); kb > 0 {
		m += fmt.Sprintf(", %d GiB", (kb+1<<19)>>20)
	}
	return m
}

func memTotalKB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}
