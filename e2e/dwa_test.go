package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
)

// dwaSteps are the steps e2e/node/dwa.mjs must report, all ok: a script
// that silently stopped exercising part of the Web API would fail here.
var dwaSteps = []string{
	"whoami", "whoami_object",
	"create", "create_return_representation",
	"retrieve_select", "retrieve_braced_key", "retrieve_formatted_values",
	"update", "update_return_representation", "update_missing_is_404", "update_stale_etag",
	"upsert_create", "upsert_update", "upsert_if_none_match", "upsert_if_match_missing",
	"delete", "delete_missing_is_404",
	"create_contact", "create_with_bind", "update_with_bind", "retrieve_expand",
	"create_page_rows",
	"retrieve_multiple_select_filter_orderby", "retrieve_multiple_top",
	"retrieve_multiple_expand", "retrieve_multiple_expand_collection",
	"paging_next_link", "retrieve_all",
	"count", "count_filter", "count_all",
	"associate_collection", "disassociate_collection",
	"associate_single_valued", "retrieve_ref", "disassociate_single_valued",
	"error_shape",
}

// dwaReport is what dwa.mjs prints.
type dwaReport struct {
	ServerURL string   `json:"server_url"`
	APIURL    string   `json:"api_url"`
	Run       string   `json:"run"`
	OK        bool     `json:"ok"`
	Failed    []string `json:"failed"`
	Steps     []struct {
		Name   string          `json:"name"`
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	} `json:"steps"`
	IDs struct {
		WhoAmIUser  string   `json:"whoami_user"`
		Created     string   `json:"created"`
		Represented string   `json:"represented"`
		Upserted    string   `json:"upserted"`
		Contact     string   `json:"contact"`
		Bound       string   `json:"bound"`
		PageRows    []string `json:"page_rows"`
	} `json:"ids"`
	Token struct {
		Calls       int `json:"calls"`
		FromNetwork int `json:"from_network"`
	} `json:"token"`
	Paging struct {
		PageSize  int      `json:"page_size"`
		Pages     int      `json:"pages"`
		PageSizes []int    `json:"page_sizes"`
		IDs       []string `json:"ids"`
	} `json:"paging"`
	RetrieveAll struct {
		Rows int      `json:"rows"`
		IDs  []string `json:"ids"`
	} `json:"retrieve_all"`
	Count int `json:"count"`
}

