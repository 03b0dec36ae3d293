package webapi_test

// Fuzzing of the Web API handler in-process: a whole stack is started once
// (temporary directory, free ports: the handler verifies tokens against
// the identity service's discovery documents over HTTPS as always), and
// random methods, paths, query strings, bodies and headers are served by
// the environment's handler with a valid token. Whatever comes in, the
// answer is never a 5xx (nor a panic), an error is Dataverse-shaped JSON,
// and a JSON answer is valid JSON.
//
// This is an external test package: stack imports webapi, so an internal
// test could not start a stack.
//
//	go test ./webapi/ -run '^$' -fuzz FuzzWebAPI -fuzztime 1m -parallel 1

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
)

// Rows with fixed ids, so that seeds can name them.
const (
	fuzzAccount = "00000000-0000-4000-8000-0000000000a1"
	fuzzContact = "00000000-0000-4000-8000-0000000000c1"
)

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodOptions}

// fuzzTarget is a running stack's demo environment handler and a token of
// the portal's application user.
type fuzzTarget struct {
	h     http.Handler
	env   string
	token string
}

func (ft *fuzzTarget) serve(method, target, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		return nil
	}
	req.Header.Set("Authorization", "Bearer "+ft.token)
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	ft.h.ServeHTTP(rec, req)
	return rec
}

