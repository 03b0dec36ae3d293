package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// RunData runs the store.Data conformance suite: every engine's rows
// behave alike, so the Web API on PostgreSQL answers as it does on SQLite.
// open must return a new, empty environment's Data for each call (not yet
// synced) and arrange for it to be closed when t ends.
//
// The contract it pins down, beyond what store/data.go says:
//
//   - Values come back with the types store.Row documents, whatever the
//     column's SQL type: int64, float64, bool, time.Time in UTC, string,
//     Ref (with its table, also for single-target lookups).
//   - Text compares, matches, sorts and is unique case-insensitively (SQL
//     Server's default collation). Lookup ids are stored lower-case; ids
//     given to Get, Update, Delete, Associate and Disassociate match
//     whatever their case.
//   - Nulls sort first ascending, last descending.
//   - Only % and _ are wildcards in Match; a backslash is an ordinary
//     character.
//   - A write that fails with ErrConflict inside InTx leaves the
//     transaction usable; an error returned by InTx's function rolls every
//     change back.
//   - Transactions on one environment are serialisable: concurrent
//     read-modify-write transactions lose no update.
func RunData(t *testing.T, open func(t *testing.T) store.Data) {
	tests := []struct {
		name string
		run  func(t *testing.T, d store.Data)
	}{
		{"RoundTrip", testDataRoundTrip},
		{"Columns", testDataColumns},
		{"Conflicts", testDataConflicts},
		{"AlternateKeys", testDataAlternateKeys},
		{"SyncExtends", testDataSyncExtends},
		{"Update", testDataUpdate},
		{"Delete", testDataDelete},
		{"Compare", testDataCompare},
		{"Match", testDataMatch},
		{"In", testDataIn},
		{"Logic", testDataLogic},
		{"Related", testDataRelated},
		{"OrderAndPaging", testDataOrder},
		{"Count", testDataCount},
		{"ManyToMany", testDataManyToMany},
		{"BadInput", testDataBadInput},
		{"InTx", testDataInTx},
		{"InTxConflictContinues", testDataInTxConflict},
		{"Meta", testDataMeta},
		{"Versions", testDataVersions},
		{"ConcurrentWrites", testDataConcurrentWrites},
		{"SerialisedTransactions", testDataSerialisedTx},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := open(t)
			if d == nil {
				t.Fatal("open returned a nil store.Data")
			}
			tc.run(t, d)
		})
	}
}

// --- fixtures ---

// widget is a custom table with a column of every type, an alternate key,
// a lookup to account and a many-to-many relationship with account.
func widgetTable() *schema.Table {
	c := func(name string, typ schema.Type, targets ...string) *schema.Column {
		return &schema.Column{LogicalName: name, SchemaName: name, DisplayName: name, Type: typ, Targets: targets, Custom: true}
	}
	t := schema.NewTable("new_widget", "new_widgets", "Widget", "Widgets", 10001, schema.UserOwned, "new_name",
		c("new_name", schema.String),
		c("new_code", schema.String),
		c("new_memo", schema.Memo),
		c("new_count", schema.Integer),
		c("new_big", schema.BigInt),
		c("new_price", schema.Money),
		c("new_dec", schema.Decimal),
		c("new_ratio", schema.Double),
		c("new_flag", schema.Boolean),
		c("new_when", schema.DateTime),
		c("new_kind", schema.Choice),
		c("new_guid", schema.UniqueIdentifier),
		c("new_accountid", schema.Lookup, schema.TableAccount),
		c("new_parentid", schema.Lookup, "new_widget"),
	)
	t.Keys = []schema.Key{{Name: "code", Columns: []string{"new_code"}}}
	return t
}

var widgetAccounts = &schema.ManyToMany{SchemaName: "new_widget_account", Entity1: "new_widget", Entity2: schema.TableAccount,
	Intersect: "new_widget_account", Entity1Col: "new_widgetid", Entity2Col: "accountid", Entity1Nav: "new_widget_account", Entity2Nav: "new_widget_account"}

