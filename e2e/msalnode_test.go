package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/dvs2s/dvs2s/demo"
)

// TestMSALNodeClientCredentials gets app-only tokens with unmodified
// @azure/msal-node (e2e/node/cc.mjs, pinned in e2e/node/package.json): with
// the portal's client secret, and with its certificate by SHA-256 and by
// SHA-1 thumbprint. It checks each token's signature against the JWKS and
// its claims: appidacr "1" for the secret, "2" for the certificate, oid the
// portal's service principal in contoso.
//
// Needs node and `npm ci --prefix e2e/node` (.ci/run does both). Without
// them the test skips, except under CI=true, where it fails.
func TestMSALNodeClientCredentials(t *testing.T) {
	node := msalNodeOrSkip(t)
	ts := start(t, "")
	stackFile := filepath.Join(ts.dir, "stack.json")
	resource := ts.envURL(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("e2e", "node", "cc.mjs"), stackFile, resource)
	cmd.Dir = ".." // the repository root, as the command is documented
	// cc.mjs would run itself again to set this; set it here and save that.
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ts.Info.CAFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node cc.mjs: %v\nstderr:\n%s\nstack log:\n%s", err, stderr.String(), ts.logs.String())
	}
	var res struct {
		Authority string `json:"authority"`
		Resource  string `json:"resource"`
		Tokens    map[string]struct {
			AccessToken     string `json:"access_token"`
			TokenType       string `json:"token_type"`
			FromCache       bool   `json:"from_cache"`
			SecondFromCache bool   `json:"second_from_cache"`
			SecondSame      bool   `json:"second_same_token"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("cc.mjs output is not JSON: %v\n%s", err, out)
	}
	sp, err := ts.Store.ServicePrincipal(context.Background(), demo.ContosoTenantID, demo.PortalAppID)
	if err != nil {
		t.Fatalf("portal service principal in contoso: %v", err)
	}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), ts.client),
		ts.authority(demo.ContosoTenantID)+"/discovery/v2.0/keys")

	for name, acr := range map[string]string{"secret": "1", "certificate_sha256": "2", "certificate_sha1": "2"} {
		t.Run(name, func(t *testing.T) {
			tok, ok := res.Tokens[name]
			if !ok || tok.AccessToken == "" {
				t.Fatalf("no %s token in cc.mjs output:\n%s", name, out)
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("tokenType = %q, want Bearer", tok.TokenType)
			}
			if tok.FromCache || !tok.SecondFromCache || !tok.SecondSame {
				t.Errorf("msal-node cache: first from cache %v, second from cache %v, same token %v; want false, true, true",
					tok.FromCache, tok.SecondFromCache, tok.SecondSame)
			}
			if _, err := keys.VerifySignature(context.Background(), tok.AccessToken); err != nil {
				t.Errorf("signature: %v", err)
			}
			c := msalNodeClaims(t, tok.AccessToken)
			want := map[string]any{
				"appidacr": acr,
				"appid":    demo.PortalAppID,
				"oid":      sp.ObjectID,
				"sub":      sp.ObjectID,
				"tid":      demo.ContosoTenantID,
				"aud":      resource,
				"idtyp":    "app",
			}
			for k, v := range want {
				if c[k] != v {
					t.Errorf("claim %s = %v, want %v", k, c[k], v)
				}
			}
		})
	}
}

// msalNodeOrSkip returns the node binary, or skips the test when node or
// e2e/node/node_modules is missing; under CI=true it fails instead, so CI
// cannot pass without running the msal-node check.
func msalNodeOrSkip(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; CI=true requires it (.ci/run installs it)", why)
		}
		t.Skipf("%s; run `npm ci --prefix e2e/node` (see .ci/run)", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(filepath.Join("node", "node_modules", "@azure", "msal-node", "package.json")); errors.Is(err, os.ErrNotExist) {
		missing("e2e/node/node_modules has no @azure/msal-node")
	}
	return node
}

// msalNodeClaims decodes a JWT's payload without checking it.
func msalNodeClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("payload: %v", err)
	}
	return c
}
