package dataverse_test

// The examples run against a dvs2s stack started in-process by TestMain
// (only the tests use the server; the package does not). The variables
// below are what a real app reads from its configuration; with Microsoft
// Entra ID and real Dataverse, credOptions and clientOptions stay nil.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
)

var (
	// tenantID, clientID and clientSecret identify the app registration
	// (here the dvs2s demo's multi-tenant "Fabrikam Portal", in its
	// customer tenant contoso).
	tenantID, clientID, clientSecret = demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret
	// environmentURL is the Dataverse environment, such as
	// https://contoso.crm.dynamics.com.
	environmentURL string
	// credOptions point azidentity at dvs2s (nil for Entra ID).
	credOptions *azidentity.ClientSecretCredentialOptions
	// clientOptions trust dvs2s's CA (nil for real Dataverse).
	clientOptions *dataverse.Options
	// aliceObjectID is a signed-in user's Entra object id (the oid claim).
	aliceObjectID = demo.AliceID
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dataverse-examples")
	if err != nil {
		log.Fatal(err)
	}
	s, err := stack.Start(context.Background(), stack.Config{DataDir: dir, Port: 0, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPool)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}
	environmentURL = s.Info.Environments[0].URL
	credOptions = &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.Info.AuthorityHost + "/"}, Transport: hc},
		DisableInstanceDiscovery: true,
	}
	clientOptions = &dataverse.Options{HTTPClient: hc}
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.Close(ctx)
	cancel()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newClient is what an app does once at start-up.
func newClient() *dataverse.Client {
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, clientSecret, credOptions)
	if err != nil {
		log.Fatal(err)
	}
	client, err := dataverse.NewClient(environmentURL, cred, clientOptions)
	if err != nil {
		log.Fatal(err)
	}
	return client
}

// A single-tenant S2S app: a credential for its tenant, a client for the
// environment, then calls.
func Example() {
	ctx := context.Background()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, clientSecret, credOptions)
	if err != nil {
		log.Fatal(err)
	}
	client, err := dataverse.NewClient(environmentURL, cred, clientOptions)
	if err != nil {
		log.Fatal(err)
	}
	me, err := client.WhoAmI(ctx)
	if err != nil {
		log.Fatal(err) // an *dataverse.Error with the server's (or Entra's) own message
	}
	fmt.Println("application user:", me.UserID)

	q := dataverse.NewQuery().
		Select("name", "revenue").
		Filter(dataverse.Gt("revenue", 1000000)).
		OrderBy("revenue desc")
	for row, err := range client.Query(ctx, "accounts", q) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %.0f\n", row["name"], row["revenue"])
	}
	// Output:
	// application user: b1a2c3d4-0000-4000-8000-00000000a001
	// Litware, Inc.: 12000000
	// Contoso Pharmaceuticals: 5000000
	// Adventure Works: 3200000
}

// A multi-tenant S2S app serves many customers' environments with one app
// registration: each environment's tokens come from its own tenant, found
// in the environment's 401 challenge.
func ExampleClients() {
	ctx := context.Background()
	creds := dataverse.NewTenantCredentials(func(tenantID string) (azcore.TokenCredential, error) {
		return azidentity.NewClientSecretCredential(tenantID, clientID, clientSecret, credOptions)
	})
	clients := dataverse.NewClients(creds, clientOptions)

	// For each customer environment the app was onboarded to:
	client, err := clients.Client(ctx, environmentURL)
	if err != nil {
		log.Fatal(err)
	}
	me, err := client.WhoAmI(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tenants:", creds.Tenants())
	fmt.Println("application user:", me.UserID)
	// Output:
	// tenants: [5f1c2a9e-8b3d-4c6f-a017-3e9d4b2c6a21]
	// application user: b1a2c3d4-0000-4000-8000-00000000a001
}

// DiscoverTenant is the documented way to learn an environment's tenant.
func ExampleDiscoverTenant() {
	ch, err := dataverse.DiscoverTenant(context.Background(), environmentURL, clientOptions.HTTPClient)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ch.TenantID)
	// Output: 5f1c2a9e-8b3d-4c6f-a017-3e9d4b2c6a21
}