// dataSchema is the system schema plus the widget table.
func dataSchema(t *testing.T) *schema.Schema {
	t.Helper()
	w := widgetTable()
	rels := append(schema.AuditRelationships(w),
		&schema.Relationship{SchemaName: "new_widget_account", Referenced: schema.TableAccount, Referencing: "new_widget",
			ReferencingAttribute: "new_accountid", ReferencingNav: "new_accountid", ReferencedNav: "new_account_widgets"},
		&schema.Relationship{SchemaName: "new_widget_parent", Referenced: "new_widget", Referencing: "new_widget",
			ReferencingAttribute: "new_parentid", ReferencingNav: "new_parentid", ReferencedNav: "new_widget_children"})
	s, err := schema.System().With([]*schema.Table{w}, rels, []*schema.ManyToMany{widgetAccounts})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// synced syncs d with the data schema and returns it.
func synced(t *testing.T, d store.Data) *schema.Schema {
	t.Helper()
	s := dataSchema(t)
	must(t, "Sync", d.Sync(t.Context(), s))
	return s
}

func rowID(kind string, n int) string {
	p := map[string]string{"widget": "1d9e0000", "account": "acc00000", "contact": "c0c00000", "user": "05e50000", "team": "7ea00000"}[kind]
	if p == "" {
		panic("storetest: unknown row kind " + kind)
	}
	return fmt.Sprintf("%s-0000-4000-8000-%012d", p, n)
}

// when is a second-precision UTC time, as Row times are.
var when = time.Date(2026, 5, 17, 8, 30, 15, 0, time.UTC)

// widget returns a full widget row n.
func widget(n int) store.Row {
	return store.Row{
		"new_widgetid":  rowID("widget", n),
		"new_name":      fmt.Sprintf("Widget %02d", n),
		"new_code":      fmt.Sprintf("W-%03d", n),
		"new_memo":      strings.Repeat("memo ", n) + "\u00e9\u4e2d\U0001F600 'quote' \"double\" \\ %_",
		"new_count":     int64(n * 10),
		"new_big":       int64(n) * 1_000_000_000_000,
		"new_price":     float64(n) + 0.25,
		"new_dec":       float64(n) * 1.5,
		"new_ratio":     float64(n) / 8,
		"new_flag":      n%2 == 0,
		"new_when":      when.Add(time.Duration(n) * time.Hour),
		"new_kind":      int64(100000000 + n%3),
		"new_guid":      fmt.Sprintf("9a1d0000-0000-4000-8000-%012d", n),
		"new_accountid": store.Ref{ID: rowID("account", n%2+1), Table: schema.TableAccount},
		"ownerid":       store.Ref{ID: rowID("user", 1), Table: schema.TableSystemUser},
		"statecode":     int64(0),
		"statuscode":    int64(1),
	}
}

func insert(t *testing.T, d store.Data, tb *schema.Table, r store.Row) int64 {
	t.Helper()
	v, err := d.Insert(t.Context(), tb, r)
	if err != nil {
		t.Fatalf("Insert %s %v: %v", tb.LogicalName, r[tb.PrimaryID], err)
	}
	return v
}

// seedAccounts inserts accounts 1..n with names "Account 1".. and the
// widgets 1..w.
func seedRows(t *testing.T, d store.Data, s *schema.Schema, accounts, widgets int) {
	t.Helper()
	for i := 1; i <= accounts; i++ {
		insert(t, d, s.Table(schema.TableAccount), store.Row{"accountid": rowID("account", i), "name": fmt.Sprintf("Account %d", i),
			"ownerid": store.Ref{ID: rowID("user", 1), Table: schema.TableSystemUser}, "numberofemployees": int64(i * 100)})
	}
	for i := 1; i <= widgets; i++ {
		insert(t, d, s.Table("new_widget"), widget(i))
	}
}

// sameValue compares two Row values: times as instants, floats to 1e-9.
func sameValue(want, got any) bool {
	switch w := want.(type) {
	case time.Time:
		g, ok := got.(time.Time)
		return ok && w.Equal(g) && g.Location() == time.UTC
	case float64:
		g, ok := got.(float64)
		return ok && math.Abs(w-g) <= 1e-9*math.Max(1, math.Abs(w))
	}
	return want == got
}

// checkRow checks every column of want is in got with the same value and
// type; columns of got not in want must be nil.
func checkRow(t *testing.T, what string, want, got store.Row) {
	t.Helper()
	var diffs []string
	for k, w := range want {
		if g := got[k]; !sameValue(w, g) {
			diffs = append(diffs, fmt.Sprintf("%s: %#v (%T), want %#v (%T)", k, g, g, w, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && g != nil && k != "versionnumber" {
			diffs = append(diffs, fmt.Sprintf("%s: %#v, want nil", k, g))
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Errorf("%s:\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

// ids returns the primary ids of rows, in order.
func ids(t *schema.Table, rows []store.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i], _ = r[t.PrimaryID].(string)
	}
	return out
}

func widgetIDs(ns ...int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = rowID("widget", n)
	}
	return out
}

func query(t *testing.T, d store.Data, tb *schema.Table, q store.Query) []store.Row {
	t.Helper()
	rows, err := d.Query(t.Context(), tb, q)
	if err != nil {
		t.Fatalf("Query %s %+v: %v", tb.LogicalName, q, err)
	}
	return rows
}

// checkWhere checks which widgets (of 1..6 seeded) match where, as a set.
func checkWhere(t *testing.T, d store.Data, s *schema.Schema, what string, where store.Cond, want ...int) {
	t.Helper()
	tb := s.Table("new_widget")
	rows, err := d.Query(t.Context(), tb, store.Query{Columns: []string{"new_widgetid"}, Where: where, OrderBy: []store.Order{{Column: "new_widgetid"}}})
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if got, w := ids(tb, rows), widgetIDs(want...); !slices.Equal(got, w) {
		t.Errorf("%s: got %d rows %v, want widgets %v", what, len(got), got, want)
	}
	n, err := d.Count(t.Context(), tb, where)
	if err != nil || n != len(want) {
		t.Errorf("%s: Count = %d, %v; want %d", what, n, err, len(want))
	}
}

// --- tests ---

func testDataRoundTrip(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	wt := s.Table("new_widget")
	seedRows(t, d, s, 2, 0)
	for n := 1; n <= 2; n++ {
		w := widget(n)
		v := insert(t, d, wt, w)
		if v <= 0 {
			t.Errorf("Insert returned version %d", v)
		}
		got, err := d.Get(ctx, wt, rowID("widget", n), nil)
		must(t, "Get", err)
		if got["versionnumber"] != v {
			t.Errorf("versionnumber %v, want %d (returned by Insert)", got["versionnumber"], v)
		}
		checkRow(t, fmt.Sprintf("widget %d", n), w, got)
	}
	// Upper-case id: found (GUIDs are case-insensitive).
	if _, err := d.Get(ctx, wt, strings.ToUpper(rowID("widget", 1)), []string{"new_name"}); err != nil {
		t.Errorf("Get with an upper-case id: %v", err)
	}
	// Polymorphic lookups keep their table; single-target lookups get it.
	ct := s.Table(schema.TableContact)
	c := store.Row{"contactid": rowID("contact", 1), "lastname": "Lovelace", "parentcustomerid": store.Ref{ID: rowID("account", 2), Table: schema.TableAccount},
		"ownerid": store.Ref{ID: rowID("team", 1), Table: schema.TableTeam}}
	insert(t, d, ct, c)
	c2 := store.Row{"contactid": rowID("contact", 2), "lastname": "Hopper", "parentcustomerid": store.Ref{ID: rowID("contact", 1), Table: schema.TableContact},
		"ownerid": store.Ref{ID: rowID("user", 1), Table: schema.TableSystemUser}}
	insert(t, d, ct, c2)
	for _, want := range []store.Row{c, c2} {
		got, err := d.Get(ctx, ct, want["contactid"].(string), []string{"contactid", "lastname", "parentcustomerid", "ownerid", "birthdate"})
		must(t, "Get contact", err)
		checkRow(t, "contact", want, got)
	}
	// An upper-case GUID in a lookup is stored lower-case.
	w3 := widget(3)
	w3["new_accountid"] = store.Ref{ID: strings.ToUpper(rowID("account", 1)), Table: schema.TableAccount}
	insert(t, d, wt, w3)
	got, err := d.Get(ctx, wt, rowID("widget", 3), []string{"new_accountid"})
	must(t, "Get", err)
	if r, _ := got["new_accountid"].(store.Ref); r.ID != rowID("account", 1) {
		t.Errorf("lookup stored as %+v, want lower-case id %s", got["new_accountid"], rowID("account", 1))
	}
	// Nulls.
	sparse := store.Row{"new_widgetid": rowID("widget", 9), "new_name": "sparse", "new_count": nil}
	insert(t, d, wt, sparse)
	got, err = d.Get(ctx, wt, rowID("widget", 9), nil)
	must(t, "Get sparse", err)
	checkRow(t, "sparse widget", store.Row{"new_widgetid": rowID("widget", 9), "new_name": "sparse"}, got)
	_, err = d.Get(ctx, wt, rowID("widget", 99), nil)
	wantErr(t, "Get missing", err, store.ErrNotFound)
}

func testDataColumns(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	wt := s.Table("new_widget")
	seedRows(t, d, s, 2, 1)
	got, err := d.Get(ctx, wt, rowID("widget", 1), []string{"new_name", "new_flag", "ownerid"})
	must(t, "Get columns", err)
	if len(got) != 3 {
		t.Errorf("Get with 3 columns returned %d: %v", len(got), got)
	}
	checkRow(t, "Get columns", store.Row{"new_name": "Widget 01", "new_flag": false, "ownerid": store.Ref{ID: rowID("user", 1), Table: schema.TableSystemUser}}, got)
	if _, err := d.Get(ctx, wt, rowID("widget", 1), []string{"nosuchcolumn"}); err == nil {
		t.Error("Get with an unknown column: no error")
	}
	rows := query(t, d, wt, store.Query{Columns: []string{"new_code"}})
	if len(rows) != 1 || len(rows[0]) != 1 || rows[0]["new_code"] != "W-001" {
		t.Errorf("Query with one column: %v", rows)
	}
}

func testDataConflicts(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	wt := s.Table("new_widget")
	seedRows(t, d, s, 2, 1)
	dup := widget(2)
	dup["new_widgetid"] = rowID("widget", 1)
	_, err := d.Insert(ctx, wt, dup)
	wantErr(t, "Insert with an existing id", err, store.ErrConflict)
	if _, err := d.Insert(ctx, wt, store.Row{"new_name": "no id"}); err == nil {
		t.Error("Insert without a primary id: no error")
	}
	got, err := d.Get(ctx, wt, rowID("widget", 1), []string{"new_name"})
	must(t, "Get", err)
	if got["new_name"] != "Widget 01" {
		t.Errorf("the refused insert changed the row: %v", got)
	}
	n, err := d.Count(ctx, wt, nil)
	if err != nil || n != 1 {
		t.Errorf("Count after refused inserts = %d, %v; want 1", n, err)
	}
}

func testDataAlternateKeys(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	wt := s.Table("new_widget")
	seedRows(t, d, s, 2, 2)
	w := widget(3)
	w["new_code"] = "w-001" // widget 1's key in another case
	_, err := d.Insert(ctx, wt, w)
	wantErr(t, "Insert with an existing alternate key (other case)", err, store.ErrConflict)
	w["new_code"] = "W-003"
	insert(t, d, wt, w)
	_, err = d.Update(ctx, wt, rowID("widget", 3), store.Row{"new_code": "W-002"}, 0)
	wantErr(t, "Update to an existing alternate key", err, store.ErrConflict)
	// Nulls do not collide.
	for _, n := range []int{4, 5} {
		w := widget(n)
		delete(w, "new_code")
		insert(t, d, wt, w)
	}
	rows := query(t, d, wt, store.Query{Where: store.Compare{Column: "new_code", Op: "eq", Value: "W-003"}})
	if len(rows) != 1 {
		t.Errorf("rows with key W-003: %d", len(rows))
	}
}

func testDataSyncExtends(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 1, 1)
	must(t, "Sync again", d.Sync(ctx, s)) // idempotent
	wt := s.Table("new_widget")
	extra := &schema.Column{LogicalName: "new_extra", SchemaName: "new_extra", Type: schema.String, Custom: true}
	extraNum := &schema.Column{LogicalName: "new_extranum", SchemaName: "new_extranum", Type: schema.Decimal, Custom: true}
	wider := wt.WithColumn(extra).WithColumn(extraNum)
	s2, err := s.Replace(wider, nil)
	must(t, "Replace", err)
	// A new table too.
	gadget := schema.NewTable("new_gadget", "new_gadgets", "Gadget", "Gadgets", 10002, schema.OrganizationOwned, "new_name")
	s3, err := s2.With([]*schema.Table{gadget}, nil, nil)
	must(t, "With", err)
	must(t, "Sync extended", d.Sync(ctx, s3))
	must(t, "Sync extended again", d.Sync(ctx, s3))
	got, err := d.Get(ctx, wider, rowID("widget", 1), nil)
	must(t, "Get after extension", err)
	want := widget(1)
	checkRow(t, "old row after extension", want, got)
	_, err = d.Update(ctx, wider, rowID("widget", 1), store.Row{"new_extra": "Extra", "new_extranum": 2.5}, 0)
	must(t, "Update new column", err)
	rows := query(t, d, wider, store.Query{Where: store.Compare{Column: "new_extra", Op: "eq", Value: "EXTRA"}})
	if len(rows) != 1 || rows[0]["new_extranum"] != 2.5 {
		t.Errorf("query on the new column: %v", rows)
	}
	insert(t, d, gadget, store.Row{"new_gadgetid": "9ad90000-0000-4000-8000-000000000001", "new_name": "g"})
	if n, err := d.Count(ctx, gadget, nil); n != 1 || err != nil {
		t.Errorf("new table Count = %d, %v", n, err)
	}
}

func testDataUpdate(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	wt := s.Table("new_widget")
	seedRows(t, d, s, 2, 0)
	v1 := insert(t, d, wt, widget(1))
	v2, err := d.Update(ctx, wt, rowID("widget", 1), store.Row{"new_name": "Renamed", "new_count": nil, "new_flag": true,
		"new_accountid": store.Ref{ID: rowID("account", 2), Table: schema.TableAccount}, "ownerid": store.Ref{ID: rowID("team", 1), Table: schema.TableTeam}}, 0)
	must(t, "Update", err)
	if v2 <= v1 {
		t.Errorf("Update version %d, not after %d", v2, v1)
	}
	got, err := d.Get(ctx, wt, rowID("widget", 1), nil)
	must(t, "Get", err)
	want := widget(1)
	want["new_name"], want["new_flag"] = "Renamed", true
	want["new_accountid"] = store.Ref{ID: rowID("account", 2), Table: schema.TableAccount}
	want["ownerid"] = store.Ref{ID: rowID("team", 1), Table: schema.TableTeam}
	delete(want, "new_count")
	checkRow(t, "updated row", want, got)
	if got["versionnumber"] != v2 {
		t.Errorf("versionnumber %v, want %d", got["versionnumber"], v2)
	}
	_, err = d.Update(ctx, wt, rowID("widget", 1), store.Row{"new_name": "stale"}, v1)
	wantErr(t, "Update with a stale version", err, store.ErrVersion)
	v3, err := d.Update(ctx, wt, strings.ToUpper(rowID("widget", 1)), store.Row{"new_name": "current"}, v2)
	must(t, "Update with the current version (upper-case id)", err)
	if v3 <= v2 {
		t.Errorf("version %d not after %d", v3, v2)
	}
	_, err = d.Update(ctx, wt, rowID("widget", 8), store.Row{"new_name": "x"}, 0)
	wantErr(t, "Update missing", err, store.ErrNotFound)
	_, err = d.Update(ctx, wt, rowID("widget", 8), store.Row{"new_name": "x"}, 5)
	wantErr(t, "Update missing with a version", err, store.ErrNotFound)
	// The primary id is not changed by an update.
	_, err = d.Update(ctx, wt, rowID("widget", 1), store.Row{"new_widgetid": rowID("widget", 7), "new_name": "same id"}, 0)
	must(t, "Update with the id in the row", err)
	if _, err := d.Get(ctx, wt, rowID("widget", 1), nil); err != nil {
		t.Errorf("row lost its id: %v", err)
	}
}

func testDataDelete(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	wt := s.Table("new_widget")
	seedRows(t, d, s, 2, 3)
	must(t, "Associate", d.Associate(ctx, widgetAccounts, rowID("widget", 1), rowID("account", 1)))
	must(t, "Associate", d.Associate(ctx, widgetAccounts, rowID("widget", 2), rowID("account", 1)))
	got, err := d.Get(ctx, wt, rowID("widget", 1), []string{"versionnumber"})
	must(t, "Get", err)
	v := got["versionnumber"].(int64)
	wantErr(t, "Delete with a stale version", d.Delete(ctx, wt, rowID("widget", 1), v-1), store.ErrVersion)
	must(t, "Delete with the current version", d.Delete(ctx, wt, rowID("widget", 1), v))
	_, err = d.Get(ctx, wt, rowID("widget", 1), nil)
	wantErr(t, "Get deleted", err, store.ErrNotFound)
	wantErr(t, "Delete again", d.Delete(ctx, wt, rowID("widget", 1), 0), store.ErrNotFound)
	wantErr(t, "Delete missing with a version", d.Delete(ctx, wt, rowID("widget", 1), 3), store.ErrNotFound)
	// Its link went with it; widget 2's stayed.
	wantErr(t, "Disassociate the deleted row's link", d.Disassociate(ctx, widgetAccounts, rowID("widget", 1), rowID("account", 1)), store.ErrNotFound)
	must(t, "Delete account 1 (upper-case id)", d.Delete(ctx, s.Table(schema.TableAccount), strings.ToUpper(rowID("account", 1)), 0))
	wantErr(t, "Disassociate the deleted account's link", d.Disassociate(ctx, widgetAccounts, rowID("widget", 2), rowID("account", 1)), store.ErrNotFound)
	n, err := d.Count(ctx, wt, nil)
	if err != nil || n != 2 {
		t.Errorf("Count after delete = %d, %v; want 2", n, err)
	}
}

func testDataCompare(t *testing.T, d store.Data) {
	s := synced(t, d)
	seedRows(t, d, s, 2, 6)
	ref := func(n int) store.Ref { return store.Ref{ID: rowID("account", n), Table: schema.TableAccount} }
	cases := []struct {
		what  string
		where store.Cond
		want  []int
	}{
		{"text eq, other case", store.Compare{Column: "new_name", Op: "eq", Value: "WIDGET 03"}, []int{3}},
		{"text ne", store.Compare{Column: "new_name", Op: "ne", Value: "widget 03"}, []int{1, 2, 4, 5, 6}},
		{"text gt, case-insensitive", store.Compare{Column: "new_name", Op: "gt", Value: "WIDGET 04"}, []int{5, 6}},
		{"text le", store.Compare{Column: "new_code", Op: "le", Value: "w-002"}, []int{1, 2}},
		{"integer gt", store.Compare{Column: "new_count", Op: "gt", Value: int64(30)}, []int{4, 5, 6}},
		{"integer ge with a fraction", store.Compare{Column: "new_count", Op: "ge", Value: 29.5}, []int{3, 4, 5, 6}},
		{"integer lt", store.Compare{Column: "new_count", Op: "lt", Value: int64(20)}, []int{1}},
		{"bigint eq", store.Compare{Column: "new_big", Op: "eq", Value: int64(5_000_000_000_000)}, []int{5}},
		{"money ge", store.Compare{Column: "new_price", Op: "ge", Value: 4.25}, []int{4, 5, 6}},
		{"money gt with an integer", store.Compare{Column: "new_price", Op: "gt", Value: int64(4)}, []int{4, 5, 6}},
		{"decimal eq", store.Compare{Column: "new_dec", Op: "eq", Value: 4.5}, []int{3}},
		{"double lt", store.Compare{Column: "new_ratio", Op: "lt", Value: 0.3}, []int{1, 2}},
		{"boolean eq true", store.Compare{Column: "new_flag", Op: "eq", Value: true}, []int{2, 4, 6}},
		{"boolean ne true", store.Compare{Column: "new_flag", Op: "ne", Value: true}, []int{1, 3, 5}},
		{"datetime gt", store.Compare{Column: "new_when", Op: "gt", Value: when.Add(4 * time.Hour)}, []int{5, 6}},
		{"datetime le, other zone", store.Compare{Column: "new_when", Op: "le", Value: when.Add(2 * time.Hour).In(zone)}, []int{1, 2}},
		{"choice eq", store.Compare{Column: "new_kind", Op: "eq", Value: int64(100000000)}, []int{3, 6}},
		{"guid eq", store.Compare{Column: "new_guid", Op: "eq", Value: "9a1d0000-0000-4000-8000-000000000004"}, []int{4}},
		{"lookup eq Ref", store.Compare{Column: "new_accountid", Op: "eq", Value: ref(1)}, []int{2, 4, 6}},
		{"lookup eq string", store.Compare{Column: "new_accountid", Op: "eq", Value: rowID("account", 2)}, []int{1, 3, 5}},
		{"lookup eq upper-case Ref", store.Compare{Column: "new_accountid", Op: "eq", Value: store.Ref{ID: strings.ToUpper(rowID("account", 1))}}, []int{2, 4, 6}},
		{"owner eq", store.Compare{Column: "ownerid", Op: "eq", Value: store.Ref{ID: rowID("user", 1), Table: schema.TableSystemUser}}, []int{1, 2, 3, 4, 5, 6}},
		{"null eq", store.Compare{Column: "new_parentid", Op: "eq", Value: nil}, []int{1, 2, 3, 4, 5, 6}},
		{"null ne", store.Compare{Column: "new_parentid", Op: "ne", Value: nil}, nil},
		{"null gt", store.Compare{Column: "new_count", Op: "gt", Value: nil}, nil},
		{"band", store.Compare{Column: "new_count", Op: "band", Value: int64(8)}, []int{1, 3, 4, 6}}, // 10 30 40 60 have bit 8
		{"columns eq", store.CompareColumns{Left: "new_name", Op: "eq", Right: "new_name"}, []int{1, 2, 3, 4, 5, 6}},
		// new_dec = 1.5n > new_price = n + 0.25 for every n >= 1.
		{"columns lt", store.CompareColumns{Left: "new_dec", Op: "lt", Right: "new_price"}, nil},
		{"columns gt", store.CompareColumns{Left: "new_dec", Op: "gt", Right: "new_price"}, []int{1, 2, 3, 4, 5, 6}},
	}
	for _, c := range cases {
		checkWhere(t, d, s, c.what, c.where, c.want...)
	}
	// Text columns compared with each other ignore case too.
	wt := s.Table("new_widget")
	_, err := d.Update(t.Context(), wt, rowID("widget", 2), store.Row{"new_memo": "WIDGET 02"}, 0)
	must(t, "Update", err)
	checkWhere(t, d, s, "text columns eq, other case", store.CompareColumns{Left: "new_name", Op: "eq", Right: "new_memo"}, 2)
}

func testDataMatch(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 2, 6)
	wt := s.Table("new_widget")
	for n, name := range map[int]string{1: `Alpha_1`, 2: `alphaX1`, 3: `Beta 100%`, 4: `back\slash`, 5: `GAMMA`, 6: `delta`} {
		_, err := d.Update(ctx, wt, rowID("widget", n), store.Row{"new_name": name}, 0)
		must(t, "Update", err)
	}
	cases := []struct {
		what string
		m    store.Match
		want []int
	}{
		{"contains, other case", store.Match{Column: "new_name", Mode: "contains", Pattern: "AMM"}, []int{5}},
		{"startswith", store.Match{Column: "new_name", Mode: "startswith", Pattern: "alpha"}, []int{1, 2}},
		{"endswith", store.Match{Column: "new_name", Mode: "endswith", Pattern: "TA"}, []int{6}},
		{"underscore is a wildcard", store.Match{Column: "new_name", Mode: "startswith", Pattern: "alpha_1"}, []int{1, 2}},
		{"percent is a wildcard", store.Match{Column: "new_name", Mode: "startswith", Pattern: "b%0"}, []int{3}},
		{"backslash is a character", store.Match{Column: "new_name", Mode: "contains", Pattern: `k\s`}, []int{4}},
		{"no match", store.Match{Column: "new_name", Mode: "contains", Pattern: "zeta"}, nil},
	}
	for _, c := range cases {
		checkWhere(t, d, s, c.what, c.m, c.want...)
	}
	// Characters above ASCII after the prefix still match (an engine that
	// turns the prefix into a range must bound it above all of them).
	_, err := d.Update(ctx, wt, rowID("widget", 6), store.Row{"new_name": "deltAÿ中😀􏿽"}, 0)
	must(t, "Update", err)
	checkWhere(t, d, s, "startswith, then characters above ASCII", store.Match{Column: "new_name", Mode: "startswith", Pattern: "DELTA"}, 6)
	checkWhere(t, d, s, "startswith the whole value", store.Match{Column: "new_name", Mode: "startswith", Pattern: "deltAÿ中😀􏿽"}, 6)
	checkWhere(t, d, s, "startswith, a prefix that sorts after every value", store.Match{Column: "new_name", Mode: "startswith", Pattern: "􏿽"})
	if _, err := d.Query(ctx, wt, store.Query{Where: store.Match{Column: "new_name", Mode: "sounds-like", Pattern: "x"}}); err == nil {
		t.Error("Match with an unknown mode: no error")
	}
}

func testDataIn(t *testing.T, d store.Data) {
	s := synced(t, d)
	seedRows(t, d, s, 2, 6)
	checkWhere(t, d, s, "in text, other case", store.In{Column: "new_code", Values: []any{"w-002", "W-005", "nope"}}, 2, 5)
	checkWhere(t, d, s, "in integers", store.In{Column: "new_count", Values: []any{int64(10), int64(60)}}, 1, 6)
	checkWhere(t, d, s, "in ids", store.In{Column: "new_widgetid", Values: []any{rowID("widget", 3)}}, 3)
	checkWhere(t, d, s, "in nothing", store.In{Column: "new_code", Values: nil})
	checkWhere(t, d, s, "in query", store.InQuery{Column: "new_accountid", Table: s.Table(schema.TableAccount), Select: "accountid",
		Where: store.Compare{Column: "name", Op: "eq", Value: "ACCOUNT 2"}}, 1, 3, 5)
}

func testDataLogic(t *testing.T, d store.Data) {
	s := synced(t, d)
	seedRows(t, d, s, 2, 6)
	gt2 := store.Compare{Column: "new_count", Op: "gt", Value: int64(20)}
	flag := store.Compare{Column: "new_flag", Op: "eq", Value: true}
	checkWhere(t, d, s, "and", store.And{gt2, flag}, 4, 6)
	checkWhere(t, d, s, "or", store.Or{store.Compare{Column: "new_count", Op: "eq", Value: int64(10)}, flag}, 1, 2, 4, 6)
	checkWhere(t, d, s, "not", store.Not{C: flag}, 1, 3, 5)
	checkWhere(t, d, s, "empty and", store.And{}, 1, 2, 3, 4, 5, 6)
	checkWhere(t, d, s, "empty or", store.Or{}, nil...)
	checkWhere(t, d, s, "true", store.Bool(true), 1, 2, 3, 4, 5, 6)
	checkWhere(t, d, s, "false", store.Bool(false))
	checkWhere(t, d, s, "nested", store.And{store.Or{store.Not{C: gt2}, store.Bool(false)}, store.Not{C: store.Not{C: flag}}}, 2)
	// Not of a comparison with a null column is not true (three-valued logic).
	checkWhere(t, d, s, "not on nulls", store.Not{C: store.Compare{Column: "new_parentid", Op: "eq", Value: rowID("widget", 1)}})
}

func testDataRelated(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 2, 6)
	wt, at := s.Table("new_widget"), s.Table(schema.TableAccount)
	// Widgets 2 and 3 are children of widget 1; 4 of 2.
	for child, parent := range map[int]int{2: 1, 3: 1, 4: 2} {
		_, err := d.Update(ctx, wt, rowID("widget", child), store.Row{"new_parentid": store.Ref{ID: rowID("widget", parent), Table: "new_widget"}}, 0)
		must(t, "Update parent", err)
	}
	checkWhere(t, d, s, "related", store.Related{Column: "new_accountid", Table: at, Where: store.Compare{Column: "name", Op: "eq", Value: "account 1"}}, 2, 4, 6)
	checkWhere(t, d, s, "related, nested", store.Related{Column: "new_parentid", Table: wt,
		Where: store.Related{Column: "new_accountid", Table: at, Where: store.Compare{Column: "numberofemployees", Op: "eq", Value: int64(200)}}}, 2, 3)
	checkWhere(t, d, s, "related without condition", store.Related{Column: "new_parentid", Table: wt}, 2, 3, 4)
	checkWhere(t, d, s, "children any", store.Children{Table: wt, Column: "new_parentid", Where: store.Compare{Column: "new_count", Op: "gt", Value: int64(25)}}, 1, 2)
	checkWhere(t, d, s, "children all", store.Children{Table: wt, Column: "new_parentid", All: true, Where: store.Compare{Column: "new_count", Op: "gt", Value: int64(25)}}, 2, 3, 4, 5, 6)
	checkWhere(t, d, s, "children any without condition", store.Children{Table: wt, Column: "new_parentid"}, 1, 2)
	must(t, "Associate", d.Associate(ctx, widgetAccounts, rowID("widget", 1), rowID("account", 1)))
	must(t, "Associate", d.Associate(ctx, widgetAccounts, rowID("widget", 1), rowID("account", 2)))
	must(t, "Associate", d.Associate(ctx, widgetAccounts, rowID("widget", 5), rowID("account", 2)))
	acct2 := store.Compare{Column: "name", Op: "eq", Value: "ACCOUNT 2"}
	checkWhere(t, d, s, "linked any", store.Linked{Intersect: widgetAccounts.Intersect, ThisCol: "new_widgetid", OtherCol: "accountid", Target: at, Where: acct2}, 1, 5)
	checkWhere(t, d, s, "linked all", store.Linked{Intersect: widgetAccounts.Intersect, ThisCol: "new_widgetid", OtherCol: "accountid", Target: at, Where: acct2, All: true}, 2, 3, 4, 5, 6)
	// And from the other side.
	rows := query(t, d, at, store.Query{Where: store.Linked{Intersect: widgetAccounts.Intersect, ThisCol: "accountid", OtherCol: "new_widgetid", Target: wt,
		Where: store.Compare{Column: "new_code", Op: "eq", Value: "w-005"}}})
	if got := ids(at, rows); !slices.Equal(got, []string{rowID("account", 2)}) {
		t.Errorf("linked from account: %v", got)
	}
}

func testDataOrder(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 2, 6)
	wt := s.Table("new_widget")
	for n, name := range map[int]string{1: "banana", 2: "Apple", 3: "cherry", 4: "apricot", 5: "Blueberry"} {
		_, err := d.Update(ctx, wt, rowID("widget", n), store.Row{"new_name": name}, 0)
		must(t, "Update", err)
	}
	_, err := d.Update(ctx, wt, rowID("widget", 6), store.Row{"new_name": nil}, 0)
	must(t, "Update", err)
	order := func(what string, q store.Query, want ...int) {
		t.Helper()
		q.Columns = []string{"new_widgetid", "new_name"}
		if got, w := ids(wt, query(t, d, wt, q)), widgetIDs(want...); !slices.Equal(got, w) {
			t.Errorf("%s: got %v, want widgets %v", what, got, want)
		}
	}
	order("text ascending, case-insensitive, nulls first", store.Query{OrderBy: []store.Order{{Column: "new_name"}}}, 6, 2, 4, 1, 5, 3)
	order("text descending, nulls last", store.Query{OrderBy: []store.Order{{Column: "new_name", Desc: true}}}, 3, 5, 1, 4, 2, 6)
	order("two keys", store.Query{OrderBy: []store.Order{{Column: "new_flag"}, {Column: "new_count", Desc: true}}}, 5, 3, 1, 6, 4, 2)
	order("limit", store.Query{OrderBy: []store.Order{{Column: "new_count"}}, Limit: 2}, 1, 2)
	order("limit and offset", store.Query{OrderBy: []store.Order{{Column: "new_count"}}, Limit: 2, Offset: 3}, 4, 5)
	order("offset only", store.Query{OrderBy: []store.Order{{Column: "new_count"}}, Offset: 4}, 5, 6)
	order("filter, order, limit", store.Query{Where: store.Compare{Column: "new_flag", Op: "eq", Value: false},
		OrderBy: []store.Order{{Column: "new_when", Desc: true}}, Limit: 2}, 5, 3)
	if _, err := d.Query(ctx, wt, store.Query{OrderBy: []store.Order{{Column: "nosuchcolumn"}}}); err == nil {
		t.Error("order by an unknown column: no error")
	}
}

func testDataCount(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	wt := s.Table("new_widget")
	if n, err := d.Count(ctx, wt, nil); n != 0 || err != nil {
		t.Errorf("Count of an empty table = %d, %v", n, err)
	}
	seedRows(t, d, s, 2, 6)
	if n, err := d.Count(ctx, wt, nil); n != 6 || err != nil {
		t.Errorf("Count = %d, %v; want 6", n, err)
	}
	if n, err := d.Count(ctx, wt, store.Compare{Column: "new_flag", Op: "eq", Value: true}); n != 3 || err != nil {
		t.Errorf("Count with a condition = %d, %v; want 3", n, err)
	}
}

func testDataManyToMany(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 2, 2)
	w1, a1 := rowID("widget", 1), rowID("account", 1)
	must(t, "Associate", d.Associate(ctx, widgetAccounts, w1, a1))
	wantErr(t, "Associate again", d.Associate(ctx, widgetAccounts, w1, a1), store.ErrConflict)
	wantErr(t, "Associate again, upper case", d.Associate(ctx, widgetAccounts, strings.ToUpper(w1), strings.ToUpper(a1)), store.ErrConflict)
	must(t, "Disassociate (upper case)", d.Disassociate(ctx, widgetAccounts, strings.ToUpper(w1), a1))
	wantErr(t, "Disassociate again", d.Disassociate(ctx, widgetAccounts, w1, a1), store.ErrNotFound)
	must(t, "Associate after Disassociate", d.Associate(ctx, widgetAccounts, w1, a1))
	// The system schema's own relationships work too.
	roles := s.ManyToManys()[0]
	must(t, "Associate "+roles.SchemaName, d.Associate(ctx, roles, rowID("user", 1), rowID("team", 1)))
}

