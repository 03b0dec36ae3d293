package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/store/sqlite"
	"github.com/dvs2s/dvs2s/throttle"
)

func init() {
	register(command{name: "serve", summary: "start the whole stack (HTTPS, embedded SQLite, demo data)", run: serve})
}

// dataFlag adds --data, shared by every command that works on a data directory.
func dataFlag(fs interface {
	StringVar(*string, string, string, string)
}, p *string) {
	fs.StringVar(p, "data", ".dvs2s", "data directory (database, keys, certificates, stack.json)")
}

// databaseFlag adds --database, shared by serve and the administration
// commands: they must open the same store.
func databaseFlag(fs interface {
	StringVar(*string, string, string, string)
}, p *string) {
	fs.StringVar(p, "database", "", "PostgreSQL URL (postgres://user:password@host:5432/db): identity and environments there, shared by every instance given the same URL; default: embedded SQLite in the data directory")
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	var c stack.Config
	dataFlag(fs, &c.DataDir)
	databaseFlag(fs, &c.Database)
	finish := stackFlags(fs, &c, stack.DefaultPort, "info")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := finish(stderr); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := stack.Start(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, s.Summary())
	<-ctx.Done()
	c.Logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Close(sctx)
}

// stackFlags adds to fs the flags of the stack itself, which serve and
// exec share: all of serve's but --data and --database, with port and
// logLevel as the defaults of --port and --log-level. Once fs is parsed,
// finish completes c from them (logging to stderr).
func stackFlags(fs *flag.FlagSet, c *stack.Config, port int, logLevel string) (finish func(stderr io.Writer) error) {
	var hosts, logFormat, envLimits string
	fs.StringVar(&c.Listen, "listen", "127.0.0.1", "address to listen on")
	fs.IntVar(&c.Port, "port", port, "first port the stack may use (identity service; environments follow); 0 picks free ports")
	fs.StringVar(&hosts, "host", "", "comma-separated extra host names for the TLS certificate; the first is used in URLs (default localhost)")
	fs.StringVar(&c.BaseDomain, "base-domain", "", "host-based routing: serve environment <name> at https://<name>.<base-domain>:<port+1> (default: one port per environment)")
	var trustCA string
	fs.StringVar(&trustCA, "trust-ca", "", "comma-separated PEM files of extra CAs the data service trusts when it fetches an authority's metadata (environments trusting another identity provider)")
	fs.BoolVar(&c.NoDemo, "no-demo", false, "do not seed the demo tenants, apps and users")
	fs.BoolVar(&c.AllowDemoOnNetwork, "allow-demo-on-network", false, "accept the well-known demo credentials even when listening beyond loopback")
	fs.DurationVar(&c.TokenLifetime, "token-lifetime", time.Hour, "access token lifetime")
	fs.DurationVar(&c.KeyRotation, "key-rotation", 30*24*time.Hour, "how long a token-signing key signs before the next one takes over")
	fs.DurationVar(&c.KeyOverlap, "key-overlap", 24*time.Hour, "how long a signing key is published before it signs, and after it stops")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", time.Second, "how long the token path caches directory reads (changes by other processes show after this)")
	fs.IntVar(&c.Limits.Requests, "limit-requests", throttle.Defaults.Requests, "service protection: requests per user in the window (-1: no limit)")
	fs.DurationVar(&c.Limits.ExecutionTime, "limit-execution-time", throttle.Defaults.ExecutionTime, "service protection: combined execution time per user in the window (negative: no limit)")
	fs.IntVar(&c.Limits.Concurrent, "limit-concurrent", throttle.Defaults.Concurrent, "service protection: concurrent requests per user (-1: no limit)")
	fs.DurationVar(&c.Limits.Window, "limit-window", throttle.Defaults.Window, "service protection: sliding window (whole seconds)")
	fs.IntVar(&c.Limits.DOPHint, "limit-dop-hint", 0, "x-ms-dop-hint value; 0 derives it from the processors")
	fs.StringVar(&envLimits, "env-limits", "", `per-environment service protection limits, e.g. "contoso:requests=100,concurrent=4;fabrikam:window=60s" (fields: requests, execution-time, concurrent, window, dop-hint)`)
	fs.StringVar(&logLevel, "log-level", logLevel, "log level: debug, info, warn, error")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	readCache := fs.Int("read-cache", sqlite.DefaultReadCache>>20, "memory for each SQLite environment database's read cache, MiB (0: none)")
	gcPercent := fs.Int("gc-percent", defaultGCPercent(), "garbage collector target percentage, as GOGC (default: GOGC if set, else 400; -1: off)")
	return func(stderr io.Writer) error {
		if *readCache < 0 {
			return fmt.Errorf("--read-cache %d: MiB, 0 or more", *readCache)
		}
		c.ReadCache = int64(*readCache) << 20
		if *readCache == 0 {
			c.ReadCache = -1
		}
		debug.SetGCPercent(*gcPercent)
		return finishStackFlags(c, stderr, hosts, trustCA, envLimits, logLevel, logFormat)
	}
}

// defaultGCPercent is GOGC when set, else 400: with the runtime's 100 the
// collector took a sixth of the server's CPU under a read load (GET by id,
// docs/benchmarks.md), for a live heap of a few tens of MiB.
func defaultGCPercent() int {
	switch v := os.Getenv("GOGC"); v {
	case "":
	case "off":
		return -1
	default:
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return 400
}

func finishStackFlags(c *stack.Config, stderr io.Writer, hosts, trustCA, envLimits, logLevel, logFormat string) error {
	if hosts != "" {
		c.Hosts = strings.Split(hosts, ",")
	}
	if trustCA != "" {
		c.TrustCAFiles = strings.Split(trustCA, ",")
	}
	if c.Limits.Window < time.Second {
		return fmt.Errorf("--limit-window %v: at least 1s", c.Limits.Window)
	}
	if envLimits != "" {
		var err error
		if c.EnvLimits, err = throttle.ParseEnvLimits(envLimits); err != nil {
			return fmt.Errorf("--env-limits: %w", err)
		}
	}
	c.MasterKey = os.Getenv("DVS2S_MASTER_KEY")
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch logFormat {
	case "text":
		c.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		c.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return fmt.Errorf("--log-format %q: use text or json", logFormat)
	}
	return nil
}
