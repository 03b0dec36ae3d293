package stack

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/dvs2s/dvs2s/console"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/throttle"
)

// liveState is what serving environments created while the stack runs
// needs.
type liveState struct {
	mu  sync.Mutex
	tls *tls.Config
}

// newConsole creates the admin console (mounted at /console/ on the
// identity service's port) and the Web API traffic recorder behind its
// throttling dashboard.
func (s *Stack) newConsole(tlsConf *tls.Config) (*console.Server, error) {
	s.live = &liveState{tls: tlsConf}
	return console.New(console.Config{
		Identity: s.Identity, Directory: s.Directory, Store: s.Store, Envs: s.Envs,
		CreateEnvironment: s.CreateEnvironment, Traffic: s.Traffic, Limits: s.Limits, Logger: s.log, Now: s.Config.Now,
	})
}

// Limits returns the service protection limits of an environment: its
// own (Config.EnvLimits), then the stack's (Config.Limits), then
// Dataverse's defaults.
func (s *Stack) Limits(envName string) throttle.Limits {
	l := s.Config.Limits
	if el, ok := s.Config.EnvLimits[strings.ToLower(envName)]; ok {
		l = el.Merge(l)
	}
	return l.Merge(throttle.Defaults)
}

// CreateEnvironment creates an environment of a tenant while the stack
// runs and starts serving it at once: on its own origin at the port it
// will keep after a restart (the next one after the existing
// environments'; a free port when the stack picks free ports), or at
// <name>.<BaseDomain> with host-based routing. stack.json is rewritten.
func (s *Stack) CreateEnvironment(ctx context.Context, name, tenant string) (*environment.Env, error) {
	if s.live == nil {
		return nil, fmt.Errorf("the stack is not running")
	}
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	c := s.Config
	publicHost := "localhost"
	if len(c.Hosts) > 0 {
		publicHost = c.Hosts[0]
	}
	hostPort := func(host string, p int) string { return "https://" + net.JoinHostPort(host, strconv.Itoa(p)) }
	if c.BaseDomain != "" {
		port := 0
		for _, el := range s.envListeners {
			if el.envID == "" {
				port = el.ln.Addr().(*net.TCPAddr).Port
			}
		}
		env, err := s.Envs.Create(ctx, name, tenant, "")
		if err != nil {
			return nil, err
		}
		if err := s.Envs.SetURL(ctx, env, hostPort(name+"."+c.BaseDomain, port)); err != nil {
			return nil, err
		}
		return env, s.refreshInfo(ctx)
	}
	envs, err := s.Envs.List(ctx)
	if err != nil {
		return nil, err
	}
	port := 0
	if c.Port != 0 {
		port = c.Port + 1 + len(envs)
	}
	lns, err := listen(c.Listen, port)
	if err != nil {
		return nil, fmt.Errorf("data service port %d: %w", port, err)
	}
	env, err := s.Envs.Create(ctx, name, tenant, "")
	if err != nil {
		closeAll(lns)
		return nil, err
	}
	if err := s.Envs.SetURL(ctx, env, hostPort(publicHost, lns[0].Addr().(*net.TCPAddr).Port)); err != nil {
		closeAll(lns)
		return nil, err
	}
	for _, ln := range lns {
		s.envListeners = append(s.envListeners, envListener{envID: env.ID, ln: ln})
		s.serve(ln, s.WebAPI.Handler(env.ID), s.live.tls)
	}
	s.log.Info("environment created and served", "environment", env.Name, "url", env.URL, "tenant", env.TenantID)
	return env, s.refreshInfo(ctx)
}

// refreshInfo rebuilds stack.json after a change, keeping the well-known
// demo credentials it listed.
func (s *Stack) refreshInfo(ctx context.Context) error {
	info, err := s.buildInfo(ctx, s.Info.AuthorityHost, nil)
	if err != nil {
		return err
	}
	apps := map[string]AppInfo{}
	for _, a := range s.Info.Apps {
		apps[a.ClientID] = a
	}
	for i, a := range info.Apps {
		if old, ok := apps[a.ClientID]; ok {
			info.Apps[i].ClientSecret, info.Apps[i].CertificateFile, info.Apps[i].PrivateKeyFile = old.ClientSecret, old.CertificateFile, old.PrivateKeyFile
		}
	}
	pw := map[string]string{}
	for _, u := range s.Info.Users {
		pw[u.ObjectID] = u.Password
	}
	for i, u := range info.Users {
		info.Users[i].Password = pw[u.ObjectID]
	}
	s.Info = info
	return writeJSONFile(filepath.Join(s.Config.DataDir, "stack.json"), info)
}
