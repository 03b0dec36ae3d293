package identity

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store/sqlite"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newRing(t *testing.T, path string, clk *fakeClock) *keyRing {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	k, _ := secret.NewKeys(make([]byte, 32))
	return &keyRing{st: db, seal: k, period: 10 * 24 * time.Hour, overlap: 24 * time.Hour, now: clk.now}
}

func kids(ks []*signingKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.kid)
	}
	return out
}

// TestKeyRotation walks a key ring through two rotations: a new key is
// published an overlap before it signs, and the old one stays published an
// overlap after it stops.
func TestKeyRotation(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ring := newRing(t, filepath.Join(t.TempDir(), "db"), clk)
	ctx := context.Background()
	if err := ring.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := ring.active()
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(ring.published()); len(got) != 1 {
		t.Fatalf("published %v, want one key", got)
	}

	// Just before rotation time nothing changes.
	clk.add(9*24*time.Hour - time.Minute)
	ring.refresh(ctx)
	if len(ring.published()) != 1 {
		t.Fatal("rotated too early")
	}
	// At period - overlap a second key is published but the first still signs.
	clk.add(2 * time.Minute)
	ring.refresh(ctx)
	if n := len(ring.published()); n != 2 {
		t.Fatalf("published %d keys after rotation, want 2", n)
	}
	if a, _ := ring.active(); a.kid != first.kid {
		t.Fatal("new key signs before the overlap ended")
	}
	// After the overlap the new key signs; the old one is still published.
	clk.add(24 * time.Hour)
	ring.refresh(ctx)
	second, _ := ring.active()
	if second.kid == first.kid {
		t.Fatal("new key does not sign after the overlap")
	}
	if !strings.Contains(strings.Join(kids(ring.published()), ","), first.kid) {
		t.Fatal("old key unpublished too early")
	}
	// An overlap later, the old key is gone.
	clk.add(24*time.Hour + time.Minute)
	ring.refresh(ctx)
	if strings.Contains(strings.Join(kids(ring.published()), ","), first.kid) {
		t.Fatal("old key still published after its overlap")
	}
}

// TestKeyRotationShared shows two instances on one database agree on keys:
// starting together or rotating together, they create one key, not two.
func TestKeyRotationShared(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "db")
	a, b := newRing(t, path, clk), newRing(t, path, clk)
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, r := range []*keyRing{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); r.refresh(ctx) }()
	}
	wg.Wait()
	a.refresh(ctx)
	b.refresh(ctx)
	ka, _ := a.active()
	kb, _ := b.active()
	if ka == nil || kb == nil || ka.kid != kb.kid || len(a.published()) != 1 {
		t.Fatalf("instances disagree: %v vs %v", kids(a.published()), kids(b.published()))
	}
	clk.add(9*24*time.Hour + time.Hour)
	for _, r := range []*keyRing{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); r.refresh(ctx) }()
	}
	wg.Wait()
	a.refresh(ctx)
	b.refresh(ctx)
	if len(a.published()) != 2 || strings.Join(kids(a.published()), ",") != strings.Join(kids(b.published()), ",") {
		t.Fatalf("after rotation: %v vs %v", kids(a.published()), kids(b.published()))
	}
}

// TestSignVerifies checks the JWS the ring produces verifies with the
// published key and carries kid (and x5t for v1).
func TestSignVerifies(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	ring := newRing(t, filepath.Join(t.TempDir(), "db"), clk)
	if err := ring.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, v1 := range []bool{true, false} {
		tok, err := ring.sign(map[string]any{"a": 1}, v1)
		if err != nil {
			t.Fatal(err)
		}
		j, err := parseJWS(tok)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := ring.active()
		if j.header.Kid != k.kid || (j.header.X5t == k.kid) != v1 || j.header.Alg != "RS256" || j.header.Typ != "JWT" {
			t.Fatalf("v1=%v header %+v", v1, j.header)
		}
		sum := sha256.Sum256(j.signed)
		if err := rsa.VerifyPKCS1v15(&k.key.PublicKey, crypto.SHA256, sum[:], j.signature); err != nil {
			t.Fatal(err)
		}
		if _, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1]); err != nil {
			t.Fatal("payload is not unpadded base64url")
		}
	}
}
