package dataverse

// Unit tests over local HTTPS test servers (httptest.NewTLSServer): the
// wire details that the e2e tests against the dvs2s stack (../e2e/sdk_*)
// cannot provoke at will — retries, Retry-After, the dop-hint limiter,
// $batch framing and token errors.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

type fixedToken string

func (f fixedToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(f), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// countingCred counts token requests.
type countingCred struct{ n atomic.Int32 }

func (c *countingCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.n.Add(1)
	return azcore.AccessToken{Token: "t" + o.TenantID, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func testClient(t *testing.T, h http.Handler, o *Options) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	opts := Options{RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}
	if o != nil {
		opts = *o
		if opts.RetryDelay == 0 {
			opts.RetryDelay = time.Millisecond
		}
		if opts.MaxRetryDelay == 0 {
			opts.MaxRetryDelay = 5 * time.Millisecond
		}
	}
	opts.HTTPClient = srv.Client()
	c, err := NewClient(srv.URL, fixedToken("tok"), &opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		in           string
		tenant, host string
		resource     string
		bad          bool
	}{
		{in: "Bearer authorization_uri=https://login.microsoftonline.com/5f1c2a9e-8b3d-4c6f-a017-3e9d4b2c6a21/oauth2/authorize, resource_id=https://org.crm.dynamics.com/",
			tenant: "5f1c2a9e-8b3d-4c6f-a017-3e9d4b2c6a21", host: "https://login.microsoftonline.com", resource: "https://org.crm.dynamics.com/"},
		{in: `Bearer authorization_uri="https://localhost:8443/t1/oauth2/authorize",resource_id="https://localhost:8444/"`,
			tenant: "t1", host: "https://localhost:8443", resource: "https://localhost:8444/"},
		{in: `bearer resource_id=x, authorization_uri=https://h/t2/oauth2/authorize`, tenant: "t2", host: "https://h", resource: "x"},
		{in: `Basic realm="x"`, bad: true},
		{in: `Bearer realm="x"`, bad: true},
		{in: `Bearer authorization_uri="unterminated`, bad: true},
	}
	for _, tt := range tests {
		c, err := ParseChallenge(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseChallenge(%q) = %+v, want an error", tt.in, c)
			}
			continue
		}
		if err != nil || c.TenantID != tt.tenant || c.AuthorityHost != tt.host || c.ResourceID != tt.resource {
			t.Errorf("ParseChallenge(%q) = %+v, %v", tt.in, c, err)
		}
	}
}

func TestLiteralsAndQuery(t *testing.T) {
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))
	tests := []struct{ got, want string }{
		{Literal("O'Bryan"), "'O''Bryan'"},
		{Literal(GUID("{5F1C2A9E-8B3D-4C6F-A017-3E9D4B2C6A21}")), "5F1C2A9E-8B3D-4C6F-A017-3E9D4B2C6A21"},
		{Literal(nil), "null"},
		{Literal(true), "true"},
		{Literal(42), "42"},
		{Literal(int64(-7)), "-7"},
		{Literal(2.5), "2.5"},
		{Literal(1e6), "1000000"},
		{Literal(when), "2024-05-06T06:08:09Z"},
		{Literal([]string{"a", "b'c"}), "['a','b''c']"},
		{Eq("name", "x"), "name eq 'x'"},
		{Ne("_ownerid_value", nil), "_ownerid_value ne null"},
		{And(Eq("a", 1), "", Or(Gt("b", 2), Lt("b", 0))), "a eq 1 and (b gt 2 or b lt 0)"},
		{Not(Contains("name", "co")), "not (contains(name,'co'))"},
		{In("statuscode", 1, 2), `Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=["1","2"])`},
		{AltKey{"b": 2, "a": "x y"}.String(), "a='x y',b=2"},
		{entityPath("accounts", "{ABC}"), "accounts(ABC)"},
		{entityPath("contacts", AltKey{"emailaddress1": "a&b@x.com", "firstname": "Jo é"}.String()),
			"contacts(emailaddress1='a%26b@x.com',firstname='Jo%20%C3%A9')"},
		{Bind("accounts", "1"), "/accounts(1)"},
		{NewQuery().Select("name", "revenue").Filter("name eq 'a+b & c'").OrderBy("name desc").Top(3).Count().Encode(),
			"$select=name,revenue&$filter=name%20eq%20'a%2Bb%20%26%20c'&$orderby=name%20desc&$top=3&$count=true"},
		{NewQuery().Select("name").Expand("primarycontactid", NewQuery().Select("fullname")).
			Expand("contact_customer_accounts", NewQuery().Select("lastname").Filter("x eq 1").OrderBy("lastname").Top(2).
				Expand("owninguser", NewQuery().Select("fullname"))).String(),
			"$select=name&$expand=primarycontactid($select=fullname),contact_customer_accounts($select=lastname;$filter=x eq 1;$orderby=lastname;$top=2;$expand=owninguser($select=fullname))"},
		{NewQuery().Filterf("a eq %s and b gt %v and c eq %s", "it's", 5, GUID("g")).String(), "$filter=a eq 'it''s' and b gt 5 and c eq g"},
		{QueryPath("accounts", nil), "accounts"},
		{(*Query)(nil).Encode(), ""},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: got  %s\n   want %s", i, tt.got, tt.want)
		}
	}
}