func testDataBadInput(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 1, 1)
	wt := s.Table("new_widget")
	bad := []struct {
		what string
		err  error
	}{
		{"unknown column in Insert", func() error {
			_, err := d.Insert(ctx, wt, store.Row{"new_widgetid": rowID("widget", 5), "nosuch": "x"})
			return err
		}()},
		{"unknown column in Update", func() error {
			_, err := d.Update(ctx, wt, rowID("widget", 1), store.Row{"nosuch": "x"}, 0)
			return err
		}()},
		{"unsupported value type", func() error {
			_, err := d.Update(ctx, wt, rowID("widget", 1), store.Row{"new_name": []int{1}}, 0)
			return err
		}()},
		{"unknown column in a condition", func() error {
			_, err := d.Query(ctx, wt, store.Query{Where: store.Compare{Column: "nosuch", Op: "eq", Value: "x"}})
			return err
		}()},
		{"unknown operator", func() error {
			_, err := d.Query(ctx, wt, store.Query{Where: store.Compare{Column: "new_name", Op: "like", Value: "x"}})
			return err
		}()},
		{"unknown column in a count", func() error {
			_, err := d.Count(ctx, wt, store.Compare{Column: "nosuch", Op: "eq", Value: "x"})
			return err
		}()},
	}
	for _, b := range bad {
		if b.err == nil {
			t.Errorf("%s: no error", b.what)
		} else if errors.Is(b.err, store.ErrNotFound) || errors.Is(b.err, store.ErrConflict) {
			t.Errorf("%s: %v, a store error for a caller's mistake", b.what, b.err)
		}
	}
	// Nothing changed, and the store still works.
	got, err := d.Get(ctx, wt, rowID("widget", 1), nil)
	must(t, "Get after bad input", err)
	checkRow(t, "row after bad input", widget(1), got)
	if _, err := d.Get(ctx, wt, rowID("widget", 5), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused insert left a row: %v", err)
	}
	// Values that look like SQL are only values.
	w := widget(7)
	w["new_name"] = `x'); DROP TABLE "new_widget"; --`
	insert(t, d, wt, w)
	checkWhere(t, d, s, "value with SQL in it", store.Compare{Column: "new_name", Op: "eq", Value: w["new_name"]}, 7)
}