// TestDynamicsWebApi drives the demo environment's Web API with the
// unmodified npm package dynamics-web-api (e2e/node/dwa.mjs, pinned in
// e2e/node/package.json), its tokens from unmodified @azure/msal-node client
// credentials against our identity service: WhoAmI, create (with and
// without return=representation), retrieve, update, upsert, delete, queries
// with $select/$filter/$orderby/$top/$expand, paging over several pages,
// $count, @odata.bind and associate/disassociate. It then checks the
// script's report and, over HTTPS from Go, that the rows it created are
// there.
//
// Needs node and `npm ci --prefix e2e/node` (.ci/run does both). Without
// them the test skips, except under CI=true, where it fails.
func TestDynamicsWebApi(t *testing.T) {
	node := msalNodeOrSkip(t)
	if _, err := os.Stat(filepath.Join("node", "node_modules", "dynamics-web-api", "package.json")); errors.Is(err, os.ErrNotExist) {
		if os.Getenv("CI") == "true" {
			t.Fatal("e2e/node/node_modules has no dynamics-web-api; CI=true requires it (.ci/run installs it)")
		}
		t.Skip("e2e/node/node_modules has no dynamics-web-api; run `npm ci --prefix e2e/node` (see .ci/run)")
	}
	ts := start(t, "")
	envURL := ts.envURL(t)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("e2e", "node", "dwa.mjs"), filepath.Join(ts.dir, "stack.json"))
	cmd.Dir = ".." // the repository root, as the command is documented
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ts.Info.CAFile, "DWA_TRACE=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node dwa.mjs: %v\nstderr:\n%s\nreport:\n%s\nstack log (tail):\n%s", err, stderr.String(), out, dwaTail(ts.logs.String(), 8000))
	}
	var rep dwaReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("dwa.mjs output is not JSON: %v\n%s", err, out)
	}

	// Every step ran and passed.
	got := map[string]bool{}
	for _, s := range rep.Steps {
		got[s.Name] = true
		if !s.OK {
			t.Errorf("step %s failed: %s", s.Name, s.Error)
		}
	}
	for _, name := range dwaSteps {
		if !got[name] {
			t.Errorf("dwa.mjs reported no step %q", name)
		}
	}
	if !rep.OK {
		t.Errorf("report ok = false, failed: %v", rep.Failed)
	}

	if strings.TrimRight(rep.ServerURL, "/") != strings.TrimRight(envURL, "/") {
		t.Errorf("server_url = %q, want the demo environment %q", rep.ServerURL, envURL)
	}
	if rep.IDs.WhoAmIUser != demo.PortalAppUserID {
		t.Errorf("WhoAmI UserId = %q, want the portal's application user %s", rep.IDs.WhoAmIUser, demo.PortalAppUserID)
	}
	// dynamics-web-api asks for a token before every request; msal-node's
	// cache must answer all but the first.
	if rep.Token.FromNetwork != 1 || rep.Token.Calls < len(dwaSteps) {
		t.Errorf("token provider: %d calls, %d from the network; want one network call and at least %d calls",
			rep.Token.Calls, rep.Token.FromNetwork, len(dwaSteps))
	}

	// Paging: several pages, none larger than asked, no row twice, the
	// same rows retrieveAll and $count see.
	p := rep.Paging
	if p.Pages < 2 || len(p.PageSizes) != p.Pages {
		t.Errorf("paging: %d pages (%v), want more than one", p.Pages, p.PageSizes)
	}
	for i, n := range p.PageSizes {
		if n > p.PageSize || (n != p.PageSize && i != len(p.PageSizes)-1) || n == 0 {
			t.Errorf("paging: page %d has %d rows (page size %d): %v", i+1, n, p.PageSize, p.PageSizes)
		}
	}
	if !slices.Equal(rep.RetrieveAll.IDs, p.IDs) {
		t.Errorf("retrieveAll read %d rows, paging by hand %d (or in another order)", len(rep.RetrieveAll.IDs), len(p.IDs))
	}
	if rep.Count != len(p.IDs) {
		t.Errorf("accounts/$count = %d, paging read %d rows", rep.Count, len(p.IDs))
	}
	seen := map[string]bool{}
	for _, id := range p.IDs {
		if seen[id] {
			t.Errorf("account %s on two pages", id)
		}
		seen[id] = true
	}
	created := append([]string{rep.IDs.Created, rep.IDs.Represented, rep.IDs.Bound}, rep.IDs.PageRows...)
	if len(rep.IDs.PageRows) != 15 {
		t.Errorf("page rows: %d ids, want 15", len(rep.IDs.PageRows))
	}
	for _, id := range created {
		if !seen[id] {
			t.Errorf("created account %q not among the paged rows", id)
		}
	}
	if rep.IDs.Upserted == "" || seen[rep.IDs.Upserted] {
		t.Errorf("deleted (upserted) account %q still listed", rep.IDs.Upserted)
	}

	// From Go, over HTTPS with our own token: the rows the script created
	// are there with what it wrote, the deleted one is gone.
	tok := postToken(t, ts, v2Path(demo.ContosoTenantID),
		secretForm(demo.PortalAppID, demo.PortalSecret, envURL+"/.default")).accessToken(t)
	api := strings.TrimRight(envURL, "/") + "/api/data/v9.2/"
	var list struct {
		Value []struct {
			ID        string `json:"accountid"`
			Name      string `json:"name"`
			Employees *int   `json:"numberofemployees"`
			City      string `json:"address1_city"`
			Primary   string `json:"_primarycontactid_value"`
		} `json:"value"`
	}
	q := url.Values{
		"$select": {"name,numberofemployees,address1_city,_primarycontactid_value"},
		"$filter": {fmt.Sprintf("startswith(name,'DWA %s')", rep.Run)},
	}
	dwaGet(t, ts, tok, api+"accounts?"+strings.ReplaceAll(q.Encode(), "+", "%20"), http.StatusOK, &list)
	var goIDs []string
	byID := map[string]int{}
	for i, a := range list.Value {
		goIDs = append(goIDs, a.ID)
		byID[a.ID] = i
	}
	slices.Sort(goIDs)
	want := slices.Clone(created)
	slices.Sort(want)
	if !slices.Equal(goIDs, want) {
		t.Errorf("accounts of run %s seen from Go:\n %v\nwant the script's\n %v", rep.Run, goIDs, want)
	}
	if i, ok := byID[rep.IDs.Created]; ok {
		a := list.Value[i]
		if a.Name != "DWA "+rep.Run+" updated" || a.Employees == nil || *a.Employees != 42 || a.City != "Bergen" || a.Primary != rep.IDs.Contact {
			t.Errorf("created-then-updated account seen from Go: %+v (employees %v); want name %q, 42 employees, Bergen, primary contact %s",
				a, a.Employees, "DWA "+rep.Run+" updated", rep.IDs.Contact)
		}
	}
	if i, ok := byID[rep.IDs.Bound]; ok && list.Value[i].Primary != rep.IDs.Contact {
		t.Errorf("account created with @odata.bind: primary contact %q, want %s", list.Value[i].Primary, rep.IDs.Contact)
	}
	if i, ok := byID[rep.IDs.Represented]; ok && list.Value[i].Primary != "" {
		t.Errorf("account after disassociateSingleValued: primary contact %q, want none", list.Value[i].Primary)
	}
	var gone struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	dwaGet(t, ts, tok, api+"accounts("+rep.IDs.Upserted+")?$select=name", http.StatusNotFound, &gone)
	if gone.Error.Code != "0x80040217" {
		t.Errorf("deleted account: error %+v, want code 0x80040217", gone.Error)
	}
	var contact struct {
		LastName string  `json:"lastname"`
		Parent   *string `json:"_parentcustomerid_value"`
	}
	dwaGet(t, ts, tok, api+"contacts("+rep.IDs.Contact+")?$select=lastname,_parentcustomerid_value", http.StatusOK, &contact)
	if contact.LastName != "DWA "+rep.Run || contact.Parent != nil {
		t.Errorf("contact seen from Go: %+v; want lastname %q and no parent after disassociate", contact, "DWA "+rep.Run)
	}
}

// dwaGet GETs u with the bearer token and decodes the JSON answer, which
// must have the given status.
func dwaGet(t *testing.T, ts *testStack, token, u string, status int, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", u, resp.StatusCode, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: not JSON: %v: %s", u, err, b)
	}
}

// dwaTail returns at most the last n bytes of s.
func dwaTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