func TestRequestShape(t *testing.T) {
	var got *http.Request
	var body []byte
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("OData-EntityId", "https://x/api/data/v9.2/accounts(7EB682F1-CA75-E511-80D4-00155D2A68D1)")
		w.WriteHeader(http.StatusNoContent)
	}), nil)
	id, err := c.Create(context.Background(), "accounts", map[string]any{"name": "n"},
		WithCallerObjectID("oid-1"), WithAnnotations(), WithPageSize(7), WithHeader("MSCRM.SolutionUniqueName", "sol"), WithSelect("name"))
	if err != nil {
		t.Fatal(err)
	}
	if id != "7eb682f1-ca75-e511-80d4-00155d2a68d1" {
		t.Errorf("id %q", id)
	}
	h := got.Header
	for k, want := range map[string]string{
		"Authorization": "Bearer tok", "Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0",
		"Content-Type": "application/json; charset=utf-8", "CallerObjectId": "oid-1", "MSCRM.SolutionUniqueName": "sol",
		"Prefer": `odata.include-annotations="*",odata.maxpagesize=7`, "If-None-Match": "",
	} {
		if h.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, h.Get(k), want)
		}
	}
	if got.Method != http.MethodPost || got.URL.Path != "/api/data/v9.2/accounts" || got.URL.RawQuery != "$select=name" || string(body) != `{"name":"n"}` {
		t.Errorf("%s %s ? %s  %s", got.Method, got.URL.Path, got.URL.RawQuery, body)
	}
	// A second request carries none of the first one's options.
	if _, err := c.Create(context.Background(), "accounts", Row{}); err != nil {
		t.Fatal(err)
	}
	if got.Header.Get("CallerObjectId") != "" || got.Header.Get("Prefer") != "" || got.URL.RawQuery != "" {
		t.Errorf("options leaked into the next request: %v %q", got.Header, got.URL.RawQuery)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		answers  []int // status per attempt; 0 = drop the connection
		after    string
		opts     []RequestOption
		wantTry  int
		wantErr  func(error) bool
		deadline time.Duration
	}{
		{name: "429 then success, any method", method: "POST", answers: []int{429, 429, 204}, after: "0.01", wantTry: 3},
		{name: "429 with HTTP date", method: "GET", answers: []int{429, 200}, after: time.Now().Add(-time.Second).UTC().Format(http.TimeFormat), wantTry: 2},
		{name: "429 beyond MaxRetries", method: "GET", answers: []int{429, 429, 429, 429, 429}, after: "0", wantTry: 4, wantErr: IsThrottled},
		{name: "429 longer than the caller's deadline fails at once", method: "GET", answers: []int{429, 200}, after: "30", wantTry: 1, wantErr: IsThrottled, deadline: 5 * time.Second},
		{name: "503 retried for GET", method: "GET", answers: []int{503, 502, 200}, wantTry: 3},
		{name: "503 not retried for POST", method: "POST", answers: []int{503, 204}, wantTry: 1,
			wantErr: func(err error) bool { return AsError(err).StatusCode == 503 }},
		{name: "POST retried when marked idempotent", method: "POST", answers: []int{500, 204}, opts: []RequestOption{WithIdempotent(true)}, wantTry: 2},
		{name: "PATCH with ETag not retried", method: "PATCH", answers: []int{503, 204}, opts: []RequestOption{WithIfMatch(`W/"1"`)}, wantTry: 1,
			wantErr: func(err error) bool { return AsError(err).StatusCode == 503 }},
		{name: "unconditional PATCH retried", method: "PATCH", answers: []int{504, 204}, wantTry: 2},
		{name: "dropped connection retried for GET", method: "GET", answers: []int{0, 200}, wantTry: 2},
		{name: "dropped connection not retried for POST", method: "POST", answers: []int{0, 204}, wantTry: 1, wantErr: func(err error) bool { return err != nil }},
		{name: "400 never retried", method: "GET", answers: []int{400, 200}, wantTry: 1, wantErr: func(err error) bool { return AsError(err).StatusCode == 400 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tries atomic.Int32
			c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(tries.Add(1)) - 1
				status := tt.answers[min(n, len(tt.answers)-1)]
				switch {
				case status == 0:
					hj, _ := w.(http.Hijacker)
					conn, _, _ := hj.Hijack()
					conn.Close()
				case status == 429:
					w.Header().Set("Retry-After", tt.after)
					writeErr(w, 429, CodeRequestsExceeded, "Number of requests exceeded the limit of 6000 over time window of 300 seconds.")
				case status >= 400:
					writeErr(w, status, "0x80040216", "boom")
				case status == 200:
					w.Write([]byte(`{"value":"ok"}`))
				default:
					w.WriteHeader(status)
				}
			}), &Options{MaxRetries: 3})
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			start := time.Now()
			_, err := c.Do(ctx, tt.method, "accounts", nil, nil, tt.opts...)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != nil && (err == nil || !tt.wantErr(err)) {
				t.Fatalf("err = %v", err)
			}
			if got := int(tries.Load()); got != tt.wantTry {
				t.Fatalf("%d attempts, want %d", got, tt.wantTry)
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
			if e := AsError(err); e != nil && e.StatusCode == 429 && tt.after == "30" && e.RetryAfter != 30*time.Second {
				t.Fatalf("RetryAfter = %v", e.RetryAfter)
			}
		})
	}
}