func startFuzzTarget(f *testing.F) *fuzzTarget {
	f.Helper()
	s, err := stack.Start(context.Background(), stack.Config{DataDir: f.TempDir(), Port: 0,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatalf("start stack: %v", err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	env, err := s.Envs.Open(context.Background(), demo.EnvironmentName)
	if err != nil {
		f.Fatal(err)
	}
	// A token from the identity service, asked for as any client does.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.PortalAppID},
		"client_secret": {demo.PortalSecret}, "scope": {env.URL + "/.default"}}
	req := httptest.NewRequest(http.MethodPost, s.Info.AuthorityHost+"/"+demo.ContosoTenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.Identity.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		f.Fatalf("token: %d %s", rec.Code, rec.Body.Bytes())
	}
	ft := &fuzzTarget{h: s.WebAPI.Handler(env.ID), env: env.URL, token: tok.AccessToken}
	for _, r := range []struct{ path, body string }{
		{"contacts(" + fuzzContact + ")", `{"firstname":"Fuzz","lastname":"Contact"}`},
		{"accounts(" + fuzzAccount + ")", `{"name":"Fuzz Account","primarycontactid@odata.bind":"/contacts(` + fuzzContact + `)"}`},
	} {
		if rec := ft.serve(http.MethodPatch, env.URL+"/api/data/v9.2/"+r.path, r.body, nil); rec.Code != http.StatusNoContent {
			f.Fatalf("upsert %s: %d %s", r.path, rec.Code, rec.Body.Bytes())
		}
	}
	return ft
}

// FuzzWebAPI serves random requests; see the package comment.
func FuzzWebAPI(f *testing.F) {
	ft := startFuzzTarget(f)
	a, c := "accounts("+fuzzAccount+")", "contacts("+fuzzContact+")"
	seeds := []struct {
		method      uint8
		path, query string
		body        string
		prefer      string
		ifMatch     string
	}{
		{0, "", "", "", "", ""},
		{0, "WhoAmI", "", "", "", ""},
		{0, "WhoAmI()", "", "", "", ""},
		{0, "$metadata", "", "", "", ""},
		{1, "$batch", "", "--b\r\n", "", ""},
		{0, "accounts", "$select=name,revenue&$filter=startswith(name,'C') and revenue gt 1000&$orderby=name desc&$top=2&$count=true", "", "", ""},
		{0, "accounts", "$select=name&$expand=primarycontactid($select=fullname),contact_customer_accounts($select=fullname;$filter=firstname eq 'Pat';$orderby=lastname;$top=1)", "", `odata.include-annotations="*"`, ""},
		{0, "accounts", "$filter=Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['a','b'])", "", "odata.maxpagesize=1", ""},
		{0, "accounts", "$filter=contact_customer_accounts/any(x:x/firstname eq 'Pat')&$orderby=@p1&@p1=name", "", "", ""},
		{0, "accounts", "$filter=primarycontactid/fullname eq 'x' or not (numberofemployees le 5)&$select=_primarycontactid_value", "", "", ""},
		{0, "accounts", "$filter=Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=3)&$apply=groupby((name))", "", "", ""},
		{0, "accounts", "$skiptoken=%3Ccookie%20pagenumber%3D%222%22%20%2F%3E", "", "odata.maxpagesize=2", ""},
		{0, "accounts/$count", "$filter=name ne null", "", "", ""},
		{0, a, "$select=name&$expand=primarycontactid/$ref", "", "", ""},
		{0, a + "/name", "", "", "", ""},
		{0, a + "/name/$value", "", "", "", ""},
		{0, a + "/primarycontactid", "$select=fullname", "", "", ""},
		{0, a + "/contact_customer_accounts/$ref", "", "", "", ""},
		{0, a + "/contact_customer_accounts/$count", "", "", "", ""},
		{0, "accounts(name='x')", "", "", "", ""},
		{0, a, "", "", "", `W/"1"`},
		{1, "accounts", "$select=name", `{"name":"Fuzz","revenue":1.5,"accountcategorycode":1,"creditonhold":true,"primarycontactid@odata.bind":"/` + c + `"}`, "return=representation", ""},
		{1, "accounts", "", `{"name":"Deep","primarycontactid":{"lastname":"Deep"},"contact_customer_accounts":[{"lastname":"Child"}]}`, "", ""},
		{1, "contacts", "", `{"lastname":"x","parentcustomerid_account@odata.bind":"` + a + `","birthdate":"2000-01-01"}`, "", ""},
		{1, a + "/contact_customer_accounts/$ref", "", `{"@odata.id":"` + c + `"}`, "", ""},
		{1, a + "/contact_customer_accounts", "", `{"lastname":"Created under"}`, "", ""},
		{2, a, "", `{"name":"Changed","numberofemployees":12}`, "return=representation", "*"},
		{2, "accounts(00000000-0000-4000-8000-0000000000b2)", "", `{"name":"Upserted"}`, "", ""},
		{2, a, "", `{"description":null,"statecode":1,"statuscode":2}`, "", `W/"1"`},
		{3, a + "/name", "", `{"value":"Put"}`, "", ""},
		{3, a + "/primarycontactid/$ref", "", `{"@odata.id":"/` + c + `"}`, "", ""},
		{4, a + "/description", "", "", "", ""},
		{4, a + "/primarycontactid/$ref", "", "", "", ""},
		{4, a + "/contact_customer_accounts(" + fuzzContact + ")/$ref", "", "", "", ""},
		{4, a + "/contact_customer_accounts/$ref", "$id=" + url.QueryEscape("contacts("+fuzzContact+")"), "", "", ""},
		{4, "accounts(00000000-0000-4000-8000-0000000000b2)", "", "", "", "*"},
		{0, "systemusers", "$select=fullname&$filter=applicationid ne null&$expand=systemuserroles_association($select=name)", "", "", ""},
		{0, "roles", "$expand=businessunitid($select=name)", "", "", ""},
		// Edges: huge numbers, far dates, overflowing durations, aliases.
		{0, "accounts", "$top=2147483648", "", "odata.maxpagesize=99999999999", ""},
		{0, "accounts", "$skiptoken=" + url.QueryEscape(`<cookie pagenumber="999999999" />`), "", "odata.maxpagesize=5000", ""},
		{0, "accounts", "$filter=numberofemployees eq 99999999999999999999 or revenue gt 1e400 or revenue lt -1.7976931348623157e308", "", "", ""},
		{0, "accounts", "$filter=createdon gt 9999-12-31T23:59:59Z or createdon lt 0001-01-01", "", "", ""},
		{0, "accounts", "$filter=Microsoft.Dynamics.CRM.NextXHours(PropertyName='createdon',PropertyValue=9223372036854775807)", "", "", ""},
		{0, "accounts", "$filter=Microsoft.Dynamics.CRM.Between(PropertyName='createdon',PropertyValues=['2020-01-01','x'])", "", "", ""},
		{0, "accounts", "$filter=Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue=@d)&@d=2024-02-30", "", "", ""},
		{0, "accounts(@k)", "@k=" + fuzzAccount, "", "", ""},
		{0, "accounts", "$filter=name eq @p&@p=@q&@q=@p", "", "", ""},
		{0, "accounts", "$expand=primarycontactid($expand=parentcustomerid_account($expand=primarycontactid($expand=createdby($expand=businessunitid))))", "", "", ""},
		{0, "systemusers", "$filter=systemuserroles_association/any(r:r/businessunitid/name eq 'x')", "", "", ""},
		{1, "accounts", "", `{"name":"\u0000\ud800","description":"` + strings.Repeat("é", 2001) + `","revenue":1e400,"address1_latitude":-0}`, "", ""},
		{1, "contacts", "", `{"lastname":"x","birthdate":"0000-00-00T00:00:00Z","parentcustomerid_contact@odata.bind":"$1"}`, "", ""},
		{1, "systemusers", "", `{"applicationid":"` + demo.PortalAppID + `"}`, "", ""},
		{1, "systemusers", "", `{"firstname":"No","lastname":"Application"}`, "", ""},
		{2, "systemusers(" + fuzzAccount + ")", "", `{"applicationid":"` + demo.InventoryAppID + `"}`, "", ""},
		{1, a + "/contact_customer_accounts/$ref", "", `{"@odata.id":"https://elsewhere.example/api/data/v9.2/` + c + `"}`, "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.body, s.prefer, s.ifMatch)
	}
	f.Fuzz(func(t *testing.T, m uint8, path, query, body, prefer, ifMatch string) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		target := ft.env + "/api/data/v9.2/" + path
		if query != "" {
			target += "?" + query
		}
		hdr := map[string]string{"Prefer": prefer, "If-Match": ifMatch}
		if m >= 128 {
			hdr = map[string]string{"Prefer": prefer, "If-None-Match": ifMatch}
		}
		for _, v := range hdr {
			if strings.ContainsAny(v, "\r\n\x00") {
				return // not a header value a client can send
			}
		}
		rec := ft.serve(method, target, body, hdr)
		if rec == nil {
			return // not a URL a client can send
		}
		res := rec.Result()
		b := rec.Body.Bytes()
		if res.StatusCode >= 500 && !stub(res.StatusCode, b) {
			t.Fatalf("%s %s: status %d: %s", method, target, res.StatusCode, b)
		}
		ct := res.Header.Get("Content-Type")
		if res.StatusCode >= 400 {
			var e struct {
				Error *struct {
					Code    *string `json:"code"`
					Message *string `json:"message"`
				} `json:"error"`
			}
			if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(b, &e) != nil || e.Error == nil || e.Error.Code == nil || e.Error.Message == nil || *e.Error.Message == "" {
				t.Fatalf("%s %s: status %d, not a Dataverse error (%s): %q", method, target, res.StatusCode, ct, b)
			}
			return
		}
		if strings.HasPrefix(ct, "application/json") && method != http.MethodHead && !json.Valid(b) {
			t.Fatalf("%s %s: status %d, invalid JSON: %q", method, target, res.StatusCode, b)
		}
		if (res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusNotModified) && len(b) > 0 {
			t.Fatalf("%s %s: status %d with a body: %q", method, target, res.StatusCode, b)
		}
	})
}

// stub reports a deliberate "not implemented" (501, NotSupported
// 0x80040315, reference §4.14) of a feature this version does not serve
// yet ($batch, $metadata, $apply): the one 5xx allowed.
func stub(status int, body []byte) bool {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	return status == http.StatusNotImplemented && json.Unmarshal(body, &e) == nil && e.Error.Code == "0x80040315"
}
