package dataverse

import (
	"context"
	"sync"
)

// limiter bounds the number of requests in flight. Its limit can change at
// any time (x-ms-dop-hint); a lowered limit takes effect as requests
// finish. A limit of 0 means unlimited.
type limiter struct {
	mu      sync.Mutex
	limit   int
	active  int
	waiters []chan struct{}
}

func newLimiter(limit int) *limiter { return &limiter{limit: limit} }

// acquire waits for a slot, or for ctx to end.
func (l *limiter) acquire(ctx context.Context) error {
	l.mu.Lock()
	if (l.limit <= 0 || l.active < l.limit) && len(l.waiters) == 0 {
		l.active++
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		for i, w := range l.waiters {
			if w == ch {
				l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
				l.mu.Unlock()
				return ctx.Err()
			}
		}
		l.mu.Unlock()
		// The slot was granted while ctx ended: give it back.
		l.release()
		return ctx.Err()
	}
}

// release frees a slot and hands free slots to waiters in order.
func (l *limiter) release() {
	l.mu.Lock()
	l.active--
	l.wake()
	l.mu.Unlock()
}

// setLimit changes the limit (0: unlimited).
func (l *limiter) setLimit(n int) {
	l.mu.Lock()
	if n != l.limit {
		l.limit = n
		l.wake()
	}
	l.mu.Unlock()
}

func (l *limiter) wake() {
	for len(l.waiters) > 0 && (l.limit <= 0 || l.active < l.limit) {
		ch := l.waiters[0]
		l.waiters = l.waiters[1:]
		l.active++
		close(ch)
	}
}

func (l *limiter) get() (limit, active int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit, l.active
}
