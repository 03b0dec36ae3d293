package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/store/postgres/pgtest"
)

// Crash safety: `dvs2s serve` killed with SIGKILL in the middle of
// concurrent writes — creates, conditional updates, $batch change sets —
// and started again on the same data. Every write the client saw
// acknowledged is there; nothing is half there: no row has columns from
// two different writes, and a change set is all there or not at all.

// buildDvs2s builds cmd/dvs2s into a temporary directory of t.
func buildDvs2s(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "dvs2s")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/dvs2s")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/dvs2s: %v\n%s", err, out)
	}
	return bin
}

// server is a `dvs2s serve` child process.
type server struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	base   string // identity service
	env    string // demo environment URL
	client *http.Client
}

// startServer runs `dvs2s serve` on dir (and database, if not empty) at
// port and waits until it is ready.
func startServer(t *testing.T, bin, dir, database string, port int) *server {
	t.Helper()
	args := []string{"serve", "--data", dir, "--port", strconv.Itoa(port), "--log-level", "warn"}
	if database != "" {
		args = append(args, "--database", database)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DVS2S_DATABASE=", "DVS2S_MASTER_KEY=")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, out: out, base: "https://localhost:" + strconv.Itoa(port), env: "https://localhost:" + strconv.Itoa(port+1)}
	t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(90 * time.Second)
	for {
		if s.client == nil {
			if pem, err := os.ReadFile(filepath.Join(dir, "ca.pem")); err == nil {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pem) {
					s.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16}}
				}
			}
		}
		if s.client != nil {
			if resp, err := s.client.Get(s.base + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && strings.Contains(out.String(), "dvs2s is ready") {
					return s
				}
			}
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("dvs2s serve did not become ready:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill sends SIGKILL and reaps the process.
func (s *server) kill() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

func (s *server) token(t *testing.T) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.PortalAppID}, "client_secret": {demo.PortalSecret},
		"scope": {s.env + "/.default"}}
	resp, err := s.client.PostForm(s.base+"/"+demo.ContosoTenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	tok, _ := body["access_token"].(string)
	if tok == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, body)
	}
	return tok
}

