package console

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// Traffic records the Web API requests of this server and its 429
// answers, per environment and per authenticated user (the user the
// service protection limits count: the caller, before impersonation), in
// one-minute buckets over the last hour. The throttling dashboard draws
// it. Like the limits themselves, it is per server: several servers behind
// a load balancer each show their own share.
type Traffic struct {
	now func() time.Time

	mu   sync.Mutex
	envs map[string]map[string]*userTraffic // environment name → user id →
}

// TrafficMinutes is how far back Traffic remembers.
const TrafficMinutes = 60

// maxTrafficUsers bounds the users remembered per environment; the least
// recently active is forgotten first.
const maxTrafficUsers = 1000

type userTraffic struct {
	last    int64 // unix minute of the latest request
	buckets [TrafficMinutes]minuteCount
}

type minuteCount struct {
	minute              int64
	requests, throttled int
}

// NewTraffic returns an empty recorder; now is its clock (nil: time.Now).
func NewTraffic(now func() time.Time) *Traffic {
	if now == nil {
		now = time.Now
	}
	return &Traffic{now: now, envs: map[string]map[string]*userTraffic{}}
}

// Record counts one request of user in env, throttled when status is 429.
func (t *Traffic) Record(env, user string, status int) {
	if env == "" || user == "" {
		return
	}
	min := t.now().Unix() / 60
	t.mu.Lock()
	defer t.mu.Unlock()
	users := t.envs[env]
	if users == nil {
		users = map[string]*userTraffic{}
		t.envs[env] = users
	}
	u := users[user]
	if u == nil {
		if len(users) >= maxTrafficUsers {
			oldest, at := "", int64(1<<62)
			for id, x := range users {
				if x.last < at {
					oldest, at = id, x.last
				}
			}
			delete(users, oldest)
		}
		u = &userTraffic{}
		users[user] = u
	}
	u.last = min
	b := &u.buckets[min%TrafficMinutes]
	if b.minute != min {
		*b = minuteCount{minute: min}
	}
	b.requests++
	if status == http.StatusTooManyRequests {
		b.throttled++
	}
}

// Observe takes the attributes the Web API adds to a request's log line
// (environment, principal) and the response status: the stack's request
// log calls it for every request.
func (t *Traffic) Observe(status int, attrs []slog.Attr) {
	var env, user string
	for _, a := range attrs {
		switch a.Key {
		case "environment":
			env = a.Value.String()
		case "principal":
			user = a.Value.String()
		}
	}
	t.Record(env, user, status)
}

// UserSeries is one user's requests and 429s per minute, oldest first.
type UserSeries struct {
	User                string
	Requests, Throttled []int
	TotalRequests       int
	TotalThrottled      int
}

