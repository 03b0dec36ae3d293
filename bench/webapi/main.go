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
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

type options struct {
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	concurrency int
	loadgen     string
	threads     int
	rows        int
	ids         int
	sel         string
	filter      string
	top         int
	bin         string
	data        string
	keep        bool
	phases      string
}

func main() {
	var o options
	var bare string
	flag.StringVar(&bare, "bare", "", "internal: serve the bare baseline described by this file")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each measured phase")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load on each phase before the first round")
	flag.IntVar(&o.rounds, "rounds", 3, "how many times to run the phases (medians are reported)")
	flag.IntVar(&o.concurrency, "c", 32, "concurrent keep-alive HTTPS connections")
	flag.StringVar(&o.loadgen, "loadgen", "auto", "load generator: wrk (Debian package wrk), go (built in), or auto (wrk if installed, else go)")
	flag.IntVar(&o.threads, "threads", runtime.NumCPU(), "wrk threads")
	flag.IntVar(&o.rows, "rows", 100_000, "accounts in the table")
	flag.IntVar(&o.ids, "ids", 1000, "distinct rows the GET-by-id phase asks for, round-robin")
	flag.StringVar(&o.sel, "select", "name,revenue", "$select of the list")
	flag.StringVar(&o.filter, "filter", "startswith(name,'Fabrikam 01') and revenue gt 5000000", "$filter of the list")
	flag.IntVar(&o.top, "top", 50, "$top of the list")
	flag.StringVar(&o.bin, "bin", "", "dvs2s binary to start (default: go build ./cmd/dvs2s)")
	flag.StringVar(&o.data, "data", "", "data directory, kept and reused when it holds enough rows (default: a temporary one)")
	flag.StringVar(&database, "database", "", "PostgreSQL URL: serve --database, and the rows seeded there (default: SQLite in the data directory)")
	flag.StringVar(&serveArgs, "serve-args", "", `extra arguments of the measured server's serve command, e.g. "--read-cache 0"`)
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	flag.StringVar(&o.phases, "phases", "bare-get,get,bare-list,list,list-c1", "phases of a round, in this order (list-c1: the list from one connection, for its latency without queueing)")
	flag.Parse()
	if bare != "" {
		serveBare(bare)
		return
	}
	if o.rounds < 1 || o.concurrency < 1 || o.duration <= 0 || o.rows < 1 || o.ids < 1 || o.top < 1 {
		fmt.Fprintln(os.Stderr, "webapi: -rounds, -c, -duration, -rows, -ids and -top must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "webapi:", err)
		os.Exit(1)
	}
}

