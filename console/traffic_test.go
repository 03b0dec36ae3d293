package console

import (
	"log/slog"
	"net/http"
	"testing"
	"time"
)

func TestTraffic(t *testing.T) {
	now := time.Date(2026, 1, 2, 10, 0, 30, 0, time.UTC)
	tr := NewTraffic(func() time.Time { return now })
	tr.Observe(http.StatusOK, []slog.Attr{slog.String("environment", "contoso"), slog.String("principal", "u1")})
	tr.Observe(http.StatusTooManyRequests, []slog.Attr{slog.String("environment", "contoso"), slog.String("principal", "u1")})
	tr.Observe(http.StatusOK, []slog.Attr{slog.String("path", "/x")}) // not a Web API request
	now = now.Add(2 * time.Minute)
	tr.Record("contoso", "u2", http.StatusOK)
	tr.Record("contoso", "u2", http.StatusOK)
	tr.Record("contoso", "u2", http.StatusOK)

	minutes, users := tr.Series("contoso")
	if len(minutes) != TrafficMinutes || !minutes[len(minutes)-1].Equal(time.Date(2026, 1, 2, 10, 2, 0, 0, time.UTC)) {
		t.Fatalf("minutes %v … %v", minutes[0], minutes[len(minutes)-1])
	}
	if len(users) != 2 || users[0].User != "u2" || users[0].TotalRequests != 3 || users[1].TotalRequests != 2 || users[1].TotalThrottled != 1 {
		t.Fatalf("users %+v", users)
	}
	if users[1].Requests[TrafficMinutes-3] != 2 || users[1].Throttled[TrafficMinutes-3] != 1 {
		t.Fatalf("u1 per minute: %v", users[1].Requests[TrafficMinutes-5:])
	}
	// An hour later the old minutes are gone, and a reused bucket starts
	// from zero.
	now = now.Add(TrafficMinutes * time.Minute)
	if _, users := tr.Series("contoso"); len(users) != 0 {
		t.Fatalf("after an hour: %+v", users)
	}
	tr.Record("contoso", "u1", http.StatusOK)
	if _, users := tr.Series("contoso"); len(users) != 1 || users[0].TotalRequests != 1 || users[0].TotalThrottled != 0 {
		t.Fatalf("reused bucket: %+v", users)
	}
	if _, users := tr.Series("other"); len(users) != 0 {
		t.Fatal("another environment has traffic")
	}
}

func TestTrafficBoundsUsers(t *testing.T) {
	now := time.Unix(0, 0)
	tr := NewTraffic(func() time.Time { return now })
	for i := range maxTrafficUsers + 10 {
		now = now.Add(time.Minute)
		tr.Record("e", itoa(i), http.StatusOK)
	}
	if n := len(tr.envs["e"]); n != maxTrafficUsers {
		t.Fatalf("%d users kept", n)
	}
	if _, ok := tr.envs["e"]["0"]; ok {
		t.Fatal("the least recent user was kept")
	}
}

func TestNewChart(t *testing.T) {
	minutes := make([]time.Time, TrafficMinutes)
	req, thr := make([]int, TrafficMinutes), make([]int, TrafficMinutes)
	req[59], thr[59], req[10] = 100, 40, 1
	c := newChart("x", "X", minutes, req, thr)
	if c.Max != 100 || c.TotalRequests != 101 || c.TotalThrottled != 40 || len(c.Bars) != TrafficMinutes {
		t.Fatalf("%+v", c)
	}
	if b := c.Bars[59]; b.ReqH != chartBottom-4 || b.ThrH != 40*(chartBottom-4)/100 || !b.HasThrottling {
		t.Fatalf("busiest bar %+v", b)
	}
	if b := c.Bars[10]; b.ReqH != 1 {
		t.Fatalf("a small bar is invisible: %+v", b)
	}
}
