package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// staticCred is a credential that returns a fixed token.
type staticCred string

func (s staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// sdkApp registers a single-tenant app in contoso with a secret; with
// appUser it also gets an application user in the demo environment, with
// the given roles (none: no role at all).
func (ts *testStack) sdkApp(t testing.TB, name string, appUser bool, roles ...string) (clientID, secret, userID string) {
	t.Helper()
	ctx := context.Background()
	app, err := ts.Directory.CreateApp(ctx, directory.AppSpec{Tenant: demo.ContosoTenantID, DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err = ts.Directory.AddSecret(ctx, app.AppID, "e2e", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !appUser {
		return app.AppID, secret, ""
	}
	env, err := ts.Envs.Open(ctx, demo.EnvironmentName)
	if err != nil {
		t.Fatal(err)
	}
	row, err := env.CreateAppUser(ctx, env.Data, environment.AppUserSpec{AppID: app.AppID}, environment.Caller{UserID: env.System, BU: env.RootBU})
	if err != nil {
		t.Fatal(err)
	}
	userID = row["systemuserid"].(string)
	for _, r := range roles {
		role, err := env.RoleByName(ctx, r)
		if errors.Is(err, store.ErrNotFound) {
			role, err = env.CreateRole(ctx, r)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := env.AssignRole(ctx, userID, role["roleid"].(string)); err != nil {
			t.Fatal(err)
		}
	}
	return app.AppID, secret, userID
}

// TestSDKErrors checks that each failure surfaces the server's own error
// through *dataverse.Error and its helpers.
func TestSDKErrors(t *testing.T) {
	ts := start(t, "")
	ctx := sdkCtx(t)
	envURL := ts.envURL(t)
	noUserApp, noUserSecret, _ := ts.sdkApp(t, "SDK no app user", false)
	noRoleApp, noRoleSecret, _ := ts.sdkApp(t, "SDK no role", true)
	disabledApp, disabledSecret, disabledUser := ts.sdkApp(t, "SDK disabled", true, demo.InventoryRole)
	{
		env, err := ts.Envs.Open(ctx, demo.EnvironmentName)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Data.Update(ctx, env.Schema().Table(schema.TableSystemUser), disabledUser, store.Row{"isdisabled": true}, 0); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name   string
		client func() *dataverse.Client
		call   func(*dataverse.Client) error
		is     string // the one helper that matches ("" none)
		status int
		code   string
		text   string // in the message
		check  func(*testing.T, *dataverse.Error)
	}{
		{
			name: "wrong client secret: Entra AADSTS7000215",
			client: func() *dataverse.Client {
				return ts.sdkClientFor(t, envURL, ts.sdkCred(t, demo.ContosoTenantID, demo.PortalAppID, "wrong"), nil)
			},
			is: "IsTokenError", status: 401, code: "invalid_client", text: "AADSTS7000215",
			check: func(t *testing.T, e *dataverse.Error) {
				if e.Entra == nil || e.Entra.AADSTS() != 7000215 || e.Entra.CorrelationID == "" {
					t.Errorf("Entra error %+v", e.Entra)
				}
			},
		},
		{
			name: "app not in the tenant: Entra AADSTS700016",
			client: func() *dataverse.Client {
				return ts.sdkClientFor(t, envURL, ts.sdkCred(t, demo.FabrikamTenantID, demo.InventoryAppID, demo.InventorySecret), nil)
			},
			is: "IsTokenError", status: 400, code: "unauthorized_client", text: "AADSTS700016",
		},
		{
			name:   "token the Web API refuses: 401 with the tenant from the challenge",
			client: func() *dataverse.Client { return ts.sdkClientFor(t, envURL, staticCred("not-a-jwt"), nil) },
			is:     "IsUnauthorized", status: 401,
			check: func(t *testing.T, e *dataverse.Error) {
				if e.Challenge == nil || e.Challenge.TenantID != demo.ContosoTenantID || e.Challenge.AuthorityHost != ts.Info.AuthorityHost {
					t.Errorf("challenge %+v", e.Challenge)
				}
				if !strings.Contains(e.Error(), demo.ContosoTenantID) {
					t.Errorf("message does not name the tenant: %v", e)
				}
			},
		},
		{
			name: "no application user: 0x80072560",
			client: func() *dataverse.Client {
				return ts.sdkClientFor(t, envURL, ts.sdkCred(t, demo.ContosoTenantID, noUserApp, noUserSecret), nil)
			},
			is: "IsNotMemberOfOrganization", status: 403, code: dataverse.CodeUserNotMemberOfOrg, text: "not a member of the organization",
		},
		{
			name: "application user without a role: 0x80042f09",
			client: func() *dataverse.Client {
				return ts.sdkClientFor(t, envURL, ts.sdkCred(t, demo.ContosoTenantID, noRoleApp, noRoleSecret), nil)
			},
			is: "IsNoRoles", status: 403, code: dataverse.CodeUserNotAssignedRoles, text: "has not been assigned any roles",
		},
		{
			name: "disabled application user: 0x80040225",
			client: func() *dataverse.Client {
				return ts.sdkClientFor(t, envURL, ts.sdkCred(t, demo.ContosoTenantID, disabledApp, disabledSecret), nil)
			},
			is: "IsUserDisabled", code: dataverse.CodeUserDisabled, text: "disabled",
		},
		{
			name:   "missing row: 404 0x80040217",
			client: func() *dataverse.Client { return ts.sdkClient(t, nil) },
			call: func(c *dataverse.Client) error {
				_, err := c.Retrieve(ctx, "contacts", "00000000-0000-4000-8000-0000000000aa", nil)
				return err
			},
			is: "IsNotFound", status: 404, code: dataverse.CodeObjectDoesNotExist, text: "Does Not Exist",
		},
		{
			name:   "wrong-case property: 400 with the server's message",
			client: func() *dataverse.Client { return ts.sdkClient(t, nil) },
			call: func(c *dataverse.Client) error {
				_, err := c.Create(ctx, "accounts", dataverse.Row{"Name": "x"})
				return err
			},
			status: 400, text: "Name",
		},
		{
			name:   "stale ETag: 412 0x80060882",
			client: func() *dataverse.Client { return ts.sdkClient(t, nil) },
			call: func(c *dataverse.Client) error {
				id, err := c.Create(ctx, "accounts", dataverse.Row{"name": "etag"})
				if err != nil {
					return err
				}
				return c.Delete(ctx, "accounts", id, dataverse.WithIfMatch(`W/"1"`))
			},
			is: "IsPreconditionFailed", status: 412, code: dataverse.CodeConcurrencyVersionMismatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.client()
			call := tt.call
			if call == nil {
				call = func(c *dataverse.Client) error { _, err := c.WhoAmI(ctx); return err }
			}
			err := call(c)
			if err == nil {
				t.Fatal("no error")
			}
			e := dataverse.AsError(err)
			if e == nil {
				t.Fatalf("%T is not a *dataverse.Error: %v", err, err)
			}
			if tt.status != 0 && e.StatusCode != tt.status {
				t.Errorf("status %d, want %d (%v)", e.StatusCode, tt.status, err)
			}
			if tt.code != "" && !e.HasCode(tt.code) {
				t.Errorf("code %q, want %q (%v)", e.Code, tt.code, err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
			// Exactly the expected helper matches: errors are not conflated.
			for name, h := range sdkErrorHelpers {
				if got, want := h(err), name == tt.is; got != want {
					t.Errorf("%s(err) = %v, want %v for %v", name, got, want, err)
				}
			}
		})
	}
}

var sdkErrorHelpers = map[string]func(error) bool{
	"IsNotFound": dataverse.IsNotFound, "IsThrottled": dataverse.IsThrottled, "IsPrivilegeDenied": dataverse.IsPrivilegeDenied,
	"IsNotMemberOfOrganization": dataverse.IsNotMemberOfOrganization, "IsNoRoles": dataverse.IsNoRoles,
	"IsUserDisabled": dataverse.IsUserDisabled, "IsCannotImpersonate": dataverse.IsCannotImpersonate,
	"IsPreconditionFailed": dataverse.IsPreconditionFailed, "IsUnauthorized": dataverse.IsUnauthorized, "IsTokenError": dataverse.IsTokenError,
}
