package main

// dvs2s exec: start a stack on a fresh temporary data directory and free
// ports, run a command with environment variables pointing at it, stop
// the stack and exit with the command's exit code. Made for CI:
//
//	dvs2s exec -- go test ./...

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/snapshot"
	"github.com/dvs2s/dvs2s/stack"
)

func init() {
	register(command{name: "exec", summary: "run a command against a fresh stack (temporary data, free ports), then stop it", run: execCmd})
}

// exitCode is an error that makes dvs2s exit with this code and print
// nothing: exec passes its command's exit code through.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// execVars documents the variables exec sets, in the order of its usage.
var execVars = [][2]string{
	{"DVS2S_STACK_JSON", "the stack's stack.json: everything below, and every app, environment and user"},
	{"DVS2S_DATA", "the temporary data directory (so 'dvs2s' commands run by the command act on this stack)"},
	{"DVS2S_AUTHORITY_HOST", "identity service, e.g. https://localhost:41234 (authority = host/tenant)"},
	{"DVS2S_CA_FILE", "PEM of the stack's local CA"},
	{"DVS2S_TENANT_ID", "demo customer tenant contoso"},
	{"DVS2S_AUTHORITY", "DVS2S_AUTHORITY_HOST/DVS2S_TENANT_ID, for MSAL"},
	{"DVS2S_CLIENT_ID", "demo app Fabrikam Portal (multi-tenant, consented in contoso, application user in the environment)"},
	{"DVS2S_CLIENT_SECRET", "its client secret"},
	{"DVS2S_ENVIRONMENT_URL", "the demo Dataverse environment contoso, e.g. https://localhost:41235"},
	{"DVS2S_SCOPE", "DVS2S_ENVIRONMENT_URL/.default"},
	{"AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST", "the same, for azidentity's EnvironmentCredential (DefaultAzureCredential); in code, still set DisableInstanceDiscovery"},
	{"SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE", "a bundle of the system roots plus the stack's CA (Go, OpenSSL, Python requests, curl); not set with --trust-env=false, or when no system bundle is found"},
	{"NODE_EXTRA_CA_CERTS", "the stack's CA, added to an existing value (Node.js)"},
}

func execCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("exec", stderr)
	var c stack.Config
	finish := stackFlags(fs, &c, 0, "warn")
	keep := fs.Bool("keep", false, "keep the temporary data directory (its path is printed at the end)")
	from := fs.String("snapshot", "", "seed the data directory from this snapshot ('dvs2s snapshot export') instead of starting empty")
	trustEnv := fs.Bool("trust-env", true, "set SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and NODE_EXTRA_CA_CERTS so that the command's HTTPS clients trust the stack")
	quiet := fs.Bool("quiet", false, "print nothing of exec's own (the stack's warnings and errors still go to stderr)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: dvs2s exec [flags] -- <command> [args...]\n\n"+
			"Starts the stack on a fresh temporary data directory and free ports (demo seeded),\n"+
			"runs the command with these environment variables, stops the stack, removes the\n"+
			"directory and exits with the command's exit code (128+n if a signal n ended it).\n"+
			"Interrupt, terminate, hang-up and quit signals are forwarded to the command.\n\n")
		for _, v := range execVars {
			fmt.Fprintf(stderr, "  %s\n      %s\n", v[0], v[1])
		}
		fmt.Fprint(stderr, "\nFlags (the stack's are those of 'dvs2s serve'):\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "dvs2s exec: give the command to run after --, e.g. dvs2s exec -- go test ./...")
		return errUsage
	}
	if err := finish(stderr); err != nil {
		return err
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(stderr, "dvs2s exec: %v\n", err)
		return exitCode(127) // as a shell says "command not found"
	}
	say := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, "dvs2s exec: "+format+"\n", a...)
		}
	}

	tmp, err := os.MkdirTemp("", "dvs2s-exec-")
	if err != nil {
		return err
	}
	cleanup := func() {
		if *keep {
			say("kept the data directory %s", filepath.Join(tmp, "data"))
			return
		}
		os.RemoveAll(tmp)
	}
	c.DataDir = filepath.Join(tmp, "data")
	if *from != "" {
		if err := seedFromSnapshot(ctx, *from, c.DataDir, c.MasterKey); err != nil {
			cleanup()
			return err
		}
	}
	s, err := stack.Start(ctx, c)
	if err != nil {
		cleanup()
		return err
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(sctx); err != nil {
			fmt.Fprintf(stderr, "dvs2s exec: stopping the stack: %v\n", err)
		}
		cleanup()
	}
	vars, err := execEnv(s, tmp, *trustEnv)
	if err != nil {
		stop()
		return err
	}
	say("stack ready: identity %s, %d environment(s), data %s; running %s", s.Info.AuthorityHost, len(s.Info.Environments), c.DataDir, strings.Join(argv, " "))

	code, err := runChild(path, argv, vars, stdout, stderr)
	stop()
	if err != nil {
		return err
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

// seedFromSnapshot imports a snapshot into the (missing) data directory.
func seedFromSnapshot(ctx context.Context, file, dir, masterKey string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("--snapshot: %w", err)
	}
	defer f.Close()
	if _, err := snapshot.Import(ctx, f, dir, snapshot.ImportOptions{MasterKey: masterKey}); err != nil {
		return fmt.Errorf("--snapshot %s: %w", file, err)
	}
	return nil
}

