package e2e

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/dvs2s/dvs2s/demo"
)

// TestMSALSecretSmoke gets an app-only token with unmodified MSAL Go.
func TestMSALSecretSmoke(t *testing.T) {
	ts := start(t, "")
	cred, err := confidential.NewCredFromSecret(demo.PortalSecret)
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(ts.authority(demo.ContosoTenantID), demo.PortalAppID, cred,
		confidential.WithHTTPClient(ts.client), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.AcquireTokenByCredential(context.Background(), []string{ts.envURL(t) + "/.default"})
	if err != nil {
		t.Fatal(err)
	}
	if res.AccessToken == "" {
		t.Fatal("empty token")
	}
}

// TestAzidentitySecretSmoke gets a token with unmodified azidentity.
func TestAzidentitySecretSmoke(t *testing.T) {
	ts := start(t, "")
	cred, err := azidentity.NewClientSecretCredential(demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret,
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: ts.Info.AuthorityHost + "/"}, Transport: ts.client},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{ts.envURL(t) + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Token == "" {
		t.Fatal("empty token")
	}
}

// TestOIDCDiscoverySmoke checks go-oidc accepts the v2 discovery document.
func TestOIDCDiscoverySmoke(t *testing.T) {
	ts := start(t, "")
	ctx := oidc.ClientContext(context.Background(), ts.client)
	p, err := oidc.NewProvider(ctx, ts.authority(demo.ContosoTenantID)+"/v2.0")
	if err != nil {
		t.Fatal(err)
	}
	if p.Endpoint().TokenURL == "" {
		t.Fatal("no token endpoint")
	}
}
