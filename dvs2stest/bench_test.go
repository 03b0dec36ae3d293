package dvs2stest_test

import (
	"context"
	"testing"

	"github.com/dvs2s/dvs2s/dvs2stest"
)

// BenchmarkStart measures what each test pays for its stack: Start with
// the process's template data directory already built (the first Start
// of a process builds it, as BenchmarkStartWithoutTemplate).
func BenchmarkStart(b *testing.B) {
	benchStart(b, nil)
}

// BenchmarkStartFirstCall is Start plus the first call of a test: a token
// (client credentials) and WhoAmI, over new HTTPS connections.
func BenchmarkStartFirstCall(b *testing.B) {
	benchStart(b, func(s *dvs2stest.Stack) {
		if _, err := s.Client.WhoAmI(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkStartWithoutTemplate is the baseline: a first start on an
// empty data directory (new keys, password hashes, environment database).
func BenchmarkStartWithoutTemplate(b *testing.B) {
	benchStart(b, nil, dvs2stest.WithoutTemplate())
}

// benchStart times New with opts, then use (if not nil); not Close.
func benchStart(b *testing.B, use func(*dvs2stest.Stack), opts ...dvs2stest.Option) {
	ctx := context.Background()
	warm, err := dvs2stest.New(ctx) // builds the template outside the timing
	if err != nil {
		b.Fatal(err)
	}
	warm.Close()
	for b.Loop() {
		s, err := dvs2stest.New(ctx, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if use != nil {
			use(s)
		}
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
