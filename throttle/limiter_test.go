package throttle

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 9, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// run admits one request of user that executes for d, or reports the
// refusal.
func run(t *testing.T, l *Limiter, c *clock, user string, d time.Duration) Decision {
	t.Helper()
	dec := l.Begin(user)
	if dec.Admitted() {
		c.Advance(d)
		dec.Done()
	}
	return dec
}

func TestRequestCountBoundary(t *testing.T) {
	c := newClock()
	l := New(Limits{Requests: 5, Window: 60 * time.Second}, c.Now)
	for i := 1; i <= 5; i++ {
		d := run(t, l, c, "u", 0)
		if !d.Admitted() {
			t.Fatalf("request %d refused by %v; want admitted (limit 5)", i, d.Refused)
		}
		if want := int64(5 - i); d.BurstRemaining != want {
			t.Errorf("request %d: burst remaining %d, want %d", i, d.BurstRemaining, want)
		}
	}
	d := run(t, l, c, "u", 0)
	if d.Refused != RequestCount {
		t.Fatalf("request 6: refused by %v, want %v", d.Refused, RequestCount)
	}
	if d.RetryAfter != 60*time.Second {
		t.Errorf("Retry-After %v, want 60s", d.RetryAfter)
	}
	if d.BurstRemaining != 0 {
		t.Errorf("burst remaining %d, want 0", d.BurstRemaining)
	}
	if got, want := l.Limits().Message(RequestCount), "Number of requests exceeded the limit of 5 over time window of 60 seconds."; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if RequestCount.Code() != "0x80072322" {
		t.Errorf("code %s", RequestCount.Code())
	}
}

func TestRetryAfterAccuracy(t *testing.T) {
	c := newClock()
	l := New(Limits{Requests: 3, Window: 60 * time.Second}, c.Now)
	for i := 0; i < 3; i++ {
		run(t, l, c, "u", 0)
	}
	c.Advance(10*time.Second + 500*time.Millisecond)
	d := run(t, l, c, "u", 0)
	if d.Refused != RequestCount {
		t.Fatalf("refused by %v", d.Refused)
	}
	// The window frees a slot 60 s after the first requests: 49.5 s from now.
	real := 49500 * time.Millisecond
	if diff := d.RetryAfter - real; diff < 0 || diff > time.Second {
		t.Fatalf("Retry-After %v, real remaining %v: want within one second above", d.RetryAfter, real)
	}
	// Waiting exactly as told admits the next request, and not earlier.
	c.Advance(d.RetryAfter - 600*time.Millisecond)
	if d := l.Begin("u"); d.Admitted() {
		t.Fatalf("admitted %v before Retry-After ended", 600*time.Millisecond)
	}
	c.Advance(600 * time.Millisecond)
	if d := run(t, l, c, "u", 0); !d.Admitted() {
		t.Fatalf("refused by %v after waiting Retry-After (%v)", d.Refused, d.RetryAfter)
	}
}

func TestPenaltyExtension(t *testing.T) {
	c := newClock()
	l := New(Limits{Requests: 3, Window: 60 * time.Second}, c.Now)
	for i := 0; i < 3; i++ {
		run(t, l, c, "u", 0)
	}
	c.Advance(10 * time.Second)
	first := run(t, l, c, "u", 0)
	if first.Refused != RequestCount || first.RetryAfter != 50*time.Second {
		t.Fatalf("first refusal %v after %v; want requests, 50s", first.Refused, first.RetryAfter)
	}
	// A client that keeps hammering during the penalty extends it.
	c.Advance(10 * time.Second)
	var last Decision
	for i := 0; i < 3; i++ {
		last = run(t, l, c, "u", 0)
		if last.Admitted() {
			t.Fatalf("hammering request %d admitted during the penalty", i)
		}
	}
	if last.RetryAfter <= 40*time.Second {
		t.Fatalf("Retry-After %v after hammering: the penalty was not extended (would end in 40s)", last.RetryAfter)
	}
	if last.RetryAfter != 60*time.Second {
		t.Errorf("Retry-After %v, want 60s (the hammering requests must leave the window)", last.RetryAfter)
	}
	// When the original penalty would have ended, the user is still refused.
	c.Advance(40 * time.Second)
	if d := l.Begin("u"); d.Admitted() {
		t.Fatal("admitted at the end of the original penalty despite hammering")
	}
	// A client that waits as told is admitted on time: a fresh user in
	// the same state that does not hammer.
	c2 := newClock()
	l2 := New(Limits{Requests: 3, Window: 60 * time.Second}, c2.Now)
	for i := 0; i < 3; i++ {
		run(t, l2, c2, "u", 0)
	}
	c2.Advance(10 * time.Second)
	d := run(t, l2, c2, "u", 0)
	c2.Advance(d.RetryAfter)
	if d := run(t, l2, c2, "u", 0); !d.Admitted() {
		t.Fatalf("a client that waited Retry-After was refused by %v", d.Refused)
	}
}

