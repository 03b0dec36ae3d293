package e2e

// $batch over real HTTPS (reference §4.13): change sets that commit or
// roll back as a whole, Content-ID references in URLs and bodies,
// Prefer: odata.continue-on-error, the stop at the first failure without
// it, impersonation applied to every part, and malformed batches answered
// with a Dataverse 400.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/google/uuid"
)

// batOp is one request of a test batch.
type batOp struct {
	method, url, body, contentID string
	header                       []string // name, value pairs
}

// batSet is a change set.
type batSet []batOp

// batBody builds a batch body with CRLF line endings; items are batOp or
// batSet.
func batBody(boundary string, items ...any) string {
	var b strings.Builder
	op := func(o batOp) {
		b.WriteString("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n")
		if o.contentID != "" {
			b.WriteString("Content-ID: " + o.contentID + "\r\n")
		}
		b.WriteString("\r\n" + o.method + " " + o.url + " HTTP/1.1\r\n")
		if o.body != "" {
			b.WriteString("Content-Type: application/json; type=entry\r\n")
		}
		for i := 0; i+1 < len(o.header); i += 2 {
			b.WriteString(o.header[i] + ": " + o.header[i+1] + "\r\n")
		}
		b.WriteString("\r\n" + o.body + "\r\n")
	}
	for _, it := range items {
		b.WriteString("--" + boundary + "\r\n")
		switch v := it.(type) {
		case batOp:
			op(v)
		case batSet:
			cs := "changeset_" + uuid.NewString()
			b.WriteString("Content-Type: multipart/mixed; boundary=" + cs + "\r\n\r\n")
			for _, o := range v {
				b.WriteString("--" + cs + "\r\n")
				op(o)
			}
			b.WriteString("--" + cs + "--\r\n")
		}
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.String()
}

// batResp is one part of a batch answer.
type batResp struct {
	status    int
	header    http.Header
	body      []byte
	contentID string
	changeSet int // 1-based index of the change set response it is in; 0: none
}

func (r batResp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("part %d body is not JSON: %v: %q", r.status, err, r.body)
	}
	return m
}

func (r batResp) errorCode(t testing.TB) (string, string) {
	t.Helper()
	m := r.json(t)
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	return code, msg
}

// batReply is a whole batch answer.
type batReply struct {
	status int
	header http.Header
	raw    []byte
	parts  []batResp
}

// batSend posts a batch and parses the answer (a Dataverse error when
// the answer is not multipart).
func batSend(t testing.TB, ts *testStack, envURL, token, body string, hdr ...string) batReply {
	t.Helper()
	boundary := "batch_" + uuid.NewString()
	body = strings.ReplaceAll(body, "{{boundary}}", boundary)
	req, err := http.NewRequest("POST", envURL+"/api/data/v9.2/$batch", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "multipart/mixed; boundary="+boundary)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := batReply{status: resp.StatusCode, header: resp.Header, raw: raw}
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "multipart/mixed" {
		return out
	}
	if !strings.HasPrefix(params["boundary"], "batchresponse_") || !bytes.HasPrefix(raw, []byte("--"+params["boundary"]+"\r\n")) {
		t.Fatalf("batch answer boundary %q, body starts %q", params["boundary"], raw[:min(len(raw), 80)])
	}
	out.parts = batParse(t, raw, params["boundary"], 0)
	return out
}

func batParse(t testing.TB, raw []byte, boundary string, set int) []batResp {
	t.Helper()
	var out []batResp
	mr := multipart.NewReader(bytes.NewReader(raw), boundary)
	sets := 0
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("batch answer: %v\n%s", err, raw)
		}
		data, _ := io.ReadAll(p)
		mt, params, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if mt == "multipart/mixed" {
			if set != 0 {
				t.Fatal("nested change set response")
			}
			if !strings.HasPrefix(params["boundary"], "changesetresponse_") {
				t.Errorf("change set response boundary %q", params["boundary"])
			}
			sets++
			out = append(out, batParse(t, data, params["boundary"], sets)...)
			continue
		}
		if mt != "application/http" || p.Header.Get("Content-Transfer-Encoding") != "binary" {
			t.Fatalf("part headers %v", p.Header)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
		if err != nil {
			t.Fatalf("part is not an HTTP response: %v\n%q", err, data)
		}
		body, _ := io.ReadAll(resp.Body)
		out = append(out, batResp{status: resp.StatusCode, header: resp.Header, body: bytes.TrimSuffix(body, []byte("\r\n")),
			contentID: p.Header.Get("Content-ID"), changeSet: set})
	}
}