func testDataInTx(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 2, 1)
	wt := s.Table("new_widget")
	boom := errors.New("boom")
	err := d.InTx(ctx, func(tx store.Data) error {
		insert(t, tx, wt, widget(2))
		if _, err := tx.Update(ctx, wt, rowID("widget", 1), store.Row{"new_name": "changed in tx"}, 0); err != nil {
			return err
		}
		if err := tx.Associate(ctx, widgetAccounts, rowID("widget", 2), rowID("account", 1)); err != nil {
			return err
		}
		if err := tx.SetMeta(ctx, "tx/key", []byte("v")); err != nil {
			return err
		}
		// The transaction sees its own writes.
		if n, err := tx.Count(ctx, wt, nil); n != 2 || err != nil {
			t.Errorf("Count inside the transaction = %d, %v; want 2", n, err)
		}
		// Nested InTx joins the transaction.
		return tx.InTx(ctx, func(inner store.Data) error {
			if _, err := inner.Get(ctx, wt, rowID("widget", 2), nil); err != nil {
				t.Errorf("nested transaction does not see the row: %v", err)
			}
			return boom
		})
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v, want the function's error", err)
	}
	if _, err := d.Get(ctx, wt, rowID("widget", 2), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rolled-back insert is visible: %v", err)
	}
	got, err := d.Get(ctx, wt, rowID("widget", 1), []string{"new_name"})
	must(t, "Get", err)
	if got["new_name"] != "Widget 01" {
		t.Errorf("rolled-back update is visible: %v", got)
	}
	if m, err := d.Meta(ctx, "tx/"); err != nil || len(m) != 0 {
		t.Errorf("rolled-back meta is visible: %v, %v", m, err)
	}
	// Commit.
	must(t, "InTx commit", d.InTx(ctx, func(tx store.Data) error {
		if _, err := tx.Insert(ctx, wt, widget(3)); err != nil {
			return err
		}
		return tx.Delete(ctx, wt, rowID("widget", 1), 0)
	}))
	if _, err := d.Get(ctx, wt, rowID("widget", 3), nil); err != nil {
		t.Errorf("committed insert: %v", err)
	}
	if _, err := d.Get(ctx, wt, rowID("widget", 1), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("committed delete: %v", err)
	}
}

