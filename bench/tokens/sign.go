package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs2s/dvs2s/bench/internal/benchkit"
)

// signResult is one signing phase.
type signResult struct {
	n       int64
	seconds float64
	rate    float64 // signatures per second
	cpu     float64 // CPU seconds this process used meanwhile, -1 if unknown
}

var (
	signKeyOnce sync.Once
	signKey     *rsa.PrivateKey
	signInput   []byte
)

// signRate measures raw RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second
// with runtime.NumCPU() goroutines for d: exactly what the server does once
// per token (keyRing.sign: SHA-256 of the JWS signing input, then
// rsa.SignPKCS1v15 with a precomputed key), over an input of a token's size.
func signRate(ctx context.Context, d time.Duration) signResult {
	signKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		k.Precompute()
		signKey = k
		// A v1 app-only token's signing input is about 900 bytes.
		signInput = []byte(base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("x", 110))) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("y", 560))))
	})
	var stop atomic.Bool
	var total atomic.Int64
	var wg sync.WaitGroup
	cpu0 := benchkit.SelfCPU()
	start := time.Now()
	for range runtime.NumCPU() {
		wg.Go(func() {
			var n int64
			for !stop.Load() {
				sum := sha256.Sum256(signInput)
				if _, err := rsa.SignPKCS1v15(nil, signKey, crypto.SHA256, sum[:]); err != nil {
					panic(err)
				}
				n++
			}
			total.Add(n)
		})
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	sec := time.Since(start).Seconds()
	return signResult{n: total.Load(), seconds: sec, rate: float64(total.Load()) / sec, cpu: benchkit.CPUDelta(cpu0, benchkit.SelfCPU())}
}