// TestRetryAfterHonoured checks the client waits as told, and gives up
// when the context ends during the wait.
func TestRetryAfterHonoured(t *testing.T) {
	var tries atomic.Int32
	var first time.Time
	var gap time.Duration
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tries.Add(1) == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			writeErr(w, 429, CodeConcurrentRequestsExceeded, "Number of concurrent requests exceeded the limit of 52.")
			return
		}
		gap = time.Since(first)
		w.Write([]byte(`{}`))
	}), nil)
	if _, err := c.Do(context.Background(), "GET", "WhoAmI", nil, nil); err != nil {
		t.Fatal(err)
	}
	if gap < time.Second {
		t.Fatalf("retried after %v, before Retry-After", gap)
	}
	tries.Store(0)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := c.Do(ctx, "GET", "WhoAmI", nil, nil)
	if !IsThrottled(err) || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("cancelled during the wait: %v after %v", err, time.Since(start))
	}
}

// TestDOPLimiter checks the client never has more requests in flight than
// the server's x-ms-dop-hint (once it has seen one), nor MaxConcurrency.
func TestDOPLimiter(t *testing.T) {
	for _, tt := range []struct {
		name      string
		hint      int
		max, want int
	}{
		{"follows the hint", 3, 0, 3},
		{"capped by MaxConcurrency", 8, 2, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var inFlight, peak atomic.Int32
			c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(20 * time.Millisecond)
				w.Header().Set("x-ms-dop-hint", fmt.Sprint(tt.hint))
				w.Write([]byte(`{}`))
			}), &Options{MaxConcurrency: tt.max})
			if _, err := c.Do(context.Background(), "GET", "WhoAmI", nil, nil); err != nil {
				t.Fatal(err)
			}
			if c.DOPHint() != tt.hint || c.Parallelism() != tt.want {
				t.Fatalf("DOPHint %d, Parallelism %d", c.DOPHint(), c.Parallelism())
			}
			peak.Store(0)
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					if _, err := c.Do(context.Background(), "GET", "WhoAmI", nil, nil); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if p := int(peak.Load()); p != tt.want {
				t.Fatalf("peak concurrency %d, want %d", p, tt.want)
			}
		})
	}
}

