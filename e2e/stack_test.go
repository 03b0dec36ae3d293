package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
)

func keysOf(m map[string]any) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// TestStackJSON checks stack.json has exactly the documented shape, mode
// 0600, and describes the demo.
func TestStackJSON(t *testing.T) {
	ts := start(t, "")
	path := filepath.Join(ts.dir, "stack.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("stack.json mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"":             {"apps", "authority_host", "ca_file", "environments", "tenants", "users", "version"},
		"tenants":      {"domain", "id", "name"},
		"apps":         {"certificate_file", "client_id", "client_secret", "home_tenant_id", "multi_tenant", "name", "private_key_file"},
		"users":        {"object_id", "password", "tenant_id", "upn"},
		"environments": {"name", "tenant_id", "url"},
	}
	if got := keysOf(doc); !reflect.DeepEqual(got, want[""]) {
		t.Errorf("top-level keys %v, want %v", got, want[""])
	}
	if doc["version"] != float64(1) {
		t.Errorf("version %v", doc["version"])
	}
	if !filepath.IsAbs(doc["ca_file"].(string)) {
		t.Errorf("ca_file %v is not absolute", doc["ca_file"])
	}
	if u, err := url.Parse(doc["authority_host"].(string)); err != nil || u.Scheme != "https" || u.Path != "" {
		t.Errorf("authority_host %v", doc["authority_host"])
	}
	for _, k := range []string{"tenants", "apps", "users"} {
		list, _ := doc[k].([]any)
		if len(list) == 0 {
			t.Errorf("%s is empty", k)
		}
		for _, e := range list {
			got := keysOf(e.(map[string]any))
			// Optional fields are omitted when unknown (a single-tenant
			// app has no certificate).
			for _, g := range got {
				if !slices.Contains(want[k], g) {
					t.Errorf("%s has unexpected key %q", k, g)
				}
			}
		}
	}
	if _, ok := doc["environments"].([]any); !ok {
		t.Errorf("environments is not a list: %v", doc["environments"])
	}
	var portal *stack.AppInfo
	for i, a := range ts.Info.Apps {
		if a.ClientID == demo.PortalAppID {
			portal = &ts.Info.Apps[i]
		}
	}
	if portal == nil || !portal.MultiTenant || portal.ClientSecret != demo.PortalSecret || portal.HomeTenantID != demo.FabrikamTenantID {
		t.Fatalf("portal app in stack.json: %+v", portal)
	}
	for _, f := range []string{portal.CertificateFile, portal.PrivateKeyFile} {
		if _, err := os.Stat(f); err != nil || !filepath.IsAbs(f) {
			t.Errorf("certificate file %q: %v", f, err)
		}
	}
	var users []string
	for _, u := range ts.Info.Users {
		if u.TenantID == demo.ContosoTenantID && u.Password != "" {
			users = append(users, u.UPN)
		}
	}
	if len(users) < 3 {
		t.Errorf("contoso demo users %v, want an admin and two users", users)
	}
}

// TestReady checks the readiness endpoint.
func TestReady(t *testing.T) {
	ts := start(t, "")
	res, err := ts.client.Get(ts.Info.AuthorityHost + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %s", res.Status)
	}
}

// TestDemoRefusedOnNetwork: listening beyond loopback, the well-known demo
// secrets are refused unless explicitly allowed.
func TestDemoRefusedOnNetwork(t *testing.T) {
	for _, allow := range []bool{false, true} {
		ts := start(t, "", func(c *stack.Config) { c.Listen = "0.0.0.0"; c.AllowDemoOnNetwork = allow })
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.PortalAppID},
			"client_secret": {demo.PortalSecret}, "scope": {ts.envURL(t) + "/.default"}}
		res, err := ts.client.PostForm(ts.authority(demo.ContosoTenantID)+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if allow && res.StatusCode != http.StatusOK {
			t.Errorf("allowed: %s %v", res.Status, body)
		}
		if !allow && (res.StatusCode != http.StatusUnauthorized || !strings.Contains(body["error_description"].(string), "well-known")) {
			t.Errorf("not allowed: %s %v", res.Status, body)
		}
	}
}

// TestNoDemo starts without the demo: no tenants, an empty stack.json.
func TestNoDemo(t *testing.T) {
	ts := start(t, "", func(c *stack.Config) { c.NoDemo = true })
	if len(ts.Info.Tenants) != 0 || len(ts.Info.Apps) != 0 || len(ts.Info.Users) != 0 {
		t.Fatalf("no-demo stack has data: %+v", ts.Info)
	}
}
