package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeBinary builds the binary, starts `dvs2s serve` on free ports,
// waits for readiness, and stops it with SIGTERM: it must exit 0, promptly.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "dvs2s")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	for round := 0; round < 2; round++ { // the second start reuses the data directory
		cmd := exec.Command(bin, "serve", "--port", "0", "--log-level", "warn")
		cmd.Env = append(os.Environ(), "DVS2S_DATA="+data) // settings from the environment
		stdout, _ := cmd.StdoutPipe()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || !strings.Contains(sc.Text(), "ready") {
			cmd.Process.Kill()
			t.Fatalf("no ready line: %q %s", sc.Text(), stderr.String())
		}
		go func() {
			for sc.Scan() {
			}
		}()
		var info struct {
			CAFile        string `json:"ca_file"`
			AuthorityHost string `json:"authority_host"`
		}
		b, err := os.ReadFile(filepath.Join(data, "stack.json"))
		if err != nil || json.Unmarshal(b, &info) != nil {
			t.Fatalf("stack.json: %v", err)
		}
		ca, _ := os.ReadFile(info.CAFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
		res, err := hc.Get(info.AuthorityHost + "/readyz")
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("readyz: %v %v", err, res)
		}
		res.Body.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit: %v\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatal("did not stop on SIGTERM")
		}
	}
}
