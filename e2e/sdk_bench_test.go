package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/throttle"
)

// BenchmarkSDKGet compares the SDK's GET of a row by id with a raw
// net/http GET of the same URL, with the same token and the same
// transport, in the same run (docs/benchmarks.md):
//
//	go test ./e2e -run '^$' -bench BenchmarkSDKGet -count 6
//
// raw-read only reads the body; raw-decode also decodes it into a map, as
// the SDK does for a Row; sdk-typed decodes into a struct.
func BenchmarkSDKGet(b *testing.B) {
	ts := start(b, "", func(c *stack.Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		c.Limits = throttle.Limits{Requests: -1, ExecutionTime: -1, Concurrent: -1}
	})
	ctx := context.Background()
	hc := &http.Client{Transport: ts.client.Transport, Timeout: time.Minute}
	cred := ts.sdkCred(b, demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret)
	c := ts.sdkClientFor(b, ts.envURL(b), cred, &dataverse.Options{HTTPClient: hc})
	id, err := c.Create(ctx, "accounts", dataverse.Row{"name": "Benchmark Account", "numberofemployees": 42, "address1_city": "Oslo"})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{ts.envURL(b) + "/.default"}})
	if err != nil {
		b.Fatal(err)
	}
	url := c.BaseURL() + "accounts(" + id + ")?$select=name,numberofemployees,address1_city"
	q := dataverse.NewQuery().Select("name", "numberofemployees", "address1_city")
	raw := func(decode bool) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("OData-MaxVersion", "4.0")
		req.Header.Set("OData-Version", "4.0")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %s", resp.Status, body)
		}
		if decode {
			var m map[string]any
			return json.Unmarshal(body, &m)
		}
		return nil
	}
	type account struct {
		Name      string `json:"name"`
		Employees int    `json:"numberofemployees"`
		City      string `json:"address1_city"`
	}
	// Warm up both paths (connections, token cache, server caches).
	for range 50 {
		raw(true)
		c.Retrieve(ctx, "accounts", id, q)
	}
	// Paired: raw and SDK alternate (the order flips every round) and the
	// medians are compared, so load from elsewhere on the machine hits
	// both alike.
	b.Run("paired", func(b *testing.B) {
		var rawD, sdkD []time.Duration
		i := 0
		for b.Loop() {
			for k := range 2 {
				t0 := time.Now()
				if (i+k)%2 == 0 {
					if err := raw(true); err != nil {
						b.Fatal(err)
					}
					rawD = append(rawD, time.Since(t0))
				} else {
					if _, err := c.Retrieve(ctx, "accounts", id, q); err != nil {
						b.Fatal(err)
					}
					sdkD = append(sdkD, time.Since(t0))
				}
			}
			i++
		}
		r, s := median(rawD), median(sdkD)
		b.ReportMetric(float64(r.Microseconds()), "raw-µs")
		b.ReportMetric(float64(s.Microseconds()), "sdk-µs")
		b.ReportMetric(float64(s)/float64(r), "sdk/raw")
	})
	b.Run("raw-read", func(b *testing.B) {
		for b.Loop() {
			if err := raw(false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-decode", func(b *testing.B) {
		for b.Loop() {
			if err := raw(true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk-row", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Retrieve(ctx, "accounts", id, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk-typed", func(b *testing.B) {
		for b.Loop() {
			if _, err := dataverse.RetrieveAs[account](ctx, c, "accounts", id, q); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