func TestLimiterCancel(t *testing.T) {
	l := newLimiter(1)
	if err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire on a full limiter: %v", err)
	}
	l.setLimit(2)
	if err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.release()
	l.release()
	if _, active := l.get(); active != 0 {
		t.Fatalf("active %d", active)
	}
}

func TestTokenCachingAndErrors(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tcontoso" {
			w.Header().Set("WWW-Authenticate", "Bearer authorization_uri=https://login.example/contoso/oauth2/authorize, resource_id="+"https://"+r.Host+"/")
			writeErr(w, 401, "0x80044302", "Request is not authenticated.")
			return
		}
		w.Write([]byte(`{"UserId":"u"}`))
	}))
	defer srv.Close()
	cred := &countingCred{}
	c, err := NewClient(srv.URL, cred, &Options{HTTPClient: srv.Client(), TenantID: "contoso"})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := c.WhoAmI(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if cred.n.Load() != 1 {
		t.Fatalf("%d token requests for 5 calls", cred.n.Load())
	}
	// Another tenant's token: 401 naming the right tenant.
	c2, _ := NewClient(srv.URL, cred, &Options{HTTPClient: srv.Client(), TenantID: "fabrikam"})
	_, err = c2.WhoAmI(context.Background())
	if e := AsError(err); !IsUnauthorized(err) || e.Challenge == nil || e.Challenge.TenantID != "contoso" || e.Code != CodeRequestIsNotAuthenticated {
		t.Fatalf("err = %v", err)
	}

	// A credential failure carrying Entra's answer.
	body := `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2024-01-01 00:00:00Z","error_codes":[7000215],"trace_id":"t","correlation_id":"c"}`
	failing := credFunc(func() error {
		return &azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: 401, Status: "401 Unauthorized",
			Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}}
	})
	c3, _ := NewClient(srv.URL, failing, &Options{HTTPClient: srv.Client()})
	_, err = c3.WhoAmI(context.Background())
	e := AsError(err)
	if !IsTokenError(err) || e.Entra == nil || e.Entra.AADSTS() != 7000215 || e.Entra.CorrelationID != "c" || e.StatusCode != 401 {
		t.Fatalf("token error %#v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "AADSTS7000215: Invalid client secret provided.") || strings.Contains(msg, "Trace ID") {
		t.Fatalf("message %q", msg)
	}
	var af *azidentity.AuthenticationFailedError
	if !errors.As(err, &af) {
		t.Fatal("the credential's error is not wrapped")
	}
	if IsUnauthorized(err) || IsNotFound(err) {
		t.Fatal("a token error is not a Web API error")
	}
}

type credFunc func() error

func (f credFunc) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, f()
}

func TestDiscoverTenantAndClients(t *testing.T) {
	var discoveries atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			discoveries.Add(1)
			w.Header().Set("WWW-Authenticate", "Bearer authorization_uri=https://login.example/tenant-a/oauth2/authorize, resource_id=https://"+r.Host+"/")
			writeErr(w, 401, "0x80044302", "Request is not authenticated.")
			return
		}
		fmt.Fprintf(w, `{"UserId":%q}`, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	var created []string
	var mu sync.Mutex
	tc := NewTenantCredentials(func(tenant string) (azcore.TokenCredential, error) {
		mu.Lock()
		created = append(created, tenant)
		mu.Unlock()
		return fixedToken("tok-" + tenant), nil
	})
	cs := NewClients(tc, &Options{HTTPClient: srv.Client()})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c, err := cs.Client(context.Background(), srv.URL+"/api/data/v9.2/")
			if err != nil {
				t.Error(err)
				return
			}
			w, err := c.WhoAmI(context.Background())
			if err != nil || w.UserID != "Bearer tok-tenant-a" {
				t.Errorf("WhoAmI %+v %v", w, err)
			}
		})
	}
	wg.Wait()
	if discoveries.Load() != 1 || len(created) != 1 || created[0] != "tenant-a" {
		t.Fatalf("%d discoveries, credentials %v", discoveries.Load(), created)
	}
	if _, err := tc.GetToken(context.Background(), policy.TokenRequestOptions{}); err == nil {
		t.Fatal("TenantCredentials without a tenant id")
	}
}

