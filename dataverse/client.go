package dataverse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Options configure a Client. The zero value is ready to use.
type Options struct {
	// HTTPClient sends the requests (default: a client with sensible
	// timeouts). Give one whose transport trusts your CA to reach a local
	// dvs2s stack.
	HTTPClient *http.Client
	// APIVersion is the Web API version (default "v9.2").
	APIVersion string
	// Scope is the token scope (default "<environment URL>/.default").
	Scope string
	// TenantID is passed to the credential with every token request
	// (policy.TokenRequestOptions.TenantID). Leave it empty for a
	// credential bound to one tenant; set it with a multi-tenant
	// credential such as *TenantCredentials (Clients sets it for you).
	TenantID string

	// MaxRetries bounds the retries of one request: on 429 (service
	// protection limits, after Retry-After) and, for requests that are safe
	// to repeat, on transient failures (network errors, 408, 500, 502, 503,
	// 504) with jittered exponential backoff. 0 means the default (5); a
	// negative value disables retries.
	MaxRetries int
	// MaxRetryAfter is the longest Retry-After the client waits for (default
	// 5 minutes); a longer one is returned to the caller as the error.
	MaxRetryAfter time.Duration
	// RetryDelay is the first backoff delay for transient failures (default
	// 500 ms); it doubles per attempt, with full jitter, up to MaxRetryDelay
	// (default 30 s).
	RetryDelay, MaxRetryDelay time.Duration

	// MaxConcurrency caps the requests this client has in flight. The cap
	// follows the server's x-ms-dop-hint (recommended degree of
	// parallelism) once one is seen, never exceeding MaxConcurrency when it
	// is set. 0 means: 52 (the documented concurrent request limit) until a
	// hint arrives. Negative: no limit at all.
	MaxConcurrency int

	// UseNumber decodes numbers in Rows as json.Number instead of float64,
	// keeping decimal and big integer values exact.
	UseNumber bool
	// UserAgent is sent as User-Agent (default "dvs2s-dataverse-go").
	UserAgent string
}

// Client calls the Web API of one Dataverse environment with S2S access
// tokens from an azcore.TokenCredential. It is safe for concurrent use;
// per-request behaviour (impersonation, conditions, ...) is given with
// RequestOptions, never stored in the Client.
type Client struct {
	envURL string // https://org.crm.dynamics.com (no trailing slash)
	api    string // envURL + "/api/data/v9.2/"
	cred   azcore.TokenCredential
	tro    policy.TokenRequestOptions
	hc     *http.Client
	o      Options

	userAgent []string

	tok   atomic.Pointer[cachedToken]
	tokMu sync.Mutex

	lim *limiter
	dop atomic.Int32
	// pause is when (unix nanoseconds) the last Retry-After ends: the
	// limits are per user, so every request of the client waits for it
	// rather than hammering the server and extending the penalty.
	pause atomic.Int64
}

// defaultHTTPClient is used when Options.HTTPClient is nil.
var defaultHTTPClient = &http.Client{
	Timeout: 5 * time.Minute,
	Transport: func() http.RoundTripper {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		return t
	}(),
}