func testDataInTxConflict(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 2, 2)
	wt := s.Table("new_widget")
	must(t, "InTx", d.InTx(ctx, func(tx store.Data) error {
		if _, err := tx.Insert(ctx, wt, widget(1)); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate insert in a transaction: %v, want ErrConflict", err)
		}
		w := widget(3)
		w["new_code"] = "W-002"
		if _, err := tx.Insert(ctx, wt, w); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate key in a transaction: %v, want ErrConflict", err)
		}
		if _, err := tx.Update(ctx, wt, rowID("widget", 1), store.Row{"new_code": "W-002"}, 0); !errors.Is(err, store.ErrConflict) {
			t.Errorf("update to a duplicate key in a transaction: %v, want ErrConflict", err)
		}
		if err := tx.Associate(ctx, widgetAccounts, rowID("widget", 1), rowID("account", 1)); err != nil {
			return err
		}
		if err := tx.Associate(ctx, widgetAccounts, rowID("widget", 1), rowID("account", 1)); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate link in a transaction: %v, want ErrConflict", err)
		}
		if _, err := tx.Update(ctx, wt, rowID("widget", 7), store.Row{"new_name": "x"}, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of a missing row in a transaction: %v, want ErrNotFound", err)
		}
		// The transaction goes on.
		_, err := tx.Insert(ctx, wt, widget(4))
		return err
	}))
	if _, err := d.Get(ctx, wt, rowID("widget", 4), nil); err != nil {
		t.Errorf("insert after the conflicts was not committed: %v", err)
	}
	got, err := d.Get(ctx, wt, rowID("widget", 1), []string{"new_code"})
	must(t, "Get", err)
	if got["new_code"] != "W-001" {
		t.Errorf("refused update changed the row: %v", got)
	}
}

