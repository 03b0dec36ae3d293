package console

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// writeAudit records a change made in the console in the environment's
// audit table, in the change's own transaction d (so a committed change
// never lacks its record), as the Web API records its own: userid and
// callinguserid are the administrator's user in the environment.
func writeAudit(ctx context.Context, d store.Data, env *environment.Env, c environment.Caller, action, operation int, table, id, summary string, change any) error {
	at := env.Schema().Table(schema.TableAudit)
	if at == nil {
		return nil
	}
	b, err := json.Marshal(change)
	if err != nil {
		return err
	}
	r := store.Row{
		"summary":        clip(summary, 400),
		"action":         int64(action),
		"operation":      int64(operation),
		"objecttypecode": table,
		"userid":         store.Ref{ID: c.UserID, Table: schema.TableSystemUser},
		"callinguserid":  store.Ref{ID: c.UserID, Table: schema.TableSystemUser},
		"changedata":     string(b),
		"outcome":        "succeeded",
	}
	if directory.IsGUID(id) {
		r["objectid"] = id
	}
	_, err = env.Insert(ctx, d, at, r, c)
	return err
}

// clip shortens s to at most n bytes on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// --- the audit log ---

const auditPageSize = 50

type auditRow struct {
	When                      time.Time
	Action, Table, Summary    string
	Record, RecordURL         string
	User, CallingUser         string
	Outcome                   string
	Change                    string
	Denied, OnBehalf, Console bool
}

type auditData struct {
	Rows       []auditRow
	Actions    []option
	Tables     []string
	Users      []option
	Page       int
	Prev, Next string
	Total      int
}