// NewClient returns a client of the environment at environmentURL (such as
// https://org.crm.dynamics.com) whose access tokens come from cred with
// the scope "<environmentURL>/.default". Any azidentity credential works:
// client secret, certificate, managed identity, workload identity.
func NewClient(environmentURL string, cred azcore.TokenCredential, opts *Options) (*Client, error) {
	if cred == nil {
		return nil, errors.New("dataverse: NewClient needs a credential")
	}
	base, err := normalizeEnvURL(environmentURL)
	if err != nil {
		return nil, err
	}
	c := &Client{envURL: base, cred: cred}
	if opts != nil {
		c.o = *opts
	}
	if c.o.APIVersion == "" {
		c.o.APIVersion = "v9.2"
	}
	if c.o.Scope == "" {
		c.o.Scope = base + "/.default"
	}
	if c.o.MaxRetries == 0 {
		c.o.MaxRetries = 5
	}
	if c.o.MaxRetryAfter <= 0 {
		c.o.MaxRetryAfter = 5 * time.Minute
	}
	if c.o.RetryDelay <= 0 {
		c.o.RetryDelay = 500 * time.Millisecond
	}
	if c.o.MaxRetryDelay <= 0 {
		c.o.MaxRetryDelay = 30 * time.Second
	}
	if c.o.UserAgent == "" {
		c.o.UserAgent = "dvs2s-dataverse-go"
	}
	c.userAgent = []string{c.o.UserAgent}
	c.hc = c.o.HTTPClient
	if c.hc == nil {
		c.hc = defaultHTTPClient
	}
	c.api = base + "/api/data/" + c.o.APIVersion + "/"
	c.tro = policy.TokenRequestOptions{Scopes: []string{c.o.Scope}, TenantID: c.o.TenantID}
	switch {
	case c.o.MaxConcurrency < 0:
		c.lim = newLimiter(0)
	case c.o.MaxConcurrency > 0:
		c.lim = newLimiter(min(c.o.MaxConcurrency, 52))
	default:
		c.lim = newLimiter(52)
	}
	return c, nil
}

// normalizeEnvURL checks an environment URL and drops a trailing slash and
// an /api/data/... suffix.
func normalizeEnvURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("dataverse: environment URL %q: want an absolute URL such as https://org.crm.dynamics.com", s)
	}
	p := u.Path
	if i := strings.Index(strings.ToLower(p), "/api/data"); i >= 0 {
		p = p[:i]
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(p, "/"), nil
}

// EnvironmentURL returns the environment's URL (no trailing slash).
func (c *Client) EnvironmentURL() string { return c.envURL }

// BaseURL returns the Web API's base URL, ending in "/api/data/v9.2/".
func (c *Client) BaseURL() string { return c.api }

// DOPHint returns the last x-ms-dop-hint (recommended degree of
// parallelism) the server sent, or 0 before any.
func (c *Client) DOPHint() int { return int(c.dop.Load()) }

// Parallelism returns how many requests this client lets run at once now:
// the server's x-ms-dop-hint capped by Options.MaxConcurrency (0 if
// unlimited). Size worker pools with it.
func (c *Client) Parallelism() int {
	l, _ := c.lim.get()
	return l
}

// token returns the Authorization header value of a valid access token,
// asking the credential when the cached one is missing, near expiry or
// past its RefreshOn time.
func (c *Client) token(ctx context.Context) ([]string, error) {
	now := time.Now()
	if t := c.tok.Load(); t != nil && fresh(&t.AccessToken, now) {
		return t.header, nil
	}
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if t := c.tok.Load(); t != nil && fresh(&t.AccessToken, now) {
		return t.header, nil
	}
	t, err := c.cred.GetToken(ctx, c.tro)
	if err != nil {
		// A token that is still valid is better than none.
		if old := c.tok.Load(); old != nil && old.ExpiresOn.After(now.Add(30*time.Second)) {
			return old.header, nil
		}
		return nil, tokenError(c.o.Scope, err)
	}
	ct := &cachedToken{AccessToken: t, header: []string{"Bearer " + t.Token}}
	c.tok.Store(ct)
	return ct.header, nil
}

// cachedToken is a token with its Authorization header value.
type cachedToken struct {
	azcore.AccessToken
	header []string
}

var (
	hdrJSON         = []string{"application/json"}
	hdrJSONBody     = []string{"application/json; charset=utf-8"}
	hdrODataVersion = []string{"4.0"}
	hdrNull         = []string{"null"}
)

func fresh(t *azcore.AccessToken, now time.Time) bool {
	if !t.RefreshOn.IsZero() && now.After(t.RefreshOn) {
		return false
	}
	return now.Add(5 * time.Minute).Before(t.ExpiresOn)
}

