//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
)

// The exec tests run this test binary as exec's command, in a mode given
// by DVS2S_EXEC_HELPER; TestExecHelper is that command.

const helperVar = "DVS2S_EXEC_HELPER"

func TestExecHelper(t *testing.T) {
	mode := os.Getenv(helperVar)
	if mode == "" {
		t.Skip("the command of the exec tests")
	}
	out := os.Getenv("DVS2S_EXEC_HELPER_OUT")
	switch mode {
	case "check":
		err := execHelperCheck()
		msg := "ok"
		if err != nil {
			msg = err.Error()
		}
		os.WriteFile(out, []byte(os.Getenv("DVS2S_DATA")+"\n"+msg), 0o600)
		if err != nil {
			os.Exit(1)
		}
		os.Exit(7)
	case "wait":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		os.WriteFile(out, []byte("ready"), 0o600)
		select {
		case <-sigs:
			os.Exit(42)
		case <-time.After(time.Minute):
			os.Exit(1)
		}
	case "kill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	}
	os.Exit(2)
}

// execHelperCheck uses the variables exec sets as a program would, with
// no CA configured in code: SSL_CERT_FILE makes the stack trusted.
func execHelperCheck() error {
	for _, v := range execVars {
		for _, name := range strings.Split(v[0], ", ") {
			if os.Getenv(name) == "" {
				return fmt.Errorf("%s is not set", name)
			}
		}
	}
	ctx := context.Background()
	hc := &http.Client{Timeout: 30 * time.Second} // system roots only
	resp, err := hc.PostForm(os.Getenv("DVS2S_AUTHORITY")+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {os.Getenv("DVS2S_CLIENT_ID")}, "client_secret": {os.Getenv("DVS2S_CLIENT_SECRET")}, "scope": {os.Getenv("DVS2S_SCOPE")}})
	if err != nil {
		return fmt.Errorf("token with the system roots: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok.AccessToken == "" {
		return fmt.Errorf("token: %d", resp.StatusCode)
	}
	// azidentity from the environment alone (but instance discovery).
	cred, err := azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{DisableInstanceDiscovery: true})
	if err != nil {
		return err
	}
	c, err := dataverse.NewClient(os.Getenv("DVS2S_ENVIRONMENT_URL"), cred, nil)
	if err != nil {
		return err
	}
	who, err := c.WhoAmI(ctx)
	if err != nil {
		return fmt.Errorf("WhoAmI with EnvironmentCredential: %w", err)
	}
	if who.UserID != demo.PortalAppUserID {
		return fmt.Errorf("WhoAmI: %+v", who)
	}
	// The stack's own CLI finds the stack through DVS2S_DATA.
	if st, err := os.Stat(filepath.Join(os.Getenv("DVS2S_DATA"), "dvs2s.db")); err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("DVS2S_DATA: %v", err)
	}
	return nil
}

func runExec(t *testing.T, mode string, args ...string) (code int, out string, stderr string) {
	t.Helper()
	outFile := filepath.Join(t.TempDir(), "out")
	t.Setenv(helperVar, mode)
	t.Setenv("DVS2S_EXEC_HELPER_OUT", outFile)
	var so, se bytes.Buffer
	argv := append([]string{"exec"}, args...)
	argv = append(argv, "--", os.Args[0], "-test.run=^TestExecHelper$", "-test.count=1")
	code = run(context.Background(), argv, &so, &se)
	b, _ := os.ReadFile(outFile)
	return code, string(b), se.String()
}

func TestExec(t *testing.T) {
	if testing.Short() {
		t.Skip("starts stacks")
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil && systemBundle() == "" {
		t.Skip("no system root bundle: SSL_CERT_FILE is not set")
	}
	t.Run("variables, exit code, cleanup", func(t *testing.T) {
		code, out, stderr := runExec(t, "check")
		data, msg, _ := strings.Cut(out, "\n")
		if code != 7 || msg != "ok" {
			t.Fatalf("exit code %d (want the command's 7); command says %q; stderr:\n%s", code, msg, stderr)
		}
		if data == "" {
			t.Fatal("no data directory reported")
		}
		if _, err := os.Stat(filepath.Dir(data)); !os.IsNotExist(err) {
			t.Errorf("the temporary directory %s is still there: %v", filepath.Dir(data), err)
		}
		if !strings.Contains(stderr, "stack ready") {
			t.Errorf("stderr: %s", stderr)
		}
	})
	t.Run("keep", func(t *testing.T) {
		code, out, stderr := runExec(t, "check", "--keep", "--quiet")
		data, _, _ := strings.Cut(out, "\n")
		if code != 7 {
			t.Fatalf("exit code %d; stderr:\n%s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(data, "stack.json")); err != nil {
			t.Errorf("--keep: %v", err)
		}
		os.RemoveAll(filepath.Dir(data))
		if stderr != "" {
			t.Errorf("--quiet printed %q", stderr)
		}
	})
	t.Run("snapshot", func(t *testing.T) {
		src := newDataDir(t)
		file := filepath.Join(t.TempDir(), "snap.jsonl")
		var so, se bytes.Buffer
		if code := run(context.Background(), []string{"snapshot", "export", "--data", src, file}, &so, &se); code != 0 {
			t.Fatalf("export: %s", se.String())
		}
		code, out, stderr := runExec(t, "check", "--keep", "--quiet", "--snapshot", file)
		data, msg, _ := strings.Cut(out, "\n")
		if code != 7 {
			t.Fatalf("exit code %d; command says %q; stderr:\n%s", code, msg, stderr)
		}
		defer os.RemoveAll(filepath.Dir(data))
		a, _ := os.ReadFile(filepath.Join(src, "ca.pem"))
		b, _ := os.ReadFile(filepath.Join(data, "ca.pem"))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Error("the stack did not start from the snapshot (another CA)")
		}
	})
	t.Run("signal forwarded", func(t *testing.T) {
		outFile := filepath.Join(t.TempDir(), "out")
		t.Setenv(helperVar, "wait")
		t.Setenv("DVS2S_EXEC_HELPER_OUT", outFile)
		go func() {
			for i := 0; i < 600; i++ {
				if b, _ := os.ReadFile(outFile); string(b) == "ready" {
					syscall.Kill(os.Getpid(), syscall.SIGTERM) // exec catches it
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		var so, se bytes.Buffer
		code := run(context.Background(), []string{"exec", "--quiet", "--", os.Args[0], "-test.run=^TestExecHelper$"}, &so, &se)
		if code != 42 {
			t.Errorf("exit code %d, want 42 (the command's, on SIGTERM); stderr:\n%s", code, se.String())
		}
	})
	t.Run("killed by a signal", func(t *testing.T) {
		if code, _, stderr := runExec(t, "kill", "--quiet"); code != 128+9 {
			t.Errorf("exit code %d, want 137; stderr:\n%s", code, stderr)
		}
	})
	t.Run("command not found", func(t *testing.T) {
		var so, se bytes.Buffer
		if code := run(context.Background(), []string{"exec", "--", "dvs2s-no-such-command"}, &so, &se); code != 127 {
			t.Errorf("exit code %d, want 127; stderr:\n%s", code, se.String())
		}
	})
	t.Run("no command", func(t *testing.T) {
		var so, se bytes.Buffer
		if code := run(context.Background(), []string{"exec"}, &so, &se); code != 2 || !strings.Contains(se.String(), "give the command") {
			t.Errorf("exit code %d, want 2; stderr:\n%s", code, se.String())
		}
	})
}