func testDataMeta(t *testing.T, d store.Data) {
	ctx := t.Context()
	if m, err := d.Meta(ctx, ""); err != nil || len(m) != 0 {
		t.Errorf("Meta of a new environment: %v, %v", m, err)
	}
	must(t, "SetMeta", d.SetMeta(ctx, "table/new_a", []byte(`{"a":1}`)))
	must(t, "SetMeta", d.SetMeta(ctx, "table/new_b", []byte{0, 1, 2, 0xff}))
	must(t, "SetMeta", d.SetMeta(ctx, "tables", []byte("x")))
	must(t, "SetMeta", d.SetMeta(ctx, "other/%_", []byte("y")))
	must(t, "SetMeta overwrite", d.SetMeta(ctx, "table/new_a", []byte(`{"a":2}`)))
	m, err := d.Meta(ctx, "table/")
	must(t, "Meta", err)
	if len(m) != 2 || string(m["table/new_a"]) != `{"a":2}` || string(m["table/new_b"]) != "\x00\x01\x02\xff" {
		t.Errorf("Meta(table/) = %q", m)
	}
	if m, _ := d.Meta(ctx, "other/%"); len(m) != 1 {
		t.Errorf("Meta with a wildcard character in the prefix = %q, want only other/%%_", m)
	}
	if m, _ := d.Meta(ctx, "TABLE/"); len(m) != 0 {
		t.Errorf("Meta prefixes are case-sensitive; got %q", m)
	}
	if m, _ := d.Meta(ctx, ""); len(m) != 4 {
		t.Errorf("Meta(\"\") has %d keys, want 4", len(m))
	}
}