// response is a complete Web API answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call is one Web API request.
type call struct {
	method string
	url    string // absolute
	body   []byte // nil: no body
	ctype  string // Content-Type of body (default application/json)
	ro     *requestOptions
	// safe marks the request as safe to repeat after a transient failure.
	safe bool
	// multipartErrors returns error answers in multipart/mixed form (a
	// $batch that stopped at a failed operation answers 400 with the
	// parts) as answers, not errors.
	multipartErrors bool
}

// resolve makes an absolute URL of a path relative to the Web API base
// (or returns an absolute URL unchanged).
func (c *Client) resolve(path string) string {
	if strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://") {
		return path
	}
	return c.api + strings.TrimPrefix(path, "/")
}

// newCall prepares a request; body (if not nil) is marshalled to JSON
// unless it already is []byte or json.RawMessage.
func (c *Client) newCall(method, path string, body any, opts []RequestOption) (*call, error) {
	ro := &requestOptions{}
	for _, o := range opts {
		if o != nil {
			o(ro)
		}
	}
	k := &call{method: method, url: c.resolve(path), ro: ro}
	if len(ro.query) > 0 {
		sep := "?"
		if strings.Contains(k.url, "?") {
			sep = "&"
		}
		k.url += sep + strings.Join(ro.query, "&")
	}
	switch b := body.(type) {
	case nil:
	case []byte:
		k.body = b
	case json.RawMessage:
		k.body = b
	default:
		out, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("dataverse: %s %s: encoding the body: %w", method, k.url, err)
		}
		k.body = out
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		k.safe = true
	case http.MethodPatch:
		// PATCH sets values, so repeating it leaves the same row — unless a
		// condition would fail on the repeat (If-Match with an ETag: the
		// first attempt changed it; If-None-Match: * : it now exists).
		im, inm := ro.header.Get("If-Match"), ro.header.Get("If-None-Match")
		k.safe = (im == "" || im == "*") && inm == ""
	}
	if ro.idempotent != nil {
		k.safe = *ro.idempotent
	}
	return k, nil
}

// do sends a call with retries and returns the answer; answers with status
// >= 400 become *Error.
func (c *Client) do(ctx context.Context, k *call) (*response, error) {
	retries := max(c.o.MaxRetries, 0)
	for attempt := 0; ; attempt++ {
		if err := c.waitPause(ctx); err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, k)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil || attempt >= retries || !(k.safe || notSent(err)) || IsTokenError(err) {
				return nil, err
			}
			wait = c.backoff(attempt)
		case resp.status == http.StatusTooManyRequests:
			// Service protection limits refuse a request before running it,
			// so any request may be repeated after Retry-After.
			e := newResponseError(k.method, k.url, resp.status, resp.header, resp.body)
			if attempt >= retries || e.RetryAfter > c.o.MaxRetryAfter {
				return nil, e
			}
			wait = e.RetryAfter
			if wait <= 0 {
				wait = c.backoff(attempt)
			} else if !e.HasCode(CodeConcurrentRequestsExceeded) {
				// Over the request-count or execution-time limit: the
				// whole client waits. (Over the concurrency limit only
				// this request waits: the others are what must finish.)
				c.pauseFor(wait)
			}
			err = e
		case transientStatus(resp.status) && k.safe && attempt < retries:
			err = newResponseError(k.method, k.url, resp.status, resp.header, resp.body)
			wait = parseRetryAfter(resp.header.Get("Retry-After"), time.Now())
			if wait <= 0 || wait > c.o.MaxRetryAfter {
				wait = c.backoff(attempt)
			}
		case resp.status >= 400 && k.multipartErrors && strings.HasPrefix(resp.header.Get("Content-Type"), "multipart/"):
			return resp, nil
		case resp.status >= 400:
			if resp.status == http.StatusUnauthorized {
				c.tok.Store(nil) // ask the credential again next time
			}
			return nil, newResponseError(k.method, k.url, resp.status, resp.header, resp.body)
		default:
			return resp, nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, err // waiting would outlive the caller
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// pauseFor holds every request of the client back for d.
func (c *Client) pauseFor(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.pause.Load()
		if cur >= until || c.pause.CompareAndSwap(cur, until) {
			return
		}
	}
}