func (r batReply) statuses() []int {
	var s []int
	for _, p := range r.parts {
		s = append(s, p.status)
	}
	return s
}

// batCount counts the accounts with a name.
func batCount(t testing.TB, ts *testStack, envURL, token, name string) int {
	t.Helper()
	r := thrDo(t, ts.client, "GET", envURL+"/api/data/v9.2/accounts?$select=name&$filter="+url.QueryEscape("name eq '"+name+"'"), token, nil)
	if r.status != http.StatusOK {
		t.Fatalf("query %s: %d %s", name, r.status, r.body)
	}
	var v struct{ Value []map[string]any }
	json.Unmarshal(r.body, &v)
	return len(v.Value)
}

func TestBatch(t *testing.T) {
	ts := start(t, "")
	env := envURLNamed(t, ts, "contoso")
	api := env + "/api/data/v9.2/"
	tok := thrToken(t, ts, demo.PortalAppID, demo.PortalSecret, env)
	run := uuid.NewString()[:8]
	guid := func(r batResp) string {
		id := r.header.Get("OData-EntityId")
		if i := strings.LastIndexByte(id, '('); i >= 0 && strings.HasSuffix(id, ")") {
			return id[i+1 : len(id)-1]
		}
		t.Fatalf("no OData-EntityId in part: %v", r.header)
		return ""
	}

	t.Run("change set commits with Content-ID references", func(t *testing.T) {
		name := "Batch A " + run
		r := batSend(t, ts, env, tok, batBody("{{boundary}}",
			batSet{
				{method: "POST", url: api + "accounts", contentID: "1", body: `{"name":"` + name + `"}`},
				{method: "POST", url: "/api/data/v9.2/contacts", contentID: "2", body: `{"lastname":"Batch C ` + run + `","parentcustomerid_account@odata.bind":"$1"}`},
				{method: "PATCH", url: "$1", contentID: "3", body: `{"primarycontactid@odata.bind":"$2"}`},
				{method: "PUT", url: "$1/telephone1", contentID: "4", body: `{"value":"555-0100"}`},
			},
			batOp{method: "GET", url: "accounts?$select=name,telephone1,_primarycontactid_value&$filter=" + url.QueryEscape("name eq '"+name+"'")},
		))
		if r.status != http.StatusOK {
			t.Fatalf("batch: %d\n%s", r.status, r.raw)
		}
		if got := fmt.Sprint(r.statuses()); got != "[204 204 204 204 200]" {
			t.Fatalf("part statuses %s, want [204 204 204 204 200]\n%s", got, r.raw)
		}
		for i, p := range r.parts[:4] {
			if p.changeSet != 1 || p.contentID != fmt.Sprint(i+1) {
				t.Errorf("part %d: change set %d, Content-ID %q", i, p.changeSet, p.contentID)
			}
			if p.header.Get("OData-Version") != "4.0" {
				t.Errorf("part %d: no OData-Version", i)
			}
		}
		account, contact := guid(r.parts[0]), guid(r.parts[1])
		if loc := r.parts[0].header.Get("Location"); loc != api+"accounts("+account+")" {
			t.Errorf("Location %q", loc)
		}
		var list struct{ Value []map[string]any }
		if err := json.Unmarshal(r.parts[4].body, &list); err != nil || len(list.Value) != 1 {
			t.Fatalf("GET part: %v %s", err, r.parts[4].body)
		}
		a := list.Value[0]
		if a["accountid"] != account || a["_primarycontactid_value"] != contact || a["telephone1"] != "555-0100" {
			t.Errorf("account after the change set: %v; want id %s, primary contact %s, telephone1 555-0100", a, account, contact)
		}
		c := thrDo(t, ts.client, "GET", api+"contacts("+contact+")?$select=_parentcustomerid_value", tok, nil)
		if !strings.Contains(string(c.body), account) {
			t.Errorf("contact's parent customer: %s", c.body)
		}
	})

	t.Run("change set rolls back on a failing operation", func(t *testing.T) {
		name := "Batch rollback " + run
		r := batSend(t, ts, env, tok, batBody("{{boundary}}",
			batSet{
				{method: "POST", url: api + "accounts", contentID: "1", body: `{"name":"` + name + `"}`},
				{method: "PATCH", url: "$1", contentID: "2", body: `{"telephone1":"1"}`},
				{method: "PATCH", url: api + "accounts(" + uuid.NewString() + ")", contentID: "3", body: `{"name":"x"}`, header: []string{"If-Match", "*"}},
			},
			batOp{method: "POST", url: api + "accounts", body: `{"name":"` + name + ` after"}`},
		))
		if r.status != http.StatusNotFound || len(r.parts) != 1 || r.parts[0].status != http.StatusNotFound {
			t.Fatalf("batch %d, parts %v; want 404 with the failing request's 404 alone\n%s", r.status, r.statuses(), r.raw)
		}
		if code, _ := r.parts[0].errorCode(t); code != "0x80040217" {
			t.Errorf("error code %s", code)
		}
		if r.parts[0].changeSet != 0 {
			t.Error("the failure is in a change set response")
		}
		if n := batCount(t, ts, env, tok, name); n != 0 {
			t.Errorf("%d rows of the rolled-back change set exist", n)
		}
		if n := batCount(t, ts, env, tok, name+" after"); n != 0 {
			t.Errorf("the request after the failure ran (%d rows)", n)
		}
	})

	t.Run("stops at the first failure", func(t *testing.T) {
		r := batSend(t, ts, env, tok, batBody("{{boundary}}",
			batOp{method: "POST", url: api + "accounts", body: `{"name":"Batch stop A ` + run + `"}`},
			batOp{method: "GET", url: api + "accounts(" + uuid.NewString() + ")"},
			batOp{method: "POST", url: api + "accounts", body: `{"name":"Batch stop B ` + run + `"}`},
		))
		if r.status != http.StatusNotFound || fmt.Sprint(r.statuses()) != "[204 404]" {
			t.Fatalf("batch %d, parts %v; want 404 with [204 404]\n%s", r.status, r.statuses(), r.raw)
		}
		if a, b := batCount(t, ts, env, tok, "Batch stop A "+run), batCount(t, ts, env, tok, "Batch stop B "+run); a != 1 || b != 0 {
			t.Errorf("rows A %d, B %d; want 1 and 0", a, b)
		}
	})

	t.Run("continue on error", func(t *testing.T) {
		name := "Batch continue " + run
		r := batSend(t, ts, env, tok, batBody("{{boundary}}",
			batOp{method: "GET", url: api + "accounts(" + uuid.NewString() + ")"},
			batSet{
				{method: "POST", url: api + "accounts", contentID: "1", body: `{"name":"` + name + ` rolled back"}`},
				{method: "POST", url: api + "accounts", contentID: "2", body: `{"nosuchcolumn":1}`},
			},
			batOp{method: "POST", url: api + "accounts", body: `{"name":"` + name + `"}`},
			batSet{{method: "POST", url: api + "accounts", contentID: "1", body: `{"name":"` + name + ` committed"}`}},
		), "Prefer", "odata.continue-on-error")
		if r.status != http.StatusOK || fmt.Sprint(r.statuses()) != "[404 400 204 204]" {
			t.Fatalf("batch %d, parts %v; want 200 with [404 400 204 204]\n%s", r.status, r.statuses(), r.raw)
		}
		if r.header.Get("Preference-Applied") != "odata.continue-on-error" {
			t.Errorf("Preference-Applied %q", r.header.Get("Preference-Applied"))
		}
		if r.parts[1].changeSet != 0 || r.parts[3].changeSet == 0 {
			t.Errorf("a failed change set answers with its error alone, a committed one with a change set response")
		}
		for n, want := range map[string]int{name + " rolled back": 0, name: 1, name + " committed": 1} {
			if got := batCount(t, ts, env, tok, n); got != want {
				t.Errorf("rows named %q: %d, want %d", n, got, want)
			}
		}
	})

	t.Run("Content-ID reference errors", func(t *testing.T) {
		r := batSend(t, ts, env, tok, batBody("{{boundary}}",
			batSet{{method: "PATCH", url: "$7", contentID: "1", body: `{"name":"x"}`}},
			batSet{{method: "POST", url: api + "contacts", contentID: "1", body: `{"lastname":"x","parentcustomerid_account@odata.bind":"$8"}`}},
			batOp{method: "POST", url: api + "contacts", body: `{"lastname":"x","parentcustomerid_account@odata.bind":"$1"}`},
		), "Prefer", "odata.continue-on-error")
		if fmt.Sprint(r.statuses()) != "[400 400 400]" {
			t.Fatalf("parts %v, want three 400s\n%s", r.statuses(), r.raw)
		}
		for i, ref := range []string{"$7", "$8"} {
			if _, msg := r.parts[i].errorCode(t); msg != "Content-ID Reference: '"+ref+"' does not exist in the batch context." {
				t.Errorf("part %d: %q", i, msg)
			}
		}
	})

	t.Run("impersonation applies to every part", func(t *testing.T) {
		name := "Batch impersonated " + run
		r := batSend(t, ts, env, tok, batBody("{{boundary}}",
			batOp{method: "GET", url: api + "WhoAmI"},
			batSet{{method: "POST", url: api + "accounts", contentID: "1", body: `{"name":"` + name + ` 1"}`}},
			batOp{method: "POST", url: api + "accounts", body: `{"name":"` + name + ` 2"}`},
		), "CallerObjectId", demo.AliceID)
		if r.status != http.StatusOK || fmt.Sprint(r.statuses()) != "[200 204 204]" {
			t.Fatalf("batch %d, parts %v\n%s", r.status, r.statuses(), r.raw)
		}
		alice, _ := r.parts[0].json(t)["UserId"].(string)
		if alice == "" || alice == demo.PortalAppUserID {
			t.Fatalf("WhoAmI in an impersonating batch: %s", r.parts[0].body)
		}
		for _, p := range r.parts[1:] {
			id := guid(p)
			a := thrDo(t, ts.client, "GET", api+"accounts("+id+")?$select=_createdby_value,_createdonbehalfby_value,_ownerid_value", tok, nil)
			var m map[string]any
			json.Unmarshal(a.body, &m)
			if m["_createdby_value"] != alice || m["_createdonbehalfby_value"] != demo.PortalAppUserID || m["_ownerid_value"] != alice {
				t.Errorf("account %s: createdby %v, createdonbehalfby %v, owner %v; want %s, %s, %s", id,
					m["_createdby_value"], m["_createdonbehalfby_value"], m["_ownerid_value"], alice, demo.PortalAppUserID, alice)
			}
		}
		// A caller without prvActOnBehalfOfAnotherUser: the whole batch is refused.
		inv := thrToken(t, ts, demo.InventoryAppID, demo.InventorySecret, env)
		r = batSend(t, ts, env, inv, batBody("{{boundary}}", batOp{method: "GET", url: api + "WhoAmI"}), "CallerObjectId", demo.AliceID)
		if r.status != http.StatusForbidden || !strings.Contains(string(r.raw), "0x8004a110") {
			t.Errorf("impersonation without the privilege: %d %s", r.status, r.raw)
		}
	})

	t.Run("malformed batches", func(t *testing.T) {
		ok := batBody("{{boundary}}", batOp{method: "GET", url: api + "WhoAmI"})
		for _, c := range []struct {
			name, body, want string
			hdr              []string
		}{
			{"LF line endings", strings.ReplaceAll(ok, "\r\n", "\n"), "Stream was not readable", nil},
			{"no boundary", ok, "0x80048d19", []string{"Content-Type", "multipart/mixed"}},
			{"not multipart", `{"a":1}`, "0x80048d19", []string{"Content-Type", "application/json"}},
			{"GET in a change set", batBody("{{boundary}}", batSet{{method: "GET", url: api + "WhoAmI"}}), "An invalid HTTP method 'GET'", nil},
			{"bad request line", strings.Replace(ok, " HTTP/1.1", "", 1), "0x80048d19", nil},
			{"empty", "--{{boundary}}--\r\n", "0x80048d19", nil},
			{"too many requests", batBody("{{boundary}}", batOps(1001)...), "exceeded the maximum of 1000", nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := batSend(t, ts, env, tok, c.body, c.hdr...)
				if r.status != http.StatusBadRequest || !strings.Contains(string(r.raw), c.want) {
					t.Fatalf("%d %s; want 400 with %q", r.status, r.raw, c.want)
				}
				var e map[string]any
				if err := json.Unmarshal(r.raw, &e); err != nil || e["error"] == nil {
					t.Errorf("not a Dataverse error body: %s", r.raw)
				}
			})
		}
		// A nested $batch is that part's 400.
		r := batSend(t, ts, env, tok, batBody("{{boundary}}", batOp{method: "POST", url: api + "$batch", body: "{}"}))
		if r.status != http.StatusBadRequest || len(r.parts) != 1 || r.parts[0].status != http.StatusBadRequest {
			t.Errorf("nested batch: %d %v %s", r.status, r.statuses(), r.raw)
		}
		// 1,000 requests are fine.
		r = batSend(t, ts, env, tok, batBody("{{boundary}}", batOps(1000)...))
		if r.status != http.StatusOK || len(r.parts) != 1000 {
			t.Errorf("1000 requests: %d, %d parts", r.status, len(r.parts))
		}
	})
}

// batOps is n WhoAmI requests.
func batOps(n int) []any {
	ops := make([]any, n)
	for i := range ops {
		ops[i] = batOp{method: "GET", url: "WhoAmI"}
	}
	return ops
}