// Create, read, update with optimistic concurrency, delete.
func ExampleClient_Create() {
	ctx := context.Background()
	client := newClient()

	id, err := client.Create(ctx, "accounts", dataverse.Row{"name": "Example Ltd", "numberofemployees": 10})
	if err != nil {
		log.Fatal(err)
	}
	row, err := client.Retrieve(ctx, "accounts", id, dataverse.NewQuery().Select("name", "numberofemployees"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(row["name"], row["numberofemployees"])

	// Only if nobody changed it since we read it.
	err = client.Update(ctx, "accounts", id, dataverse.Row{"numberofemployees": 11}, dataverse.WithIfMatch(row.ETag()))
	fmt.Println("update:", err)
	err = client.Update(ctx, "accounts", id, dataverse.Row{"numberofemployees": 12}, dataverse.WithIfMatch(row.ETag()))
	fmt.Println("stale update refused:", dataverse.IsPreconditionFailed(err))

	if err := client.Delete(ctx, "accounts", id); err != nil {
		log.Fatal(err)
	}
	_, err = client.Retrieve(ctx, "accounts", id, nil)
	fmt.Println("gone:", dataverse.IsNotFound(err))
	// Output:
	// Example Ltd 10
	// update: <nil>
	// stale update refused: true
	// gone: true
}

// Rows decode into your own types.
func ExampleQueryAs() {
	type Account struct {
		Name      string  `json:"name"`
		Employees int     `json:"numberofemployees"`
		Revenue   float64 `json:"revenue"`
	}
	ctx := context.Background()
	client := newClient()
	q := dataverse.NewQuery().Select("name", "numberofemployees", "revenue").
		Filter(dataverse.Lt("numberofemployees", 100)).OrderBy("name")
	for a, err := range dataverse.QueryAs[Account](ctx, client, dataverse.QueryPath("accounts", q)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%+v\n", a)
	}
	// Output:
	// {Name:Fourth Coffee Employees:45 Revenue:750000}
}

// Large results come page by page; the iterator follows @odata.nextLink
// and stops fetching when the loop stops.
func ExampleClient_Query() {
	ctx := context.Background()
	client := newClient()
	n := 0
	for _, err := range client.Query(ctx, "contacts", dataverse.NewQuery().Select("fullname"), dataverse.WithPageSize(2)) {
		if err != nil {
			log.Fatal(err)
		}
		if n++; n == 3 {
			break // two requests made, not more
		}
	}
	fmt.Println(n, "contacts read")
	// Output: 3 contacts read
}

// Act for a signed-in user of your app: each request names its user, so
// one client serves them all. The application user needs the
// prvActOnBehalfOfAnotherUser privilege; createdby is the user,
// createdonbehalfby the application user.
func ExampleWithCallerObjectID() {
	ctx := context.Background()
	client := newClient()
	var row dataverse.Row
	_, err := client.Create(ctx, "accounts", dataverse.Row{"name": "Created for Alice"},
		dataverse.WithCallerObjectID(aliceObjectID),
		dataverse.WithReturnRepresentation(&row),
		dataverse.WithSelect("name", "_createdonbehalfby_value"),
		dataverse.WithFormattedValues())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(row.FormattedValue("_createdonbehalfby_value"))
	// Output: Fabrikam Portal
}

// Errors keep the server's code and message; helpers classify them.
func ExampleIsNotFound() {
	_, err := newClient().Retrieve(context.Background(), "accounts", "00000000-0000-4000-8000-000000000001", nil)
	var e *dataverse.Error
	if errors.As(err, &e) {
		fmt.Println(dataverse.IsNotFound(err), e.StatusCode, e.Code, e.Message)
	}
	// Output: true 404 0x80040217 account With Id = 00000000-0000-4000-8000-000000000001 Does Not Exist
}

// A change set is atomic: the contact refers to the account created in
// the same change set by its Ref.
func ExampleClient_ExecuteBatch() {
	ctx := context.Background()
	client := newClient()
	b := dataverse.NewBatch()
	cs := b.ChangeSet()
	acc := cs.Create("accounts", dataverse.Row{"name": "Batch Example"})
	cs.Create("contacts", dataverse.Row{"lastname": "Batch", "parentcustomerid_account@odata.bind": acc.Ref()})
	res, err := client.ExecuteBatch(ctx, b)
	if err != nil {
		log.Fatal(err)
	}
	if err := res.Err(); err != nil {
		log.Fatal(err)
	}
	n, err := client.Count(ctx, "contacts", dataverse.Eq("_parentcustomerid_value", dataverse.GUID(res.Results[acc.Index].ID())))
	fmt.Println(len(res.Results), "operations;", n, "contact", err)
	// Output: 2 operations; 1 contact <nil>
}

// Build filters from values without worrying about quoting.
func ExampleQuery_Filterf() {
	q := dataverse.NewQuery().Select("fullname").
		Filterf("lastname eq %s and createdon ge %s", "O'Bryan", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(q)
	// Output: $select=fullname&$filter=lastname eq 'O''Bryan' and createdon ge 2024-01-01T00:00:00Z
}