func testDataVersions(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 2, 0)
	wt, at := s.Table("new_widget"), s.Table(schema.TableAccount)
	var last int64
	step := func(what string, v int64, err error) {
		t.Helper()
		must(t, what, err)
		if v <= last {
			t.Errorf("%s: version %d not after %d", what, v, last)
		}
		last = v
	}
	v, err := d.Insert(ctx, wt, widget(1))
	step("Insert widget", v, err)
	v, err = d.Update(ctx, at, rowID("account", 1), store.Row{"name": "x"}, 0)
	step("Update account (versions span tables)", v, err)
	v, err = d.Update(ctx, wt, rowID("widget", 1), store.Row{}, 0)
	step("Update with no columns", v, err)
	// A caller's versionnumber is ignored: the store assigns it.
	w := widget(2)
	w["versionnumber"] = int64(1)
	v, err = d.Insert(ctx, wt, w)
	step("Insert with a versionnumber", v, err)
	got, err := d.Get(ctx, wt, rowID("widget", 2), []string{"versionnumber"})
	must(t, "Get", err)
	if got["versionnumber"] != v {
		t.Errorf("versionnumber %v, want %d", got["versionnumber"], v)
	}
}

func testDataConcurrentWrites(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 2, 0)
	wt := s.Table("new_widget")
	const workers, each = 8, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	versions := map[int64]bool{}
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := 100 + w*each + i
				r := widget(n)
				v, err := d.Insert(ctx, wt, r)
				if err == nil {
					v, err = d.Update(ctx, wt, rowID("widget", n), store.Row{"new_count": int64(n)}, v)
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if versions[v] {
					errs <- fmt.Errorf("version %d given twice", v)
				}
				versions[v] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := d.Count(ctx, wt, nil); n != workers*each || err != nil {
		t.Errorf("Count after concurrent inserts = %d, %v; want %d", n, err, workers*each)
	}
}

func testDataSerialisedTx(t *testing.T, d store.Data) {
	ctx := t.Context()
	s := synced(t, d)
	seedRows(t, d, s, 2, 1)
	wt := s.Table("new_widget")
	const workers, each = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := d.InTx(ctx, func(tx store.Data) error {
					r, err := tx.Get(ctx, wt, rowID("widget", 1), []string{"new_count"})
					if err != nil {
						return err
					}
					_, err = tx.Update(ctx, wt, rowID("widget", 1), store.Row{"new_count": r["new_count"].(int64) + 1}, 0)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := d.Get(context.WithoutCancel(ctx), wt, rowID("widget", 1), []string{"new_count"})
	must(t, "Get", err)
	if want := int64(10 + workers*each); got["new_count"] != want {
		t.Errorf("counter after %d read-modify-write transactions = %v, want %d (lost updates)", workers*each, got["new_count"], want)
	}
}