func TestExecutionTimeBoundary(t *testing.T) {
	c := newClock()
	l := New(Limits{ExecutionTime: 12 * time.Second, Window: 60 * time.Second}, c.Now)
	// 11.999 s used: the next request is admitted.
	for _, d := range []time.Duration{4 * time.Second, 4 * time.Second, 3999 * time.Millisecond} {
		if dec := run(t, l, c, "u", d); !dec.Admitted() {
			t.Fatalf("request of %v refused by %v", d, dec.Refused)
		}
	}
	d := run(t, l, c, "u", time.Millisecond) // takes the total to exactly 12 s
	if !d.Admitted() {
		t.Fatalf("request at 11.999 s used refused by %v", d.Refused)
	}
	if d.TimeRemaining != time.Millisecond {
		t.Errorf("time remaining %v, want 1ms", d.TimeRemaining)
	}
	d = run(t, l, c, "u", 0)
	if d.Refused != ExecutionTime {
		t.Fatalf("request at 12 s used: refused by %v, want %v", d.Refused, ExecutionTime)
	}
	if d.TimeRemaining != 0 {
		t.Errorf("time remaining %v, want 0", d.TimeRemaining)
	}
	// The first request's 4 s were recorded when it ended (t=4); they leave
	// the window at t=64, 52 s from now (t=12).
	if d.RetryAfter != 52*time.Second {
		t.Errorf("Retry-After %v, want 52s", d.RetryAfter)
	}
	want := "Combined execution time of incoming requests exceeded limit of 12,000  milliseconds over time window of 60 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."
	if got := l.Limits().Message(ExecutionTime); got != want {
		t.Errorf("message\n%q, want\n%q", got, want)
	}
	c.Advance(d.RetryAfter)
	if d := run(t, l, c, "u", 0); !d.Admitted() {
		t.Fatalf("refused by %v after Retry-After", d.Refused)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	c := newClock()
	l := New(Limits{Concurrent: 2}, c.Now)
	a, b := l.Begin("u"), l.Begin("u")
	if !a.Admitted() || !b.Admitted() {
		t.Fatal("the first two concurrent requests must be admitted")
	}
	d := l.Begin("u")
	if d.Refused != Concurrency || d.RetryAfter != time.Second {
		t.Fatalf("third concurrent request: %v after %v; want concurrency, 1s", d.Refused, d.RetryAfter)
	}
	if got, want := l.Limits().Message(Concurrency), "Number of concurrent requests exceeded the limit of 2."; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	// No penalty: as soon as one ends, the next is admitted.
	a.Done()
	if d := l.Begin("u"); !d.Admitted() {
		t.Fatalf("refused by %v after a request ended", d.Refused)
	}
}

func TestConcurrencyParallel(t *testing.T) {
	l := New(Limits{Concurrent: 7}, nil)
	const n = 64
	var admitted, refused atomic.Int32
	var start, hold sync.WaitGroup
	start.Add(1)
	hold.Add(1)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			d := l.Begin("u")
			if d.Admitted() {
				admitted.Add(1)
				hold.Wait()
				d.Done()
			} else {
				refused.Add(1)
			}
		}()
	}
	start.Done()
	for admitted.Load()+refused.Load() < n {
		time.Sleep(time.Millisecond)
	}
	hold.Done()
	wg.Wait()
	if admitted.Load() != 7 || refused.Load() != n-7 {
		t.Fatalf("admitted %d, refused %d; want 7 and %d", admitted.Load(), refused.Load(), n-7)
	}
}

func TestIndependentUsers(t *testing.T) {
	c := newClock()
	l := New(Limits{Requests: 2, Window: 60 * time.Second}, c.Now)
	run(t, l, c, "a", 0)
	run(t, l, c, "a", 0)
	if d := run(t, l, c, "a", 0); d.Admitted() {
		t.Fatal("a: third request admitted")
	}
	for i := 0; i < 2; i++ {
		if d := run(t, l, c, "b", 0); !d.Admitted() {
			t.Fatalf("b: request %d refused by %v while a is throttled", i+1, d.Refused)
		}
	}
	if l.Users() != 2 {
		t.Errorf("users %d, want 2", l.Users())
	}
}

func TestIdleUsersForgotten(t *testing.T) {
	c := newClock()
	l := New(Limits{Window: 60 * time.Second}, c.Now)
	for _, u := range []string{"a", "b", "c"} {
		run(t, l, c, u, 0)
	}
	if l.Users() != 3 {
		t.Fatalf("users %d, want 3", l.Users())
	}
	// After the window and a quarter, any request sweeps idle users of its
	// shard; every shard is swept once touched.
	c.Advance(76 * time.Second)
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		l.sweep(sh, c.Now().UnixNano())
		sh.mu.Unlock()
	}
	if l.Users() != 0 {
		t.Fatalf("users %d after the window, want 0", l.Users())
	}
	if d := run(t, l, c, "a", 0); !d.Admitted() || d.BurstRemaining != 5999 {
		t.Fatalf("a after being forgotten: %+v", d)
	}
}

