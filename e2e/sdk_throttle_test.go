package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/throttle"
)

// statusCounter is a transport that counts answers by status.
type statusCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[int]int
}

func (s *statusCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		if s.n == nil {
			s.n = map[int]int{}
		}
		s.n[resp.StatusCode]++
		s.mu.Unlock()
	}
	return resp, err
}

func (s *statusCounter) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[status]
}

// TestSDKThrottling runs bursts of work against small service protection
// limits: the SDK honours Retry-After and x-ms-dop-hint, and every call of
// the caller succeeds.
func TestSDKThrottling(t *testing.T) {
	tests := []struct {
		name    string
		limits  throttle.Limits
		opts    dataverse.Options
		workers int
		calls   int
		want429 bool // the burst must have met the limit
		wantDOP int
	}{
		{name: "request count limit", limits: throttle.Limits{Requests: 12, Window: time.Second, DOPHint: 8},
			workers: 8, calls: 40, want429: true, wantDOP: 8},
		{name: "concurrency limit, client follows x-ms-dop-hint", limits: throttle.Limits{Concurrent: 2, DOPHint: 2},
			workers: 16, calls: 48, wantDOP: 2},
		{name: "concurrency limit, client ignores the hint", limits: throttle.Limits{Concurrent: 2, DOPHint: 2},
			opts: dataverse.Options{MaxConcurrency: -1}, workers: 16, calls: 48, want429: true, wantDOP: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, "", func(c *stack.Config) { c.Limits = tt.limits })
			ctx := sdkCtx(t)
			sc := &statusCounter{next: ts.client.Transport}
			o := tt.opts
			o.HTTPClient = &http.Client{Transport: sc, Timeout: time.Minute}
			c := ts.sdkClient(t, &o)
			// The first call teaches the client the hint (as the docs'
			// sample does with WhoAmI).
			if _, err := c.WhoAmI(ctx); err != nil {
				t.Fatal(err)
			}
			// Whether parallel calls overlap on the server depends on the
			// machine; when a 429 is wanted, run rounds until one is met.
			rounds := 0
			for {
				rounds++
				var next atomic.Int32
				var wg sync.WaitGroup
				errs := make(chan error, tt.calls)
				for range tt.workers {
					wg.Go(func() {
						for {
							i := int(next.Add(1))
							if i > tt.calls {
								return
							}
							var err error
							if i%2 == 0 {
								_, err = c.Create(ctx, "accounts", dataverse.Row{"name": fmt.Sprintf("throttled %d.%d", rounds, i)})
							} else {
								_, err = c.WhoAmI(ctx)
							}
							if err != nil {
								errs <- err
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Errorf("a call failed: %v", err)
				}
				if !tt.want429 || sc.count(http.StatusTooManyRequests) > 0 || rounds == 10 {
					break
				}
			}
			n, err := c.Count(ctx, "accounts", dataverse.StartsWith("name", "throttled "))
			if err != nil {
				// The count itself may meet the limit only after retries.
				t.Fatal(err)
			}
			if n != int64(rounds*tt.calls/2) {
				t.Errorf("%d rows created, want %d: no create may be lost or doubled", n, rounds*tt.calls/2)
			}
			if got := sc.count(http.StatusTooManyRequests); tt.want429 && got == 0 {
				t.Errorf("no 429 met: the test does not test the retries")
			} else if !tt.want429 && got != 0 {
				t.Errorf("%d answers 429 although the client kept to the dop hint", got)
			}
			if c.DOPHint() != tt.wantDOP {
				t.Errorf("DOPHint %d, want %d", c.DOPHint(), tt.wantDOP)
			}
			t.Logf("%d rounds of %d calls, %d answers 429", rounds, tt.calls, sc.count(http.StatusTooManyRequests))
		})
	}
}

// TestSDKThrottledError: a client that may not retry (or whose retries
// run out) returns the 429 as it came: IsThrottled, the Dataverse code and
// message, and Retry-After.
func TestSDKThrottledError(t *testing.T) {
	ts := start(t, "", func(c *stack.Config) { c.Limits = throttle.Limits{Requests: 3, Window: time.Minute} })
	ctx := sdkCtx(t)
	c := ts.sdkClient(t, &dataverse.Options{MaxRetries: -1})
	var err error
	for range 10 {
		if _, err = c.WhoAmI(ctx); err != nil {
			break
		}
	}
	e := dataverse.AsError(err)
	if !dataverse.IsThrottled(err) || e.Code != dataverse.CodeRequestsExceeded || e.RetryAfter <= 0 || e.RetryAfter > time.Minute ||
		!strings.Contains(e.Message, "Number of requests exceeded the limit of 3") {
		t.Fatalf("err = %v (%+v)", err, e)
	}
	// A caller whose deadline ends before Retry-After gets the error at
	// once instead of waiting in vain.
	c2 := ts.sdkClient(t, nil)
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c2.WhoAmI(short)
	if !dataverse.IsThrottled(err) || time.Since(start) > time.Second {
		t.Fatalf("with a short deadline: %v after %v", err, time.Since(start))
	}
}
