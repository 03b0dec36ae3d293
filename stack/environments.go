package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/store"
)

// envListener is a listener of the data service: one environment's origin,
// or (envID "") the host-routed listener of every environment.
type envListener struct {
	envID string
	ln    net.Listener
}

// startEnvironments creates the demo environment when seeding, gives every
// environment its address — port base+1+i in creation order (free ports
// when base is 0), or <name>.<BaseDomain> on port base+1 — updates their
// URLs (and token audiences) accordingly, and opens their listeners.
func (s *Stack) startEnvironments(ctx context.Context, publicHost string, seeding bool) ([]net.Listener, error) {
	c := s.Config
	if seeding {
		if _, err := s.Store.Environment(ctx, demo.EnvironmentName); errors.Is(err, store.ErrNotFound) {
			if _, err := s.Envs.Create(ctx, demo.EnvironmentName, demo.ContosoTenantID, ""); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
	}
	envs, err := s.Envs.List(ctx)
	if err != nil {
		return nil, err
	}
	var lns []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		closeAll(lns)
		return nil, err
	}
	port := func(i int) int {
		if c.Port == 0 {
			return 0
		}
		return c.Port + 1 + i
	}
	open := func(p int) (net.Listener, int, error) {
		ls, err := listen(c.Listen, p)
		if err != nil {
			return nil, 0, fmt.Errorf("data service port %d: %w (is another dvs2s running? use --port)", p, err)
		}
		lns = append(lns, ls...)
		return ls[0], ls[0].Addr().(*net.TCPAddr).Port, nil
	}
	hostPort := func(host string, p int) string { return "https://" + net.JoinHostPort(host, strconv.Itoa(p)) }
	if c.BaseDomain != "" {
		ln, p, err := open(port(0))
		if err != nil {
			return fail(err)
		}
		s.envListeners = append(s.envListeners, envListener{ln: ln})
		for _, l := range lns[1:] {
			s.envListeners = append(s.envListeners, envListener{ln: l})
		}
		for _, e := range envs {
			env, err := s.Envs.Open(ctx, e.ID)
			if err != nil {
				return fail(err)
			}
			if err := s.Envs.SetURL(ctx, env, hostPort(e.Name+"."+c.BaseDomain, p)); err != nil {
				return fail(err)
			}
		}
	} else {
		for i, e := range envs {
			before := len(lns)
			ln, p, err := open(port(i))
			if err != nil {
				return fail(err)
			}
			s.envListeners = append(s.envListeners, envListener{envID: e.ID, ln: ln})
			for _, l := range lns[before+1:] {
				s.envListeners = append(s.envListeners, envListener{envID: e.ID, ln: l})
			}
			env, err := s.Envs.Open(ctx, e.ID)
			if err != nil {
				return fail(err)
			}
			if err := s.Envs.SetURL(ctx, env, hostPort(publicHost, p)); err != nil {
				return fail(err)
			}
		}
	}
	if seeding {
		env, err := s.Envs.Open(ctx, demo.EnvironmentName)
		if err != nil {
			return fail(err)
		}
		if err := demo.EnsureEnvironment(ctx, env); err != nil {
			return fail(err)
		}
	}
	return lns, nil
}
