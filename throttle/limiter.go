package throttle

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

const nShards = 64

// Limiter enforces one set of limits (one environment's) on the users of
// one server instance. It is safe for concurrent use.
type Limiter struct {
	lim    Limits
	window int64 // nanoseconds
	now    func() time.Time
	seed   maphash.Seed
	shards [nShards]shard
	users  atomic.Int64
}

type shard struct {
	mu        sync.Mutex
	users     map[string]*user
	nextSweep int64
	_         [24]byte // keep shards on separate cache lines
}

// user is one user's window. Its fields are guarded by its shard's mutex.
type user struct {
	buckets  []bucket // oldest first; one per second with activity
	count    int64    // requests in the window (sum of buckets)
	exec     int64    // execution time in the window, ns (sum of buckets)
	inflight int32
	reason   Kind      // limit of the current penalty
	until    int64     // end of the current penalty (unix ns); 0: none
	inline   [1]bucket // storage of the first bucket: one allocation per user
}

type bucket struct {
	sec   int64 // unix second the bucket covers
	count int64
	exec  int64 // ns
}

// New returns a Limiter for l (zero fields take the defaults); now is the
// clock (nil: time.Now), which also measures execution time.
func New(l Limits, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l = l.normalize()
	lm := &Limiter{lim: l, window: int64(l.Window), now: now, seed: maphash.MakeSeed()}
	for i := range lm.shards {
		lm.shards[i].users = map[string]*user{}
	}
	return lm
}

// Limits returns the limiter's effective limits.
func (l *Limiter) Limits() Limits { return l.lim }

// Users returns the number of users tracked: those with requests in the
// window, in flight or under a penalty (idle ones are forgotten lazily,
// within a quarter window).
func (l *Limiter) Users() int { return int(l.users.Load()) }

// Decision is the outcome of Begin.
type Decision struct {
	// Refused is the limit that refused the request; None if admitted.
	Refused Kind
	// RetryAfter is how long the client must wait (whole seconds, at
	// least one) when refused.
	RetryAfter time.Duration
	// BurstRemaining is the number of requests left in the window.
	BurstRemaining int64
	// TimeRemaining is the execution time left in the window.
	TimeRemaining time.Duration

	l     *Limiter
	u     *user
	sh    *shard
	start int64
}

// Begin evaluates a request of user key. When the request is admitted,
// the caller must call Done once it has finished.
func (l *Limiter) Begin(key string) Decision {
	now := l.now().UnixNano()
	sh := &l.shards[maphash.String(l.seed, key)%nShards]
	sh.mu.Lock()
	if now >= sh.nextSweep {
		l.sweep(sh, now)
	}
	u := sh.users[key]
	if u == nil {
		u = &user{}
		sh.users[key] = u
		l.users.Add(1)
	}
	l.prune(u, now)
	d := Decision{l: l, sh: sh, start: now}
	lim := &l.lim
	switch {
	case lim.Concurrent >= 0 && u.inflight >= int32(lim.Concurrent):
		// Refused at once, without a penalty (reference §3.1).
		d.Refused = Concurrency
		d.RetryAfter = time.Second
		l.record(u, now, 1, 0)
	case now < u.until:
		// Under a penalty: refused, and the refused request counts.
		d.Refused = u.reason
		l.record(u, now, 1, 0)
		if t := l.admitAt(u, now); t > u.until {
			u.until = t
		}
		d.RetryAfter = retryAfter(u.until - now)
	case lim.Requests >= 0 && u.count >= int64(lim.Requests),
		lim.ExecutionTime >= 0 && u.exec >= int64(lim.ExecutionTime):
		d.Refused = RequestCount
		if lim.Requests < 0 || u.count < int64(lim.Requests) {
			d.Refused = ExecutionTime
		}
		l.record(u, now, 1, 0)
		u.reason, u.until = d.Refused, l.admitAt(u, now)
		d.RetryAfter = retryAfter(u.until - now)
	default:
		u.inflight++
		d.u = u
		l.record(u, now, 1, 0)
	}
	d.BurstRemaining = max(int64(lim.Requests)-u.count, 0)
	d.TimeRemaining = time.Duration(max(int64(lim.ExecutionTime)-u.exec, 0))
	if lim.Requests < 0 {
		d.BurstRemaining = -1
	}
	if lim.ExecutionTime < 0 {
		d.TimeRemaining = -1
	}
	sh.mu.Unlock()
	return d
}

// Done records an admitted request's execution time and ends it. It does
// nothing for a refused request, and must be called once.
func (d *Decision) Done() time.Duration {
	u := d.u
	if u == nil {
		return 0
	}
	d.u = nil
	now := d.l.now().UnixNano()
	exec := max(now-d.start, 0)
	d.sh.mu.Lock()
	u.inflight--
	d.l.record(u, now, 0, exec)
	d.sh.mu.Unlock()
	return time.Duration(exec)
}

// Admitted reports whether the request may run.
func (d *Decision) Admitted() bool { return d.Refused == None }

func retryAfter(ns int64) time.Duration {
	s := (ns + int64(time.Second) - 1) / int64(time.Second)
	return time.Duration(max(s, 1)) * time.Second
}

// record adds requests and execution time at now.
func (l *Limiter) record(u *user, now, count, exec int64) {
	sec := now / int64(time.Second)
	if n := len(u.buckets); n > 0 && u.buckets[n-1].sec >= sec {
		// Same second (or a clock that went back): the newest bucket.
		u.buckets[n-1].count += count
		u.buckets[n-1].exec += exec
	} else {
		if u.buckets == nil {
			u.buckets = u.inline[:0]
		}
		u.buckets = append(u.buckets, bucket{sec: sec, count: count, exec: exec})
	}
	u.count += count
	u.exec += exec
}

// prune drops the buckets that slid out of the window: a bucket leaves
// the window Window after the start of its second.
func (l *Limiter) prune(u *user, now int64) {
	k := 0
	for k < len(u.buckets) && u.buckets[k].sec*int64(time.Second)+l.window <= now {
		u.count -= u.buckets[k].count
		u.exec -= u.buckets[k].exec
		k++
	}
	if k == 0 {
		return
	}
	n := copy(u.buckets, u.buckets[k:])
	u.buckets = u.buckets[:n]
	if n == 0 && cap(u.buckets) > 4 {
		u.buckets = nil // a burst is over: give its memory back
	}
}

// admitAt is the earliest time (≥ now) at which the window will admit a
// request, if nothing more arrives.
func (l *Limiter) admitAt(u *user, now int64) int64 {
	at := now
	lim := &l.lim
	if lim.Requests >= 0 && u.count >= int64(lim.Requests) {
		need := u.count - int64(lim.Requests) + 1 // requests that must leave
		for _, b := range u.buckets {
			need -= b.count
			if need <= 0 {
				at = max(at, b.sec*int64(time.Second)+l.window)
				break
			}
		}
	}
	if lim.ExecutionTime >= 0 && u.exec >= int64(lim.ExecutionTime) {
		left := u.exec
		for _, b := range u.buckets {
			left -= b.exec
			if left < int64(lim.ExecutionTime) {
				at = max(at, b.sec*int64(time.Second)+l.window)
				break
			}
		}
	}
	return at
}

// sweep forgets the shard's idle users.
func (l *Limiter) sweep(sh *shard, now int64) {
	sh.nextSweep = now + l.window/4
	for k, u := range sh.users {
		l.prune(u, now)
		if len(u.buckets) == 0 && u.inflight == 0 && now >= u.until {
			delete(sh.users, k)
			l.users.Add(-1)
		}
	}
}
