package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
)

// TestAdminEnvWithRunningServer administers application users and roles
// of the demo environment of a running stack through the CLI, and calls
// the data service with client-credentials tokens: WhoAmI follows what the
// CLI did once the server's principal cache (2 s) expires.
func TestAdminEnvWithRunningServer(t *testing.T) {
	dir := t.TempDir()
	s, err := stack.Start(context.Background(), stack.Config{DataDir: dir, Port: 0,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("stop stack: %v", err)
		}
	})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPool) {
		t.Fatal("bad CA PEM")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	envURL := ""
	for _, e := range s.Info.Environments {
		if e.Name == demo.EnvironmentName {
			envURL = e.URL
		}
	}
	if envURL == "" {
		t.Fatalf("no %s environment in %+v", demo.EnvironmentName, s.Info.Environments)
	}
	var envs []envJSON
	cliJSON(t, dir, &envs, "env", "list")
	orgID := ""
	for _, e := range envs {
		if e.Name == demo.EnvironmentName {
			orgID = e.ID
			if e.URL != envURL || e.TenantID != demo.ContosoTenantID {
				t.Errorf("env list shows %+v; the server serves it at %s", e, envURL)
			}
		}
	}

	// newApp registers a single-tenant app in contoso with a secret, and
	// returns a function that gets a token for the environment.
	newApp := func(name string) (string, func() string) {
		var app appJSON
		cliJSON(t, dir, &app, "app", "create", "--tenant", "contoso", "--name", name)
		var sec secretAddJSON
		cliJSON(t, dir, &sec, "secret", "add", "--app", app.ClientID, "--name", "e2e")
		tokenURL := s.Info.AuthorityHost + "/" + demo.ContosoTenantID + "/oauth2/v2.0/token"
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {app.ClientID},
			"client_secret": {sec.Secret}, "scope": {envURL + "/.default"}}
		return app.ClientID, func() string {
			t.Helper()
			// The identity service sees the new app once its directory
			// cache (1 s) expires.
			deadline := time.Now().Add(5 * time.Second)
			for {
				r, err := client.PostForm(tokenURL, form)
				if err != nil {
					t.Fatalf("POST %s: %v", tokenURL, err)
				}
				var body map[string]any
				err = json.NewDecoder(r.Body).Decode(&body)
				r.Body.Close()
				if err != nil {
					t.Fatalf("token response: %v", err)
				}
				if at, _ := body["access_token"].(string); r.StatusCode == http.StatusOK && at != "" {
					return at
				}
				if time.Now().After(deadline) {
					t.Fatalf("token request: %d %v", r.StatusCode, body)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}

	type answer struct {
		status int
		code   string // error.code of a failure
		body   map[string]any
	}
	whoAmI := func(token string) answer {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, envURL+"/api/data/v9.2/WhoAmI", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		r, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET WhoAmI: %v", err)
		}
		defer r.Body.Close()
		var a answer
		a.status = r.StatusCode
		if err := json.NewDecoder(r.Body).Decode(&a.body); err != nil {
			t.Fatalf("WhoAmI answered %d with a body that is not JSON: %v", r.StatusCode, err)
		}
		if e, ok := a.body["error"].(map[string]any); ok {
			a.code, _ = e["code"].(string)
		}
		return a
	}
	// expect polls WhoAmI for up to 5 s (the server caches a token's
	// principal, and so its answer, for 2 s) until it answers status with
	// code ("" for success).
	expect := func(what, token string, status int, code string) answer {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			a := whoAmI(token)
			if a.status == status && a.code == code {
				return a
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: WhoAmI answered %d %s %v, want %d %s", what, a.status, a.code, a.body, status, code)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	userID := func(a answer) string { id, _ := a.body["UserId"].(string); return id }

	// One app goes through the life of an application user.
	daemon, daemonToken := newApp("E2E Daemon")
	token := daemonToken()
	expect("before the application user exists", token, http.StatusForbidden, "0x80072560")

	var au appUserJSON
	cliJSON(t, dir, &au, "appuser", "create", "--env", demo.EnvironmentName, "--app", daemon)
	if len(au.Roles) != 0 || au.ApplicationID != daemon {
		t.Fatalf("appuser create: %+v", au)
	}
	a := expect("application user without a role", token, http.StatusForbidden, "0x80042f09")
	if msg := a.body["error"].(map[string]any)["message"]; msg != fmt.Sprintf("The user (Id = %s) has not been assigned any roles.", au.SystemUserID) {
		t.Errorf("no-role message %q", msg)
	}

	var role roleJSON
	cliJSON(t, dir, &role, "role", "create", "--env", demo.EnvironmentName, "--name", "E2E Integration")
	var asg roleAssignJSON
	cliJSON(t, dir, &asg, "role", "assign", "--env", demo.EnvironmentName, "--role", "E2E Integration", "--app", daemon)
	if !asg.Assigned || asg.SystemUserID != au.SystemUserID || asg.RoleID != role.RoleID {
		t.Fatalf("role assign: %+v", asg)
	}
	a = expect("application user with a role", token, http.StatusOK, "")
	if userID(a) != au.SystemUserID || a.body["OrganizationId"] != orgID || a.body["BusinessUnitId"] != au.BusinessUnitID {
		t.Errorf("WhoAmI %v; want UserId %s, OrganizationId %s, BusinessUnitId %s", a.body, au.SystemUserID, orgID, au.BusinessUnitID)
	}

	mustCLI(t, dir, "appuser", "disable", "--env", demo.EnvironmentName, "--app", daemon)
	expect("disabled application user", token, http.StatusForbidden, "0x80040225")
	mustCLI(t, dir, "appuser", "enable", "--env", demo.EnvironmentName, "--app", daemon)
	if a = expect("enabled again", token, http.StatusOK, ""); userID(a) != au.SystemUserID {
		t.Errorf("WhoAmI after enable: %v", a.body)
	}

	// Another app gets its application user with a new role in one
	// command; its first call succeeds.
	worker, workerToken := newApp("E2E Worker")
	var wrole roleJSON
	cliJSON(t, dir, &wrole, "role", "create", "--env", demo.EnvironmentName, "--name", "E2E Worker Role")
	var wu appUserJSON
	cliJSON(t, dir, &wu, "appuser", "create", "--env", demo.EnvironmentName, "--app", worker, "--role", "E2E Worker Role")
	if len(wu.Roles) != 1 || wu.Roles[0].RoleID != wrole.RoleID || wu.FullName != "E2E Worker" {
		t.Fatalf("appuser create --role: %+v", wu)
	}
	if a = whoAmI(workerToken()); a.status != http.StatusOK || userID(a) != wu.SystemUserID {
		t.Errorf("WhoAmI of the worker: %d %v, want UserId %s", a.status, a.body, wu.SystemUserID)
	}

	// The demo's application users are listed with their roles.
	var list []appUserJSON
	cliJSON(t, dir, &list, "appuser", "list", "--env", demo.EnvironmentName)
	got := map[string]string{}
	for _, u := range list {
		if len(u.Roles) == 1 {
			got[u.ApplicationID] = u.Roles[0].Name
		}
	}
	if got[demo.PortalAppID] != demo.PortalRole || got[demo.InventoryAppID] != demo.InventoryRole ||
		got[daemon] != "E2E Integration" || got[worker] != "E2E Worker Role" {
		t.Errorf("appuser list: %+v", list)
	}

	// Rows the server has read (and keeps in its read cache) change under
	// the CLI, another connection to the database: the next reads show it
	// within the cache's millisecond, not after the 2 s of the principal
	// cache.
	portal := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.PortalAppID},
		"client_secret": {demo.PortalSecret}, "scope": {envURL + "/.default"}}
	r, err := client.PostForm(s.Info.AuthorityHost+"/"+demo.ContosoTenantID+"/oauth2/v2.0/token", portal)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(r.Body).Decode(&tok)
	r.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("portal token: %d %v", r.StatusCode, err)
	}
	disabled := func() bool {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, envURL+"/api/data/v9.2/systemusers("+au.SystemUserID+")?$select=isdisabled", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var row map[string]any
		if err := json.NewDecoder(r.Body).Decode(&row); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("GET systemusers: %d %v %v", r.StatusCode, row, err)
		}
		d, ok := row["isdisabled"].(bool)
		if !ok {
			t.Fatalf("GET systemusers: %v", row)
		}
		return d
	}
	for _, want := range []bool{true, false} {
		for range 3 { // read, then from the cache
			if disabled() == want {
				t.Fatalf("isdisabled %v before the change", want)
			}
		}
		cmd := "disable"
		if !want {
			cmd = "enable"
		}
		mustCLI(t, dir, "appuser", cmd, "--env", demo.EnvironmentName, "--app", daemon)
		deadline := time.Now().Add(100 * time.Millisecond)
		for disabled() != want {
			if time.Now().After(deadline) {
				t.Fatalf("isdisabled still %v 100 ms after appuser %s", !want, cmd)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