// TestBatchWire checks the $batch body (multipart/mixed, CRLF, change sets
// with Content-IDs) and the mapping of the answer, including a change set
// answered by a single failure.
func TestBatchWire(t *testing.T) {
	var reqBody []byte
	var reqType string
	c, srv := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody, _ = io.ReadAll(r.Body)
		reqType = r.Header.Get("Content-Type")
		base := "https://" + r.Host + "/api/data/v9.2/"
		w.Header().Set("Content-Type", "multipart/mixed; boundary=batchresponse_1")
		// Dataverse answers 400 when the batch stopped at a failure.
		w.WriteHeader(http.StatusBadRequest)
		resp := "--batchresponse_1\r\n" +
			"Content-Type: multipart/mixed; boundary=changesetresponse_1\r\n\r\n" +
			"--changesetresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n" +
			"HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nOData-EntityId: " + base + "accounts(11111111-1111-1111-1111-111111111111)\r\n\r\n\r\n" +
			"--changesetresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n" +
			"HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nOData-EntityId: " + base + "contacts(22222222-2222-2222-2222-222222222222)\r\n\r\n\r\n" +
			"--changesetresponse_1--\r\n" +
			"--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n{\"value\":[{\"name\":\"A\"}]}\r\n" +
			"--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
			"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n{\"error\":{\"code\":\"0x80048d19\",\"message\":\"bad payload\"}}\r\n" +
			"--batchresponse_1--\r\n"
		io.WriteString(w, resp)
	}), nil)
	b := NewBatch()
	cs := b.ChangeSet()
	acc := cs.Create("accounts", Row{"name": "A"})
	con := cs.Create("contacts", Row{"lastname": "B", "parentcustomerid_account@odata.bind": acc.Ref()}, WithCallerObjectID("oid"))
	get := b.Get(QueryPath("accounts", NewQuery().Select("name")))
	cs2 := b.ChangeSet()
	x := cs2.Update("accounts", acc.Ref(), Row{"Name": 1})
	y := cs2.Delete("accounts", "33333333-3333-3333-3333-333333333333")
	after := b.Create("accounts", Row{"name": "never"})
	res, err := c.ExecuteBatch(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}

	// The request.
	mt, params, err := mime.ParseMediaType(reqType)
	if err != nil || mt != "multipart/mixed" || !strings.HasPrefix(params["boundary"], "batch_") {
		t.Fatalf("Content-Type %q", reqType)
	}
	if bytes.Contains(bytes.ReplaceAll(reqBody, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("a bare LF in the batch body")
	}
	mr := multipart.NewReader(bytes.NewReader(reqBody), params["boundary"])
	var lines []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pmt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pmt == "multipart/mixed" {
			cr := multipart.NewReader(p, pp["boundary"])
			for {
				q, err := cr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				method, target, h, body := readPartRequest(t, q)
				lines = append(lines, fmt.Sprintf("cs %s %s %s id=%s caller=%s %s", q.Header.Get("Content-Transfer-Encoding"), method, target,
					q.Header.Get("Content-ID"), h.Get("CallerObjectId"), body))
			}
			continue
		}
		method, target, _, _ := readPartRequest(t, p)
		lines = append(lines, fmt.Sprintf("%s %s", method, target))
	}
	base := srv.URL + "/api/data/v9.2/"
	want := []string{
		"cs binary POST " + base + `accounts id=1 caller= {"name":"A"}`,
		"cs binary POST " + base + `contacts id=2 caller=oid {"lastname":"B","parentcustomerid_account@odata.bind":"$1"}`,
		"GET " + base + "accounts?$select=name",
		`cs binary PATCH $1 id=4 caller= {"Name":1}`,
		"cs binary DELETE " + base + "accounts(33333333-3333-3333-3333-333333333333) id=5 caller= ",
		"POST " + base + "accounts",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("parts:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// The answer.
	if id := res.Results[acc.Index].ID(); id != "11111111-1111-1111-1111-111111111111" {
		t.Errorf("account id %q", id)
	}
	if id := res.Results[con.Index].ID(); id != "22222222-2222-2222-2222-222222222222" {
		t.Errorf("contact id %q", id)
	}
	var page struct{ Value []Row }
	if err := res.Results[get.Index].Decode(&page); err != nil || page.Value[0].String("name") != "A" {
		t.Errorf("get: %v %v", page, err)
	}
	for _, op := range []*BatchOp{x, y} {
		r := res.Results[op.Index]
		if !r.RolledBack || AsError(r.Err) == nil || AsError(r.Err).Code != CodePayloadError {
			t.Errorf("rolled back op %d: %+v", op.Index, r)
		}
	}
	if e := AsError(res.Results[x.Index].Err); e.Method != "PATCH" || e.URL != "$1" {
		t.Errorf("error names %s %s", e.Method, e.URL)
	}
	if !errors.Is(res.Results[after.Index].Err, ErrNotExecuted) {
		t.Errorf("after: %+v", res.Results[after.Index])
	}
	if res.Err() == nil {
		t.Error("BatchResponse.Err is nil")
	}
}

// TestNoServerImports checks the SDK imports nothing of the dvs2s server:
// it must work unchanged against real Dataverse.
func TestNoServerImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/dvs2s/dvs2s/") && p != "github.com/dvs2s/dvs2s/dataverse" {
			t.Errorf("the SDK depends on %s", p)
		}
	}
}