// execEnv returns the variables exec sets for its command (see execVars);
// extra files (CA bundles) go to dir.
func execEnv(s *stack.Stack, dir string, trust bool) (map[string]string, error) {
	i := s.Info
	v := map[string]string{
		"DVS2S_STACK_JSON":     filepath.Join(s.Config.DataDir, "stack.json"),
		"DVS2S_DATA":           s.Config.DataDir,
		"DVS2S_AUTHORITY_HOST": i.AuthorityHost,
		"DVS2S_CA_FILE":        i.CAFile,
	}
	// The demo's credentials: the portal app in contoso, for the contoso
	// environment (absent with --no-demo).
	for _, a := range i.Apps {
		if a.ClientID != demo.PortalAppID || a.ClientSecret == "" {
			continue
		}
		for _, e := range i.Environments {
			if e.Name != demo.EnvironmentName {
				continue
			}
			v["DVS2S_TENANT_ID"] = e.TenantID
			v["DVS2S_AUTHORITY"] = i.AuthorityHost + "/" + e.TenantID
			v["DVS2S_CLIENT_ID"] = a.ClientID
			v["DVS2S_CLIENT_SECRET"] = a.ClientSecret
			v["DVS2S_ENVIRONMENT_URL"] = e.URL
			v["DVS2S_SCOPE"] = e.URL + "/.default"
			v["AZURE_TENANT_ID"] = e.TenantID
			v["AZURE_CLIENT_ID"] = a.ClientID
			v["AZURE_CLIENT_SECRET"] = a.ClientSecret
			v["AZURE_AUTHORITY_HOST"] = i.AuthorityHost + "/"
		}
	}
	if !trust {
		return v, nil
	}
	// Go, OpenSSL and Python take SSL_CERT_FILE as *the* root store, not
	// an addition: give them the system roots plus ours, or nothing.
	if sys := systemBundle(); sys != "" {
		roots, err := os.ReadFile(sys)
		if err != nil {
			return nil, err
		}
		bundle := filepath.Join(dir, "ca-bundle.pem")
		if err := os.WriteFile(bundle, joinPEM(roots, s.CAPool), 0o644); err != nil {
			return nil, err
		}
		v["SSL_CERT_FILE"], v["REQUESTS_CA_BUNDLE"], v["CURL_CA_BUNDLE"] = bundle, bundle, bundle
	}
	// Node.js adds NODE_EXTRA_CA_CERTS to its roots; it reads one file.
	v["NODE_EXTRA_CA_CERTS"] = i.CAFile
	if prev := os.Getenv("NODE_EXTRA_CA_CERTS"); prev != "" {
		if b, err := os.ReadFile(prev); err == nil {
			extra := filepath.Join(dir, "node-extra-ca.pem")
			if err := os.WriteFile(extra, joinPEM(b, s.CAPool), 0o644); err != nil {
				return nil, err
			}
			v["NODE_EXTRA_CA_CERTS"] = extra
		}
	}
	return v, nil
}

// systemBundles are where Linux and BSD distributions keep the system's
// root certificates as one PEM file (as crypto/x509 looks for them).
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // openSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
	"/etc/ssl/cert.pem",                                 // Alpine, macOS, BSDs
}

// systemBundle returns the file of the system's roots: SSL_CERT_FILE if
// set, else the first bundle that exists, else "".
func systemBundle() string {
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		if _, err := os.Stat(f); err == nil {
			return f
		}
	}
	for _, f := range systemBundles {
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			return f
		}
	}
	return ""
}

func joinPEM(a, b []byte) []byte {
	out := append([]byte{}, a...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, "# dvs2s local CA (dvs2s exec)\n"...)
	return append(out, b...)
}

// forwarded are the signals exec passes on to its command.
var forwarded = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// runChild runs the command with the variables added to the environment,
// forwarding signals, and returns its exit code: 128+n when signal n
// ended it, as shells report it.
func runChild(path string, argv []string, vars map[string]string, stdout, stderr io.Writer) (int, error) {
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Env = os.Environ()
	for k, val := range vars {
		cmd.Env = append(cmd.Env, k+"="+val) // later entries win
	}
	// Catch the signals before the command starts, so none ends dvs2s
	// (and leaves the stack's directory behind) instead of reaching it.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, err
	}
	ps := cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ps.ExitCode(), nil
}
