// Package dataverse is a Go client for the Microsoft Dataverse Web API
// (OData v4, /api/data/v9.2/) with server-to-server (S2S) authentication:
// your app calls Dataverse as an application user, with app-only tokens
// from Microsoft Entra ID. It works unchanged against real Dataverse and
// against dvs2s, the local emulator it is developed with; it imports only
// the standard library and the Azure SDK's azcore and azidentity.
//
// # Credentials
//
// A Client takes any azcore.TokenCredential, so every azidentity
// credential plugs in: client secret, certificate, managed identity,
// workload identity. Tokens are requested for the scope
// "<environment URL>/.default", cached, and renewed before they expire.
//
//	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret, nil)
//	client, err := dataverse.NewClient("https://contoso.crm.dynamics.com", cred, nil)
//	me, err := client.WhoAmI(ctx)
//
// The app registration needs an application user in each environment it
// calls, with a security role; Dataverse exposes no application
// permissions, so the role is the whole of what the app may do.
//
// # Rows, queries and paging
//
// Rows are [Row] values (map[string]any with helpers), or your own structs
// through the generic functions [RetrieveAs], [QueryAs] and [Decode].
// [Client.Create], [Client.Retrieve], [Client.Update] (never creates),
// [Client.Upsert] and [Client.Delete] take a key that is a GUID or an
// alternate key ([AltKey]). [Query] builds $select, $filter (with [Eq],
// [And], [Contains], ... or [Query.Filterf], which quote values safely),
// $orderby, $top, $expand and $count; [Client.QueryRaw] takes a hand-written
// query. [Client.Query] returns an iter.Seq2 that follows @odata.nextLink
// page after page as you range over it; [QueryPage] gets one page.
// [Client.Associate], [Client.Disassociate], [Client.SetReference] and
// [Bind] relate rows; [Client.CallFunction] and [Client.CallAction] call
// OData functions and actions; [Client.Do] sends anything else.
//
// # Per-request options
//
// Impersonation ([WithCallerObjectID], [WithCallerID]), conditions
// ([WithIfMatch], [WithIfNoneMatch]), [WithReturnRepresentation],
// annotations ([WithAnnotations], [WithFormattedValues]) and the page size
// ([WithPageSize]) are options of one call. Nothing of the kind is client
// state, so one Client safely serves many users from many goroutines.
//
// # Errors
//
// Every failure that reached a server is an [*Error] carrying the HTTP
// status, Dataverse's error code and its message unabridged; when the
// token could not be acquired, Entra's error (AADSTS code, description,
// correlation id) is in [Error.Entra]; a 401 carries the environment's
// [Challenge], which names the tenant the environment expects. Helpers
// classify them: [IsNotFound], [IsThrottled], [IsPrivilegeDenied],
// [IsNotMemberOfOrganization] (no application user), [IsNoRoles],
// [IsUserDisabled], [IsCannotImpersonate], [IsPreconditionFailed],
// [IsUnauthorized], [IsTokenError].
//
// # Service protection limits and retries
//
// Dataverse answers 429 with Retry-After when a user exceeds its limits.
// The client waits as told — every request of the client, not just the
// refused one, so it does not extend the penalty — and retries, at most
// Options.MaxRetries times and never past the context's deadline.
// Transient failures (network errors, 408, 500, 502, 503, 504) are retried
// with jittered exponential backoff, but only for requests that are safe
// to repeat: GET, PUT, DELETE, unconditional PATCH, read-only $batch
// ([WithIdempotent] overrides). The client also keeps no more requests in
// flight than the server's x-ms-dop-hint recommends; [Client.Parallelism]
// tells a worker pool how large to be.
//
// # Many tenants
//
// A multi-tenant app (one registration, consented in each customer's
// tenant) gets each environment's tokens from that environment's tenant.
// [DiscoverTenant] reads the tenant from the environment's 401 challenge;
// [TenantCredentials] keeps one credential per tenant; [Clients] keeps one
// Client per environment and does both on first use.
//
// # $batch
//
// [NewBatch] collects operations for one $batch request (up to 1,000);
// operations in a [ChangeSet] are atomic, and can refer to rows created
// earlier in the change set ([BatchOp.Ref]). [Client.ExecuteBatch] returns
// one [BatchResult] per operation.
//
// # Local development with dvs2s
//
// dvs2s serves an Entra-compatible identity service and a Dataverse-like
// Web API on your machine. Point azidentity at its authority host, turn off
// instance discovery, and trust its CA — nothing else changes:
//
//	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}} // pool has .dvs2s/ca.pem
//	cred, _ := azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
//		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://localhost:8443/"}, Transport: hc},
//		DisableInstanceDiscovery: true,
//	})
//	client, _ := dataverse.NewClient("https://localhost:8444", cred, &dataverse.Options{HTTPClient: hc})
package dataverse