func TestWindowSlides(t *testing.T) {
	c := newClock()
	l := New(Limits{Requests: 4, Window: 10 * time.Second}, c.Now)
	// Two requests at t=0, two at t=5: the fifth at t=9 is refused; at
	// t=10 the first two left, so two more fit, then refused until t=15.
	run(t, l, c, "u", 0)
	run(t, l, c, "u", 0)
	c.Advance(5 * time.Second)
	run(t, l, c, "u", 0)
	run(t, l, c, "u", 0)
	c.Advance(4 * time.Second)
	if d := run(t, l, c, "u", 0); d.Refused != RequestCount || d.RetryAfter != time.Second {
		t.Fatalf("t=9: %v after %v, want requests after 1s", d.Refused, d.RetryAfter)
	}
	c.Advance(time.Second)
	// t=10: the refused request at t=9 also counts: one slot.
	if d := run(t, l, c, "u", 0); !d.Admitted() {
		t.Fatalf("t=10: refused by %v", d.Refused)
	}
	if d := run(t, l, c, "u", 0); d.Admitted() || d.RetryAfter != 5*time.Second {
		t.Fatalf("t=10 second request: admitted %v retry %v, want refused for 5s", d.Admitted(), d.RetryAfter)
	}
}

func TestDisabledLimits(t *testing.T) {
	c := newClock()
	l := New(Limits{Requests: -1, ExecutionTime: -1, Concurrent: -1}, c.Now)
	for i := 0; i < 10000; i++ {
		if d := l.Begin("u"); !d.Admitted() {
			t.Fatalf("request %d refused by %v with limits off", i, d.Refused)
		}
	}
	if d := l.Begin("u"); d.BurstRemaining != -1 || d.TimeRemaining != -1 {
		t.Errorf("remaining %d %v with limits off, want -1", d.BurstRemaining, d.TimeRemaining)
	}
}

func TestDefaults(t *testing.T) {
	l := New(Limits{}, nil)
	lim := l.Limits()
	if lim.Requests != 6000 || lim.ExecutionTime != 1200*time.Second || lim.Concurrent != 52 || lim.Window != 300*time.Second {
		t.Fatalf("defaults %+v", lim)
	}
	if lim.DOPHint < 1 || lim.DOPHint > 52 {
		t.Errorf("dop hint %d", lim.DOPHint)
	}
	for k, want := range map[Kind]string{
		RequestCount:  "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
		ExecutionTime: "Combined execution time of incoming requests exceeded limit of 1,200,000  milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
		Concurrency:   "Number of concurrent requests exceeded the limit of 52.",
	} {
		if got := lim.Message(k); got != want {
			t.Errorf("%v message %q, want %q", k, got, want)
		}
	}
	for k, want := range map[Kind]string{RequestCount: "0x80072322", ExecutionTime: "0x80072321", Concurrency: "0x80072326"} {
		if k.Code() != want {
			t.Errorf("%v code %s, want %s", k, k.Code(), want)
		}
	}
	d := l.Begin("u")
	if d.BurstRemaining != 5999 || FormatSeconds(d.TimeRemaining) != "1,200.00" {
		t.Errorf("first request: burst %d time %s", d.BurstRemaining, FormatSeconds(d.TimeRemaining))
	}
}

func TestFormatSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1200 * time.Second:         "1,200.00",
		1199460 * time.Millisecond: "1,199.46",
		1199469 * time.Millisecond: "1,199.46",
		0:                          "0.00",
		-time.Second:               "0.00",
		999990 * time.Millisecond:  "999.99",
		1234567 * time.Second:      "1,234,567.00",
		50 * time.Millisecond:      "0.05",
	} {
		if got := FormatSeconds(d); got != want {
			t.Errorf("FormatSeconds(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseLimits(t *testing.T) {
	l, err := ParseLimits("requests=100, execution-time=60s,concurrent=4,window=30s,dop-hint=3")
	if err != nil {
		t.Fatal(err)
	}
	if l != (Limits{Requests: 100, ExecutionTime: 60 * time.Second, Concurrent: 4, Window: 30 * time.Second, DOPHint: 3}) {
		t.Fatalf("%+v", l)
	}
	if back, _ := ParseLimits(l.String()); back != l {
		t.Errorf("String round trip: %q → %+v", l.String(), back)
	}
	for _, bad := range []string{"requests", "requests=x", "speed=3", "window=10ms", "execution-time=1"} {
		if _, err := ParseLimits(bad); err == nil {
			t.Errorf("ParseLimits(%q) accepted", bad)
		}
	}
	m, err := ParseEnvLimits("Contoso:requests=10;fabrikam:concurrent=2,window=60s; ")
	if err != nil {
		t.Fatal(err)
	}
	if m["contoso"].Requests != 10 || m["fabrikam"].Concurrent != 2 || m["fabrikam"].Window != time.Minute || len(m) != 2 {
		t.Fatalf("%+v", m)
	}
	if _, err := ParseEnvLimits("requests=10"); err == nil {
		t.Error("ParseEnvLimits without an environment name accepted")
	}
	merged := Limits{Requests: 10}.Merge(Limits{Requests: 50, Concurrent: 3})
	if merged.Requests != 10 || merged.Concurrent != 3 {
		t.Errorf("Merge %+v", merged)
	}
}