func (s *server) do(ctx context.Context, method, path, token, contentType, body string, hdr ...string) (int, http.Header, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.env+"/api/data/v9.2/"+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// crashRow is what a write puts in a row; every column is derived from
// the name and the generation, so a row mixing two writes shows.
func crashRow(name string, gen int) map[string]any {
	k, _ := strconv.Atoi(name[strings.LastIndex(name, "-")+1:])
	return map[string]any{"name": name, "description": fmt.Sprintf("%s generation %d %s", name, gen, strings.Repeat("x", 200*gen)),
		"numberofemployees": k*10 + gen, "telephone1": fmt.Sprintf("+1-%d-%d", k, gen)}
}

// crashLedger is what the client saw acknowledged.
type crashLedger struct {
	mu      sync.Mutex
	created map[string]bool // name → acknowledged create
	updated map[string]bool // name → acknowledged update (generation 1)
	batches [][]string      // acknowledged change sets
	tried   [][]string      // every change set sent
}

func TestCrashSafety(t *testing.T) {
	bin := buildDvs2s(t)
	t.Run("sqlite", func(t *testing.T) { crashSafety(t, bin, "") })
	t.Run("postgres", func(t *testing.T) { crashSafety(t, bin, pgtest.NewDatabase(t)) })
}

func crashSafety(t *testing.T, bin, database string) {
	dir := t.TempDir()
	port := freePortPair(t, "127.0.0.1")
	s := startServer(t, bin, dir, database, port)
	tok := s.token(t)
	prefix := "crash-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	led := &crashLedger{created: map[string]bool{}, updated: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var acks atomic.Int64
	var seq atomic.Int64
	var wg sync.WaitGroup
	const workers = 6
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				k := int(seq.Add(1))
				switch w % 3 {
				case 0, 1: // create, then update conditionally on its version
					name := fmt.Sprintf("%s%d", prefix, k)
					b, _ := json.Marshal(crashRow(name, 0))
					st, h, _, err := s.do(ctx, http.MethodPost, "accounts", tok, "application/json", string(b))
					if err != nil || st != http.StatusNoContent {
						continue
					}
					led.mu.Lock()
					led.created[name] = true
					led.mu.Unlock()
					acks.Add(1)
					loc := h.Get("OData-EntityId")
					id := loc[strings.LastIndex(loc, "(")+1 : len(loc)-1]
					b, _ = json.Marshal(crashRow(name, 1))
					st, _, _, err = s.do(ctx, http.MethodPatch, "accounts("+id+")", tok, "application/json", string(b), "If-Match", "*")
					if err == nil && st == http.StatusNoContent {
						led.mu.Lock()
						led.updated[name] = true
						led.mu.Unlock()
						acks.Add(1)
					}
				case 2: // a change set of three creates
					var names []string
					var ops batSet
					for i := range 3 {
						name := fmt.Sprintf("%s%d", prefix, k*10+i+1_000_000)
						names = append(names, name)
						b, _ := json.Marshal(crashRow(name, 0))
						ops = append(ops, batOp{method: "POST", url: "accounts", body: string(b), contentID: strconv.Itoa(i + 1)})
					}
					led.mu.Lock()
					led.tried = append(led.tried, names)
					led.mu.Unlock()
					boundary := "batch_" + strconv.Itoa(k)
					st, _, body, err := s.do(ctx, http.MethodPost, "$batch", tok, "multipart/mixed; boundary="+boundary, batBody(boundary, ops))
					if err == nil && st == http.StatusOK && strings.Count(body, "HTTP/1.1 204") == 3 && strings.Count(body, "HTTP/1.1 ") == 3 {
						led.mu.Lock()
						led.batches = append(led.batches, names)
						led.mu.Unlock()
						acks.Add(1)
					}
				}
			}
		}()
	}
	// Kill mid-way: once writes are flowing.
	deadline := time.Now().Add(60 * time.Second)
	for acks.Load() < 150 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	cancel()
	wg.Wait()
	led.mu.Lock()
	defer led.mu.Unlock()
	if len(led.created) < 20 || len(led.batches) < 3 {
		t.Fatalf("only %d creates and %d change sets acknowledged before the kill; output:\n%s", len(led.created), len(led.batches), s.out.String())
	}
	t.Logf("killed after %d acknowledged creates, %d updates, %d change sets", len(led.created), len(led.updated), len(led.batches))

	s2 := startServer(t, bin, dir, database, port)
	tok = s2.token(t)
	st, _, body, err := s2.do(context.Background(), http.MethodGet,
		"accounts?$select=name,description,numberofemployees,telephone1&$filter="+url.QueryEscape("startswith(name,'"+prefix+"')"), tok, "", "",
		"Prefer", "odata.maxpagesize=5000")
	if err != nil || st != http.StatusOK {
		t.Fatalf("list after restart: %d %s %v", st, body, err)
	}
	var page struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	rows := map[string]map[string]any{}
	for _, r := range page.Value {
		name, _ := r["name"].(string)
		if rows[name] != nil {
			t.Errorf("%s twice", name)
		}
		rows[name] = r
		// Whole: every column from the same write, of generation 0 or 1.
		whole := false
		for gen := range 2 {
			want := crashRow(name, gen)
			if r["description"] == want["description"] && r["telephone1"] == want["telephone1"] && r["numberofemployees"] == float64(want["numberofemployees"].(int)) {
				whole = true
				if gen == 0 && led.updated[name] {
					t.Errorf("%s: acknowledged update lost", name)
				}
			}
		}
		if !whole {
			t.Errorf("%s is half-written: %v", name, r)
		}
	}
	for name := range led.created {
		if rows[name] == nil {
			t.Errorf("acknowledged create of %s lost", name)
		}
	}
	for _, set := range led.batches {
		for _, name := range set {
			if rows[name] == nil {
				t.Errorf("acknowledged change set %v lost %s", set, name)
			}
		}
	}
	for _, set := range led.tried {
		n := 0
		for _, name := range set {
			if rows[name] != nil {
				n++
			}
		}
		if n != 0 && n != len(set) {
			t.Errorf("change set %v is partly there (%d of %d rows)", set, n, len(set))
		}
	}
	// The restarted server takes writes.
	b, _ := json.Marshal(crashRow(prefix+"9999999", 0))
	if st, _, body, err := s2.do(context.Background(), http.MethodPost, "accounts", tok, "application/json", string(b)); err != nil || st != http.StatusNoContent {
		t.Errorf("create after restart: %d %s %v", st, body, err)
	}
	if t.Failed() {
		t.Logf("first server's output:\n%s\nsecond server's output:\n%s", tail(s.out.String(), 4000), tail(s2.out.String(), 4000))
	}
}
