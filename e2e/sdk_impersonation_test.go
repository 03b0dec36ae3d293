package e2e

import (
	"fmt"
	"sync"
	"testing"

	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
)

// TestSDKImpersonation shares one client among goroutines that each act
// for a different user (CallerObjectId, MSCRMCallerID) or for nobody,
// interleaved: every request runs as its own user, with no cross-talk.
func TestSDKImpersonation(t *testing.T) {
	ts := start(t, "")
	ctx := sdkCtx(t)
	c := ts.sdkClient(t, nil)

	// The systemuserid of each demo user, by Entra object id.
	sysID := map[string]string{}
	for _, oid := range []string{demo.AdminID, demo.AliceID, demo.BobID} {
		rows, err := dataverse.Collect(c.Query(ctx, "systemusers", dataverse.NewQuery().Select("systemuserid", "fullname").
			Filter(dataverse.Eq("azureactivedirectoryobjectid", dataverse.GUID(oid)))))
		if err != nil || len(rows) != 1 {
			t.Fatalf("systemuser of %s: %v %v", oid, rows, err)
		}
		sysID[oid] = rows[0].String("systemuserid")
	}

	type actor struct {
		name   string
		opt    dataverse.RequestOption // nil: the application user itself
		userID string
	}
	actors := []actor{
		{"app", nil, demo.PortalAppUserID},
		{"alice by object id", dataverse.WithCallerObjectID(demo.AliceID), sysID[demo.AliceID]},
		{"bob by object id", dataverse.WithCallerObjectID(demo.BobID), sysID[demo.BobID]},
		{"admin by systemuserid", dataverse.WithCallerID(sysID[demo.AdminID]), sysID[demo.AdminID]},
		{"bob by systemuserid", dataverse.WithCallerID(sysID[demo.BobID]), sysID[demo.BobID]},
	}
	const rounds = 8
	var wg sync.WaitGroup
	errs := make(chan error, len(actors)*rounds*3)
	for _, a := range actors {
		for i := range rounds {
			wg.Go(func() {
				var opts []dataverse.RequestOption
				if a.opt != nil {
					opts = append(opts, a.opt)
				}
				w, err := c.WhoAmI(ctx, opts...)
				if err != nil {
					errs <- fmt.Errorf("%s: WhoAmI: %w", a.name, err)
					return
				}
				if w.UserID != a.userID {
					errs <- fmt.Errorf("%s: WhoAmI says %s, want %s", a.name, w.UserID, a.userID)
				}
				// Create as the actor, read back who created it and for whom.
				var row dataverse.Row
				_, err = c.Create(ctx, "accounts", dataverse.Row{"name": fmt.Sprintf("imp %s %d", a.name, i)},
					append(opts, dataverse.WithReturnRepresentation(&row), dataverse.WithSelect("name", "_createdby_value", "_createdonbehalfby_value", "_ownerid_value"))...)
				if err != nil {
					errs <- fmt.Errorf("%s: create: %w", a.name, err)
					return
				}
				wantOBO := demo.PortalAppUserID
				if a.opt == nil {
					wantOBO = ""
				}
				if got := row.String("_createdby_value"); got != a.userID {
					errs <- fmt.Errorf("%s: createdby %s, want %s", a.name, got, a.userID)
				}
				if got := row.String("_createdonbehalfby_value"); got != wantOBO {
					errs <- fmt.Errorf("%s: createdonbehalfby %q, want %q", a.name, got, wantOBO)
				}
				if got := row.String("_ownerid_value"); got != a.userID {
					errs <- fmt.Errorf("%s: owner %s, want %s", a.name, got, a.userID)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// The impersonated user's own rights apply: alice (root business unit)
	// and bob (Contoso West) each see the rows of their own unit only, the
	// application user (Global) all of them.
	count := func(opt dataverse.RequestOption, prefix string) int {
		t.Helper()
		var opts []dataverse.RequestOption
		if opt != nil {
			opts = append(opts, opt)
		}
		rows, err := dataverse.Collect(c.Query(ctx, "accounts", dataverse.NewQuery().Select("name").Filter(dataverse.StartsWith("name", prefix)), opts...))
		if err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}
	if n := count(dataverse.WithCallerObjectID(demo.BobID), "imp alice"); n != 0 {
		t.Errorf("bob sees %d of alice's rows, want 0", n)
	}
	if n := count(dataverse.WithCallerObjectID(demo.BobID), "imp bob"); n != 2*rounds {
		t.Errorf("bob sees %d of his rows, want %d", n, 2*rounds)
	}
	if n := count(nil, "imp "); n != len(actors)*rounds {
		t.Errorf("the app sees %d rows, want %d", n, len(actors)*rounds)
	}

	// An application user without prvActOnBehalfOfAnotherUser may not
	// impersonate; the error says so.
	inv := ts.sdkClientFor(t, ts.envURL(t), ts.sdkCred(t, demo.ContosoTenantID, demo.InventoryAppID, demo.InventorySecret), nil)
	_, err := inv.WhoAmI(ctx, dataverse.WithCallerObjectID(demo.AliceID))
	if !dataverse.IsCannotImpersonate(err) {
		t.Fatalf("impersonation without the privilege: %v", err)
	}
	// An unknown user to impersonate: not a member of the organization.
	_, err = c.WhoAmI(ctx, dataverse.WithCallerObjectID("00000000-0000-4000-8000-00000000dead"))
	if !dataverse.IsNotMemberOfOrganization(err) {
		t.Fatalf("impersonating an unknown user: %v", err)
	}
	// Bob lacks delete rights on the app's rows: the impersonated user's
	// privilege denial comes back as such.
	id, err := c.Create(ctx, "accounts", dataverse.Row{"name": "not bob's"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Delete(ctx, "accounts", id, dataverse.WithCallerObjectID(demo.BobID))
	if !dataverse.IsPrivilegeDenied(err) {
		t.Fatalf("bob deleting a row of another business unit: %v", err)
	}

	// Actions and functions: share the row with bob (the unbound
	// GrantAccess action), then he reads it; a bound function lists his
	// privileges.
	asBob := dataverse.WithCallerObjectID(demo.BobID)
	if _, err := c.Retrieve(ctx, "accounts", id, dataverse.NewQuery().Select("name"), asBob); !dataverse.IsPrivilegeDenied(err) {
		t.Fatalf("bob reading the row before it is shared: %v", err)
	}
	err = c.CallAction(ctx, "GrantAccess", map[string]any{
		"Target": map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": id},
		"PrincipalAccess": map[string]any{
			"Principal":  map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.systemuser", "systemuserid": sysID[demo.BobID]},
			"AccessMask": "ReadAccess",
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Retrieve(ctx, "accounts", id, dataverse.NewQuery().Select("name"), asBob); err != nil || r.String("name") != "not bob's" {
		t.Fatalf("bob reading the shared row: %v %v", r, err)
	}
	var privs struct {
		RolePrivileges []struct{ PrivilegeName, Depth string }
	}
	if err := c.CallFunction(ctx, "systemusers("+sysID[demo.BobID]+")/Microsoft.Dynamics.CRM.RetrieveUserPrivileges", nil, &privs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range privs.RolePrivileges {
		found = found || p.PrivilegeName == "prvReadAccount"
	}
	if !found {
		t.Fatalf("bob's privileges lack prvReadAccount: %+v", privs)
	}
}