// Series returns the last hour of env: the start of each minute, and the
// users with requests in it, busiest first.
func (t *Traffic) Series(env string) ([]time.Time, []UserSeries) {
	now := t.now().Unix() / 60
	first := now - TrafficMinutes + 1
	minutes := make([]time.Time, TrafficMinutes)
	for i := range minutes {
		minutes[i] = time.Unix((first+int64(i))*60, 0).UTC()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []UserSeries
	for id, u := range t.envs[env] {
		if u.last < first {
			continue
		}
		s := UserSeries{User: id, Requests: make([]int, TrafficMinutes), Throttled: make([]int, TrafficMinutes)}
		for _, b := range u.buckets {
			if b.minute < first || b.minute > now {
				continue
			}
			i := b.minute - first
			s.Requests[i], s.Throttled[i] = b.requests, b.throttled
			s.TotalRequests += b.requests
			s.TotalThrottled += b.throttled
		}
		if s.TotalRequests > 0 {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b UserSeries) int {
		if a.TotalRequests != b.TotalRequests {
			return b.TotalRequests - a.TotalRequests
		}
		return strings.Compare(a.User, b.User)
	})
	return minutes, out
}

// --- the dashboard ---

// chart is an SVG bar chart of requests per minute with the 429s of each
// minute drawn over them.
type chart struct {
	ID, Label      string
	Width, Height  int
	Bars           []bar
	Max            int
	Ticks          []tick
	TotalRequests  int
	TotalThrottled int
}

type bar struct {
	X, W          int
	ReqY, ReqH    int
	ThrY, ThrH    int
	Title         string
	HasThrottling bool
}

type tick struct {
	X     int
	Label string
}

const (
	chartW      = 600
	chartH      = 120
	chartBottom = 100 // y of the axis; labels below
)

func newChart(id, label string, minutes []time.Time, req, thr []int) chart {
	c := chart{ID: id, Label: label, Width: chartW, Height: chartH}
	for i := range req {
		c.Max = max(c.Max, req[i])
		c.TotalRequests += req[i]
		c.TotalThrottled += thr[i]
	}
	scale := max(c.Max, 1)
	bw := chartW / len(req)
	for i := range req {
		h := req[i] * (chartBottom - 4) / scale
		if req[i] > 0 && h == 0 {
			h = 1
		}
		th := thr[i] * (chartBottom - 4) / scale
		if thr[i] > 0 && th == 0 {
			th = 1
		}
		c.Bars = append(c.Bars, bar{X: i * bw, W: bw - 1, ReqY: chartBottom - h, ReqH: h, ThrY: chartBottom - th, ThrH: th,
			HasThrottling: thr[i] > 0,
			Title:         fmt.Sprintf("%s: %d requests, %d throttled (429)", minutes[i].Format("15:04"), req[i], thr[i])})
	}
	for i := 0; i < len(minutes); i += 15 {
		c.Ticks = append(c.Ticks, tick{X: i * bw, Label: minutes[i].Format("15:04")})
	}
	return c
}

type userChart struct {
	Name, ID, Kind string
	Chart          chart
}

type throttlingData struct {
	Envs      []store.Environment
	Env       string
	Limits    string
	Window    string
	Requests  int
	Total     chart
	Users     []userChart
	Since     time.Time
	HasTraffc bool
}

// throttlingPage shows, for one environment of the tenant, the service
// protection limits and the requests and 429 answers of the last hour,
// for all users and per user.
func (s *Server) throttlingPage(w http.ResponseWriter, r *http.Request, a *admin) {
	ctx := r.Context()
	envs, err := s.tenantEnvs(r, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	v := &view{Title: "Throttling", Nav: "throttling"}
	d := throttlingData{Envs: envs}
	name := r.URL.Query().Get("env")
	if name == "" && len(envs) > 0 {
		name = envs[0].Name
	}
	var sel *store.Environment
	for i := range envs {
		if envs[i].Name == name {
			sel = &envs[i]
		}
	}
	if sel == nil {
		if name != "" && len(envs) > 0 {
			v.Errors = fields{"env": "Choose one of your environments."}
		}
		v.Data = d
		s.render(w, r, a, http.StatusOK, "throttling", v)
		return
	}
	d.Env = sel.Name
	if s.c.Limits != nil {
		l := s.c.Limits(sel.Name)
		d.Limits = fmt.Sprintf("%d requests and %s of execution time per user in a %s sliding window; %d concurrent requests",
			l.Requests, l.ExecutionTime, l.Window, l.Concurrent)
		d.Requests, d.Window = l.Requests, l.Window.String()
	}
	if s.c.Traffic != nil {
		minutes, users := s.c.Traffic.Series(sel.Name)
		d.Since = minutes[0]
		total := make([]int, len(minutes))
		thr := make([]int, len(minutes))
		env, err := s.c.Envs.Open(ctx, sel.Name)
		if err != nil {
			s.fail(w, r, a, err)
			return
		}
		ut := env.Schema().Table(schema.TableSystemUser)
		for i, u := range users {
			for j := range minutes {
				total[j] += u.Requests[j]
				thr[j] += u.Throttled[j]
			}
			if i >= 25 {
				continue // the busiest 25 get their own chart
			}
			uc := userChart{ID: u.User, Name: u.User, Kind: "User"}
			if row, err := env.Data.Get(ctx, ut, u.User, []string{"fullname", "applicationid"}); err == nil {
				uc.Name = rowStr(row, "fullname")
				if rowStr(row, "applicationid") != "" {
					uc.Kind = "Application user"
				}
			}
			uc.Chart = newChart("u"+itoa(i), uc.Name, minutes, u.Requests, u.Throttled)
			d.Users = append(d.Users, uc)
		}
		d.Total = newChart("all", "All users", minutes, total, thr)
		d.HasTraffc = len(users) > 0
	}
	v.Data = d
	s.render(w, r, a, http.StatusOK, "throttling", v)
}