// auditPage lists the environment's audit records, newest first, filtered
// by event, table, user (who the change was made as, or who called), record
// id and date range.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	ctx := r.Context()
	sch := env.Schema()
	at := sch.Table(schema.TableAudit)
	q := r.URL.Query()
	v := envView(env, "audit", "Audit log")
	v.Form = url.Values{}
	f := fields{}
	var where store.And
	if act := q.Get("action"); act != "" {
		n, err := strconv.Atoi(act)
		if _, ok := at.Column("action").OptionLabel(n); err != nil || !ok {
			f.add("action", "Choose an event from the list.")
		} else {
			where = append(where, store.Compare{Column: "action", Op: "eq", Value: int64(n)})
			v.Form.Set("action", act)
		}
	}
	if t := q.Get("table"); t != "" {
		if sch.Table(t) == nil {
			f.add("table", "Choose a table from the list.")
		} else {
			where = append(where, store.Compare{Column: "objecttypecode", Op: "eq", Value: t})
			v.Form.Set("table", t)
		}
	}
	if u := strings.ToLower(q.Get("user")); u != "" {
		if !directory.IsGUID(u) {
			f.add("user", "Choose a user from the list.")
		} else {
			ref := store.Ref{ID: u, Table: schema.TableSystemUser}
			where = append(where, store.Or{store.Compare{Column: "userid", Op: "eq", Value: ref}, store.Compare{Column: "callinguserid", Op: "eq", Value: ref}})
			v.Form.Set("user", u)
		}
	}
	if rec := strings.ToLower(strings.TrimSpace(q.Get("record"))); rec != "" {
		if !directory.IsGUID(rec) {
			f.add("record", "Enter a record id (a GUID).")
		} else {
			where = append(where, store.Compare{Column: "objectid", Op: "eq", Value: rec})
			v.Form.Set("record", rec)
		}
	}
	var from, to time.Time
	if s := q.Get("from"); s != "" {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			f.add("from", "Enter a date as YYYY-MM-DD.")
		} else {
			from = t
			where = append(where, store.Compare{Column: "createdon", Op: "ge", Value: t})
			v.Form.Set("from", s)
		}
	}
	if s := q.Get("to"); s != "" {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			f.add("to", "Enter a date as YYYY-MM-DD.")
		} else {
			to = t
			where = append(where, store.Compare{Column: "createdon", Op: "lt", Value: t.Add(24 * time.Hour)})
			v.Form.Set("to", s)
		}
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		f.add("to", "The end date is before the start date.")
	}
	page := 1
	if p := q.Get("page"); p != "" {
		if n, err := strconv.Atoi(p); err == nil && n >= 1 && n <= 10000 {
			page = n
		}
	}
	d := auditData{Page: page}
	for _, o := range at.Column("action").Options {
		d.Actions = append(d.Actions, option{ID: strconv.Itoa(o.Value), Name: o.Label})
	}
	for _, t := range sch.Tables() {
		d.Tables = append(d.Tables, t.LogicalName)
	}
	slices.Sort(d.Tables)
	users, userNames, err := s.options(ctx, env, schema.TableSystemUser, nil)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	d.Users = users
	status := http.StatusOK
	if !f.ok() {
		v.Errors, status = f, http.StatusUnprocessableEntity
		for k, vals := range q {
			if _, bad := f[k]; bad {
				v.Form[k] = vals
			}
		}
		v.Data = d
		s.render(w, r, a, status, "audit", v)
		return
	}
	var cond store.Cond
	if len(where) > 0 {
		cond = where
	}
	if d.Total, err = env.Data.Count(ctx, at, cond); err != nil {
		s.fail(w, r, a, err)
		return
	}
	rows, err := env.Data.Query(ctx, at, store.Query{Where: cond, OrderBy: []store.Order{{Column: "createdon", Desc: true}, {Column: "auditid", Desc: true}},
		Limit: auditPageSize + 1, Offset: (page - 1) * auditPageSize})
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	more := len(rows) > auditPageSize
	if more {
		rows = rows[:auditPageSize]
	}
	for _, row := range rows {
		n, _ := row["action"].(int64)
		label, _ := at.Column("action").OptionLabel(int(n))
		when, _ := row["createdon"].(time.Time)
		ar := auditRow{When: when, Action: label, Table: rowStr(row, "objecttypecode"), Summary: rowStr(row, "summary"),
			Record: rowStr(row, "objectid"), User: userNames[rowRef(row, "userid")], CallingUser: userNames[rowRef(row, "callinguserid")],
			Outcome: rowStr(row, "outcome"), Change: prettyJSON(rowStr(row, "changedata")), Denied: n == schema.AuditDenied,
			Console: strings.HasSuffix(rowStr(row, "summary"), "(console)") || strings.Contains(rowStr(row, "summary"), "(console):")}
		if ar.User == "" {
			ar.User = rowRef(row, "userid")
		}
		if ar.CallingUser == "" {
			ar.CallingUser = rowRef(row, "callinguserid")
		}
		ar.OnBehalf = rowRef(row, "userid") != rowRef(row, "callinguserid")
		switch ar.Table {
		case schema.TableSystemUser:
			ar.RecordURL = s.c.Prefix + "/environments/" + env.Name + "/users/" + ar.Record
		case schema.TableRole:
			ar.RecordURL = s.c.Prefix + "/environments/" + env.Name + "/roles/" + ar.Record
		case schema.TableTeam:
			ar.RecordURL = s.c.Prefix + "/environments/" + env.Name + "/teams/" + ar.Record
		}
		if ar.Record == "" {
			ar.RecordURL = ""
		}
		d.Rows = append(d.Rows, ar)
	}
	link := func(p int) string {
		qq := url.Values{}
		for k, vals := range v.Form {
			qq[k] = vals
		}
		qq.Set("page", strconv.Itoa(p))
		return s.c.Prefix + "/environments/" + env.Name + "/audit?" + qq.Encode()
	}
	if page > 1 {
		d.Prev = link(page - 1)
	}
	if more {
		d.Next = link(page + 1)
	}
	v.Data = d
	s.render(w, r, a, status, "audit", v)
}

func prettyJSON(s string) string {
	if s == "" {
		return ""
	}
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") != nil {
		return s
	}
	return clip(buf.String(), 4000)
}