// waitPause waits until a Retry-After pause is over. If the caller's
// deadline comes first it returns at once with the throttling error.
func (c *Client) waitPause(ctx context.Context) error {
	until := c.pause.Load()
	if until == 0 {
		return nil
	}
	d := time.Until(time.Unix(0, until))
	if d <= 0 {
		return nil
	}
	throttled := &Error{StatusCode: http.StatusTooManyRequests, Code: CodeRequestsExceeded, RetryAfter: d,
		Message: "the client is waiting for an earlier Retry-After (service protection limits)"}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return throttled
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		throttled.Err = ctx.Err()
		return throttled
	case <-t.C:
		return nil
	}
}

func transientStatus(s int) bool {
	switch s {
	case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// notSent reports whether a transport error happened before the request
// could reach the server (so even a non-idempotent request may be sent
// again).
func notSent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// backoff returns a jittered exponential delay for a retry attempt
// (0-based): uniform in [d/2, d], d = RetryDelay * 2^attempt capped at
// MaxRetryDelay.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.o.RetryDelay << min(attempt, 20)
	if d <= 0 || d > c.o.MaxRetryDelay {
		d = c.o.MaxRetryDelay
	}
	return d/2 + time.Duration(randInt64(int64(d/2)+1))
}

// send makes one attempt: a concurrency slot, a token, the request, the
// whole answer.
func (c *Client) send(ctx context.Context, k *call) (*response, error) {
	if err := c.lim.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.lim.release()
	tok, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	if k.body != nil {
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, k.url, body)
	if err != nil {
		return nil, fmt.Errorf("dataverse: %s %s: %w", k.method, k.url, err)
	}
	// The header values are shared, read-only slices: no allocation per
	// request for what never changes.
	h := req.Header
	h["Authorization"] = tok
	h["Accept"] = hdrJSON
	h["Odata-Maxversion"] = hdrODataVersion
	h["Odata-Version"] = hdrODataVersion
	h["User-Agent"] = c.userAgent
	if k.body != nil {
		if k.ctype == "" {
			h["Content-Type"] = hdrJSONBody
		} else {
			h["Content-Type"] = []string{k.ctype}
		}
	}
	if k.method == http.MethodGet {
		// Recommended on every GET: no cached expanded collections (§4.2).
		h["If-None-Match"] = hdrNull
	}
	k.ro.apply(h)
	r, err := c.hc.Do(req)
	if err != nil {
		return nil, &Error{Method: k.method, URL: k.url, Err: err}
	}
	defer r.Body.Close()
	var buf []byte
	if r.ContentLength > 0 && r.ContentLength < 64<<20 {
		buf = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, buf)
	} else {
		buf, err = io.ReadAll(r.Body)
	}
	if err != nil {
		return nil, &Error{Method: k.method, URL: k.url, Message: "reading the answer", Err: err}
	}
	if v := r.Header["X-Ms-Dop-Hint"]; len(v) > 0 {
		c.setDOP(v[0])
	}
	return &response{status: r.StatusCode, header: r.Header, body: buf}, nil
}

// setDOP follows the server's recommended degree of parallelism.
func (c *Client) setDOP(v string) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 || int32(n) == c.dop.Load() {
		return
	}
	c.dop.Store(int32(n))
	if c.o.MaxConcurrency < 0 {
		return
	}
	if c.o.MaxConcurrency > 0 {
		n = min(n, c.o.MaxConcurrency)
	}
	c.lim.setLimit(n)
}

// parseRetryAfter reads Retry-After: delay seconds (possibly fractional)
// or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 {
			return 0
		}
		return time.Duration(f * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func randInt64(n int64) int64 { return rand.Int64N(n) }