// run is the whole benchmark.
func run(ctx context.Context, o options) error {
	if o.loadgen == "auto" {
		o.loadgen = "go"
		if _, err := exec.LookPath("wrk"); err == nil {
			o.loadgen = "wrk"
		}
	}
	tmp, err := os.MkdirTemp("", "dvs2s-bench-webapi-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "temporary directory:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	dataDir := o.data
	if dataDir == "" {
		dataDir = filepath.Join(tmp, "data")
	}
	if dataDir, err = filepath.Abs(dataDir); err != nil {
		return err
	}
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(tmp, "dvs2s")
		fmt.Fprintln(os.Stderr, "building ./cmd/dvs2s ...")
		if err := goBuild(ctx, bin); err != nil {
			return err
		}
	}

	// A new data directory: serve once, so the demo tenants, apps and
	// environment exist; then fill the table with the server stopped.
	if _, err := os.Stat(filepath.Join(dataDir, "stack.json")); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(os.Stderr, "first start (demo seed) ...")
		srv, err := startServer(ctx, bin, dataDir)
		if err != nil {
			return err
		}
		srv.stop()
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
	defer srv.stop()
	tgt, err := newTarget(ctx, srv, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "server pid %d at %s; %d ids; list: %s\n", srv.pid(), tgt.envURL, len(tgt.getPaths), tgt.listPath)

	bare, err := startBare(ctx, tmp, srv, tgt)
	if err != nil {
		return err
	}
	defer bare.stop()

	gen, err := newLoadgen(o.loadgen, o.threads, tmp, srv.info.CAFile, requestHeaders(tgt.token))
	if err != nil {
		return err
	}
	type phase struct {
		name  string
		p     *proc
		host  string
		paths []string
		conns int
		get   func(*round) *phaseResult
	}
	c := o.concurrency
	all := map[string]phase{
		"bare-get":  {"bare GET", bare.proc, bare.host, tgt.getPaths, c, func(r *round) *phaseResult { return &r.bareGet }},
		"get":       {"GET by id", srv.proc, tgt.host, tgt.getPaths, c, func(r *round) *phaseResult { return &r.get }},
		"bare-list": {"bare list", bare.proc, bare.host, []string{tgt.listPath}, c, func(r *round) *phaseResult { return &r.bareList }},
		"list":      {"list", srv.proc, tgt.host, []string{tgt.listPath}, c, func(r *round) *phaseResult { return &r.list }},
		"list-c1":   {"list c=1", srv.proc, tgt.host, []string{tgt.listPath}, 1, func(r *round) *phaseResult { return &r.list1 }},
	}
	var phases []phase
	for _, name := range strings.Split(o.phases, ",") {
		ph, ok := all[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("-phases: unknown phase %q (bare-get, get, bare-list, list, list-c1)", name)
		}
		phases = append(phases, ph)
	}
	idle := memInfo{rss: procMemKB(srv.pid(), "VmRSS"), hwm: procMemKB(srv.pid(), "VmHWM"), bareRSS: procMemKB(bare.pid(), "VmRSS")}
	if o.warmup > 0 {
		fmt.Fprintf(os.Stderr, "warming up (%s per phase) ...\n", o.warmup)
		for _, ph := range phases {
			if _, err := measure(ctx, gen, ph.p, ph.host, ph.paths, ph.conns, o.warmup); err != nil {
				return fmt.Errorf("warm-up %s: %w", ph.name, err)
			}
		}
	}
	var rows []round
	for i := range o.rounds {
		var r round
		r.pressure = cpuPressure()
		fmt.Fprintf(os.Stderr, "round %d/%d (cpu pressure avg10 %.0f%%):", i+1, o.rounds, r.pressure)
		for _, ph := range phases {
			res, err := measure(ctx, gen, ph.p, ph.host, ph.paths, ph.conns, o.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", ph.name, err)
			}
			*ph.get(&r) = res
			fmt.Fprintf(os.Stderr, " %s %.0f/s p50 %.2fms;", ph.name, res.rate, res.p50)
		}
		fmt.Fprintln(os.Stderr)
		rows = append(rows, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	end := memInfo{rss: procMemKB(srv.pid(), "VmRSS"), hwm: procMemKB(srv.pid(), "VmHWM"), bareRSS: procMemKB(bare.pid(), "VmRSS"),
		bareHWM: procMemKB(bare.pid(), "VmHWM")}
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

func newTarget(ctx context.Context, s *server, o options) (*target, error) {
	info := s.info
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
			if t.client, err = httpClient(info.CAFile, 4); err != nil {
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
	*proc
	host string
}

// startBare starts this program with -bare on a free port, replaying the
// recorded responses with the stack's certificate, and checks that it
// answers with the same bytes.
func startBare(ctx context.Context, dir string, s *server, t *target) (*bareServer, error) {
	port, err := freePortPair()
	if err != nil {
		return nil, err
	}
	data := filepath.Dir(s.info.CAFile)
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
	p, err := startProc(self, "-bare", sf)
	if err != nil {
		return nil, err
	}
	bs := &bareServer{proc: p, host: "localhost:" + strconv.Itoa(port)}
	bt := *t
	bt.envURL = "https://" + bs.host
	for i := 0; ; i++ {
		if p.exited() {
			return nil, fmt.Errorf("bare server exited: %s", p.stderr.String())
		}
		g, err := bt.get(ctx, t.getPaths[0], nil)
		if err == nil {
			l, err := bt.get(ctx, t.listPath, nil)
			if err != nil {
				bs.stop()
				return nil, err
			}
			if string(g.Body) != string(t.getRec.Body) || string(l.Body) != string(t.listRec.Body) {
				bs.stop()
				return nil, errors.New("the bare server does not answer with the recorded bytes")
			}
			return bs, nil
		}
		if i > 100 {
			bs.stop()
			return nil, fmt.Errorf("bare server not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func goBuild(ctx context.Context, out string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", out, "./cmd/dvs2s")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/dvs2s (run from the repository root): %w", err)
	}
	return nil
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

func machine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nproc %d, GOMAXPROCS %d, %s %s/%s", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if cpu := cpuModel(); cpu != "" {
		fmt.Fprintf(&b, ", %s", cpu)
	}
	if kb := memTotalKB(); kb > 0 {
		fmt.Fprintf(&b, ", %d GiB", (kb+1<<19)>>20)
	}
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
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
