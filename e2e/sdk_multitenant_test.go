package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
)

// TestSDKMultiTenant runs the multi-tenant S2S flow across two tenants and
// two environments: the Fabrikam Portal app (registered in fabrikam) is
// consented in contoso (demo) and in a second customer tenant, northwind,
// which has its own environment and application user. The app knows only
// the environment URLs; the SDK discovers each environment's tenant from
// its 401 challenge and gets tokens from that tenant.
func TestSDKMultiTenant(t *testing.T) {
	dir := t.TempDir()
	first := start(t, dir)
	ctx := sdkCtx(t)
	nw, err := first.Directory.CreateTenant(ctx, "northwind", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Directory.GrantAdminConsent(ctx, nw.ID, demo.PortalAppID); err != nil {
		t.Fatal(err)
	}
	env, err := first.Envs.Create(ctx, "northwind", nw.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	row, err := env.CreateAppUser(ctx, env.Data, environment.AppUserSpec{AppID: demo.PortalAppID}, environment.Caller{UserID: env.System, BU: env.RootBU})
	if err != nil {
		t.Fatal(err)
	}
	nwAppUser := row["systemuserid"].(string)
	role, err := env.CreateRole(ctx, "Portal integration (northwind)")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.GrantByName(ctx, env.Data, role["roleid"].(string), environment.TablePrivileges(env.Schema().Table(schema.TableAccount), security.Global)); err != nil {
		t.Fatal(err)
	}
	if err := env.AssignRole(ctx, nwAppUser, role["roleid"].(string)); err != nil {
		t.Fatal(err)
	}
	// The stack gives the new environment its own origin when it starts.
	first.stop(t)
	ts := start(t, dir)
	urls := map[string]string{} // tenant id -> environment URL
	for _, e := range ts.Info.Environments {
		urls[e.TenantID] = e.URL
	}
	if len(urls) != 2 || urls[nw.ID] == "" || urls[demo.ContosoTenantID] == "" {
		t.Fatalf("environments %+v", ts.Info.Environments)
	}
	wantUser := map[string]string{demo.ContosoTenantID: demo.PortalAppUserID, nw.ID: nwAppUser}

	credOpts := func(extra ...string) *azidentity.ClientSecretCredentialOptions {
		return &azidentity.ClientSecretCredentialOptions{
			ClientOptions:              azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: ts.Info.AuthorityHost + "/"}, Transport: ts.client},
			DisableInstanceDiscovery:   true,
			AdditionallyAllowedTenants: extra,
		}
	}
	var created sync.Map // tenant -> count of credentials created
	perTenant := dataverse.NewTenantCredentials(func(tenantID string) (azcore.TokenCredential, error) {
		n, _ := created.LoadOrStore(tenantID, new(int))
		*n.(*int)++
		return azidentity.NewClientSecretCredential(tenantID, demo.PortalAppID, demo.PortalSecret, credOpts())
	})
	// One credential of the home tenant that may ask any tenant: the other
	// way azidentity supports multi-tenant apps.
	anyTenant, err := azidentity.NewClientSecretCredential(demo.FabrikamTenantID, demo.PortalAppID, demo.PortalSecret, credOpts("*"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		cred azcore.TokenCredential
	}{
		{"one credential per tenant", perTenant},
		{"one credential, any tenant", anyTenant},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clients := dataverse.NewClients(tt.cred, &dataverse.Options{HTTPClient: ts.client})
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			// Both environments at once, several goroutines each: one
			// discovery and one client per environment.
			for i := range 10 {
				tenant := demo.ContosoTenantID
				if i%2 == 1 {
					tenant = nw.ID
				}
				wg.Go(func() {
					c, err := clients.Client(ctx, urls[tenant]+"/")
					if err != nil {
						errs <- err
						return
					}
					w, err := c.WhoAmI(ctx)
					if err != nil {
						errs <- fmt.Errorf("%s: %w", urls[tenant], err)
						return
					}
					if w.UserID != wantUser[tenant] {
						errs <- fmt.Errorf("%s: WhoAmI user %s, want %s", urls[tenant], w.UserID, wantUser[tenant])
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// Rows written in one tenant's environment stay there.
			name := "MT " + strings.ReplaceAll(tt.name, " ", "-")
			cw, err := clients.Client(ctx, urls[nw.ID])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cw.Create(ctx, "accounts", dataverse.Row{"name": name}); err != nil {
				t.Fatal(err)
			}
			for tenant, want := range map[string]int{nw.ID: 1, demo.ContosoTenantID: 0} {
				c, err := clients.Client(ctx, urls[tenant])
				if err != nil {
					t.Fatal(err)
				}
				n, err := c.Count(ctx, "accounts", dataverse.Eq("name", name))
				if err != nil || n != int64(want) {
					t.Errorf("%s: %d rows named %q, want %d (%v)", urls[tenant], n, name, want, err)
				}
			}
		})
	}
	tenants := perTenant.Tenants()
	slices.Sort(tenants)
	want := []string{demo.ContosoTenantID, nw.ID}
	slices.Sort(want)
	if !slices.Equal(tenants, want) {
		t.Errorf("credentials for tenants %v, want %v", tenants, want)
	}
	created.Range(func(k, v any) bool {
		if *v.(*int) != 1 {
			t.Errorf("tenant %s: %d credentials created, want 1", k, *v.(*int))
		}
		return true
	})

	// Discovery alone; and a client asking the wrong tenant for a token:
	// Entra's error (the resource is not in that tenant) reaches the caller.
	ch, err := dataverse.DiscoverTenant(ctx, urls[nw.ID], ts.client)
	if err != nil || ch.TenantID != nw.ID || ch.AuthorityHost != ts.Info.AuthorityHost || !strings.HasPrefix(ch.ResourceID, urls[nw.ID]) {
		t.Fatalf("DiscoverTenant = %+v, %v", ch, err)
	}
	wrong, err := dataverse.NewClient(urls[nw.ID], perTenant, &dataverse.Options{HTTPClient: ts.client, TenantID: demo.ContosoTenantID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.WhoAmI(context.Background())
	if e := dataverse.AsError(err); !dataverse.IsTokenError(err) || e.Entra.AADSTS() != 500011 {
		t.Fatalf("token of the wrong tenant: %v", err)
	}
}