// readPartRequest parses an application/http request part by hand
// (net/http refuses the "$1" request targets of change sets).
func readPartRequest(t *testing.T, r io.Reader) (method, target string, h textproto.MIMEHeader, body []byte) {
	t.Helper()
	tr := textproto.NewReader(bufio.NewReader(r))
	line, err := tr.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[2] != "HTTP/1.1" {
		t.Fatalf("request line %q", line)
	}
	if h, err = tr.ReadMIMEHeader(); err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(tr.R)
	return f[0], f[1], h, body
}

// TestRetryAfterPausesClient checks that after a request-count 429 no
// request of the same client reaches the server before Retry-After ends.
func TestRetryAfterPausesClient(t *testing.T) {
	var mu sync.Mutex
	var hits []time.Duration
	start := time.Now()
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, time.Since(start))
		first := len(hits) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "0.4")
			writeErr(w, 429, CodeRequestsExceeded, "Number of requests exceeded the limit of 6000 over time window of 300 seconds.")
			return
		}
		w.Write([]byte(`{}`))
	}), nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := c.Do(context.Background(), "GET", "WhoAmI", nil, nil); err != nil {
			t.Error(err)
		}
	})
	time.Sleep(100 * time.Millisecond)
	wg.Go(func() {
		if _, err := c.Do(context.Background(), "GET", "WhoAmI", nil, nil); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if len(hits) != 3 {
		t.Fatalf("hits %v", hits)
	}
	for _, h := range hits[1:] {
		if h < 400*time.Millisecond {
			t.Fatalf("a request reached the server during Retry-After: %v", hits)
		}
	}
}

func TestFunctionAndActionShape(t *testing.T) {
	var got []string
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery+" "+string(b))
		w.Write([]byte(`{"Count":3}`))
	}), nil)
	var out struct{ Count int }
	ctx := context.Background()
	if err := c.CallFunction(ctx, "RetrieveTotalRecordCount", map[string]any{"EntityNames": json.RawMessage(`["accounts"]`), "A": "x y"}, &out); err != nil || out.Count != 3 {
		t.Fatal(out, err)
	}
	if err := c.CallAction(ctx, "accounts(1)/Microsoft.Dynamics.CRM.Merge", map[string]any{"PerformParentingChecks": false}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.CallAction(ctx, "PublishAllXml", nil, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`GET /api/data/v9.2/RetrieveTotalRecordCount(A=@A,EntityNames=@EntityNames)?@A='x%20y'&@EntityNames=%5B%22accounts%22%5D `,
		`POST /api/data/v9.2/accounts(1)/Microsoft.Dynamics.CRM.Merge? {"PerformParentingChecks":false}`,
		`POST /api/data/v9.2/PublishAllXml? {}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
