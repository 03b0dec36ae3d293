package dataverse

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// cannedTransport answers every request with the same row, without a
// network: BenchmarkClientOverhead measures only the client's own work.
type cannedTransport struct{ body string }

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json; odata.metadata=minimal"}},
		Body: io.NopCloser(strings.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r}, nil
}

const cannedRow = `{"@odata.context":"https://x/api/data/v9.2/$metadata#accounts(name,numberofemployees,address1_city)/$entity","@odata.etag":"W/\"1190\"","name":"Benchmark Account","numberofemployees":42,"address1_city":"Oslo","accountid":"5356dc78-b9ab-498b-bddf-741a96389a1c"}`

// BenchmarkClientOverhead: the SDK's Retrieve against a raw GET plus
// decode, both on a transport that answers at once.
func BenchmarkClientOverhead(b *testing.B) {
	hc := &http.Client{Transport: cannedTransport{cannedRow}}
	c, err := NewClient("https://x", fixedToken("tok"), &Options{HTTPClient: hc})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id := "5356dc78-b9ab-498b-bddf-741a96389a1c"
	url := "https://x/api/data/v9.2/accounts(" + id + ")?$select=name,numberofemployees,address1_city"
	q := NewQuery().Select("name", "numberofemployees", "address1_city")
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer tok")
			req.Header.Set("Accept", "application/json")
			req.Header.Set("OData-MaxVersion", "4.0")
			req.Header.Set("OData-Version", "4.0")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Retrieve(ctx, "accounts", id, q); err != nil {
				b.Fatal(err)
			}
		}
	})
}
