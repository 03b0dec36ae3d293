package throttle

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Benchmarks of the limiter alone (docs/benchmarks.md, "Service protection
// limits"): one request (Begin and Done) with one user and with 100,000
// users tracked, in parallel, the memory per tracked user, and the cost of
// tracking 100,000 distinct users.

func userKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = uuid.NewString() // systemuserids, as the Web API passes them
	}
	return keys
}

// BenchmarkRequest is the limiter's work for one admitted request:
// Begin, then Done.
func BenchmarkRequest(b *testing.B) {
	for _, n := range []int{1, 100_000} {
		b.Run("users="+strconv.Itoa(n), func(b *testing.B) {
			l := New(Limits{Requests: -1, ExecutionTime: -1}, nil)
			keys := userKeys(n)
			for _, k := range keys {
				d := l.Begin(k)
				d.Done()
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				d := l.Begin(keys[i%n])
				d.Done()
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkRequestParallel is BenchmarkRequest from GOMAXPROCS goroutines,
// each its own user (the shards keep them apart).
func BenchmarkRequestParallel(b *testing.B) {
	l := New(Limits{Requests: -1, ExecutionTime: -1}, nil)
	keys := userKeys(1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		k := keys[int(time.Now().UnixNano())%len(keys)]
		for pb.Next() {
			d := l.Begin(k)
			d.Done()
		}
	})
}

// BenchmarkTrack100kUsers tracks 100,000 distinct users (one request
// each) in a new limiter per iteration: the time per new user and the
// heap each tracked user holds.
func BenchmarkTrack100kUsers(b *testing.B) {
	const n = 100_000
	keys := userKeys(n)
	var bytesPerUser float64
	var cpuTimed time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cpu := processCPU()
		b.StartTimer()
		l := New(Limits{}, nil)
		for _, k := range keys {
			d := l.Begin(k)
			d.Done()
		}
		b.StopTimer()
		if end := processCPU(); cpu >= 0 && end >= 0 && cpuTimed >= 0 {
			cpuTimed += end - cpu
		} else {
			cpuTimed = -1
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if l.Users() != n {
			b.Fatalf("%d users tracked", l.Users())
		}
		bytesPerUser = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(l)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/user")
	if cpuTimed >= 0 {
		b.ReportMetric(float64(cpuTimed.Nanoseconds())/float64(b.N)/n, "cpu-ns/user")
	}
	b.ReportMetric(bytesPerUser, "B/user")
	b.ReportMetric(bytesPerUser*n/(1<<20), "MiB/100k-users")
}

// BenchmarkBusyUserMemory is the heap of one user whose window is full:
// a request in every second of the default 300-second window.
func BenchmarkBusyUserMemory(b *testing.B) {
	var bytes float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		t := time.Unix(1_700_000_000, 0)
		l := New(Limits{}, func() time.Time { return t })
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for s := 0; s < 300; s++ {
			d := l.Begin("u")
			d.Done()
			t = t.Add(time.Second)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		bytes = float64(after.HeapAlloc - before.HeapAlloc)
		runtime.KeepAlive(l)
		b.StartTimer()
	}
	b.ReportMetric(bytes, "B/busy-user")
}

// BenchmarkSweep100kUsers is the cost of forgetting 100,000 idle users:
// every shard's sweep once the window has passed.
func BenchmarkSweep100kUsers(b *testing.B) {
	keys := userKeys(100_000)
	var cpuTimed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		t := time.Unix(1_700_000_000, 0)
		l := New(Limits{}, func() time.Time { return t })
		for _, k := range keys {
			d := l.Begin(k)
			d.Done()
		}
		t = t.Add(time.Hour)
		now := t.UnixNano()
		runtime.GC() // the set-up's garbage is not the sweep's
		cpu := processCPU()
		b.StartTimer()
		for s := range l.shards {
			sh := &l.shards[s]
			sh.mu.Lock()
			l.sweep(sh, now)
			sh.mu.Unlock()
		}
		b.StopTimer()
		cpuTimed += processCPU() - cpu
		if l.Users() != 0 {
			b.Fatalf("%d users left", l.Users())
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(cpuTimed.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// reportCPU reports the process CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	if end := processCPU(); start >= 0 && end >= 0 {
		b.ReportMetric(float64((end-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
