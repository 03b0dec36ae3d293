package webapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/dataverse"
)

// Accounts and contacts through the Web API, as the app's application
// user — or, with "act as me", impersonating the signed-in user
// (CallerObjectId = their oid), so that the same page shows what the
// user may see.

type field struct {
	Name, Label, Type string // Type: text, email, tel, url, money, int, textarea, account
	Required          bool
	Max               int
}

type entity struct {
	Set, Singular, Plural, Key, Primary, Search string
	Fields                                      []field
	Columns                                     []string // list columns
}

var accounts = &entity{Set: "accounts", Singular: "Account", Plural: "Accounts", Key: "accountid", Primary: "name", Search: "name",
	Fields: []field{
		{Name: "name", Label: "Account name", Type: "text", Required: true, Max: 160},
		{Name: "accountnumber", Label: "Account number", Type: "text", Max: 20},
		{Name: "telephone1", Label: "Main phone", Type: "tel", Max: 50},
		{Name: "emailaddress1", Label: "Email", Type: "email", Max: 100},
		{Name: "websiteurl", Label: "Website", Type: "url", Max: 200},
		{Name: "address1_city", Label: "City", Type: "text", Max: 80},
		{Name: "revenue", Label: "Annual revenue", Type: "money"},
		{Name: "numberofemployees", Label: "Employees", Type: "int"},
		{Name: "description", Label: "Description", Type: "textarea", Max: 2000},
	},
	Columns: []string{"name", "address1_city", "telephone1", "revenue", "numberofemployees"}}

var contacts = &entity{Set: "contacts", Singular: "Contact", Plural: "Contacts", Key: "contactid", Primary: "fullname", Search: "fullname",
	Fields: []field{
		{Name: "firstname", Label: "First name", Type: "text", Max: 50},
		{Name: "lastname", Label: "Last name", Type: "text", Required: true, Max: 50},
		{Name: "emailaddress1", Label: "Email", Type: "email", Max: 100},
		{Name: "telephone1", Label: "Business phone", Type: "tel", Max: 50},
		{Name: "jobtitle", Label: "Job title", Type: "text", Max: 100},
		{Name: "address1_city", Label: "City", Type: "text", Max: 80},
		{Name: "parentcustomerid", Label: "Company (account)", Type: "account"},
	},
	Columns: []string{"fullname", "emailaddress1", "jobtitle", "_parentcustomerid_value"}}

var entities = []*entity{accounts, contacts}

// Label of a list column.
func (e *entity) Label(col string) string {
	for _, f := range e.Fields {
		if f.Name == col || "_"+f.Name+"_value" == col {
			return f.Label
		}
	}
	if col == "fullname" {
		return "Full name"
	}
	return col
}

// selectCols are the columns read for a row.
func (e *entity) selectCols() []string {
	out := []string{e.Key, e.Primary}
	for _, f := range e.Fields {
		if f.Name == e.Primary {
			continue
		}
		if f.Type == "account" {
			out = append(out, "_"+f.Name+"_value")
		} else {
			out = append(out, f.Name)
		}
	}
	return out
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// --- calling Dataverse ---

// dvCall runs fn with the client of the user's organization and the
// request options of the session (impersonation). It answers the request
// itself and returns false when the call could not be made or failed in a
// way the page cannot show inline: organization not connected, service
// protection limits (the wait is honoured: no call is made before it
// ends), missing application user, role or privilege.
func (a *App) dvCall(w http.ResponseWriter, r *http.Request, s *session, nav string, fn func(ctx context.Context, c *dataverse.Client, opts []dataverse.RequestOption) error) bool {
	ec, envURL, err := a.client(s.TenantID)
	if errors.Is(err, errNotConnected) {
		a.render(w, r, s, http.StatusForbidden, "message", &view{Title: "Organization not connected", Nav: nav,
			Problem: "Your organization (tenant " + s.TenantID + ") has not connected a Dataverse environment to Fabrikam Portal yet. An administrator can do it under “Connect your organization”."})
		return false
	}
	if err != nil {
		a.log.Error("portal: client", "err", err)
		a.render(w, r, s, http.StatusBadGateway, "message", &view{Title: "Dataverse unavailable", Nav: nav, Problem: "The environment could not be reached."})
		return false
	}
	ec.mu.Lock()
	until := ec.until
	ec.mu.Unlock()
	if wait := time.Until(until); wait > 0 {
		a.throttledPage(w, r, s, nav, until)
		return false
	}
	var opts []dataverse.RequestOption
	if s.ActAsMe {
		opts = append(opts, dataverse.WithCallerObjectID(s.OID))
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	err = fn(ctx, ec.client, opts)
	if err == nil {
		return true
	}
	e := dataverse.AsError(err)
	switch {
	case dataverse.IsThrottled(err):
		ra := e.RetryAfter
		if ra <= 0 {
			ra = 5 * time.Second
		}
		until := time.Now().Add(ra)
		ec.mu.Lock()
		if until.After(ec.until) {
			ec.until = until
		}
		ec.mu.Unlock()
		a.log.Info("portal: throttled by Dataverse", "environment", envURL, "retry_after", ra)
		a.throttledPage(w, r, s, nav, until)
	case dataverse.IsCannotImpersonate(err):
		a.render(w, r, s, http.StatusForbidden, "message", &view{Title: "Cannot act as you", Nav: nav,
			Problem: "The portal's application user may not impersonate users (it lacks prvActOnBehalfOfAnotherUser). Turn “Act as me” off, or ask your administrator to add that privilege to the app's role."})
	case dataverse.IsNotMemberOfOrganization(err) && s.ActAsMe:
		a.render(w, r, s, http.StatusForbidden, "message", &view{Title: "You are not a user of this environment", Nav: nav,
			Problem: "Dataverse does not know you as a user of the environment (0x80072560). Turn “Act as me” off to see what the app may see."})
	case dataverse.IsPrivilegeDenied(err) || e != nil && e.HasCode(dataverse.CodeAccessCheckFailed):
		who := "The portal's application user"
		if s.ActAsMe {
			who = "You (or the portal's application user)"
		}
		msg := who + " may not do this"
		if m := missingPrivRE.FindStringSubmatch(e.Message); m != nil {
			msg += ": the security role lacks " + m[1]
		}
		a.render(w, r, s, http.StatusForbidden, "message", &view{Title: "Not allowed", Nav: nav, Problem: msg + " (" + e.Code + ")."})
	case e != nil && e.StatusCode == http.StatusForbidden || e != nil && e.Entra != nil:
		a.render(w, r, s, http.StatusForbidden, "message", &view{Title: "Dataverse refused the app", Nav: nav,
			Problem: "The portal cannot work in your organization's environment right now: " + diagnose(err).Problem + " An administrator can check the connection under “Connect your organization”."})
	default:
		a.log.Error("portal: Dataverse call failed", "err", err)
		a.render(w, r, s, http.StatusBadGateway, "message", &view{Title: "Dataverse error", Nav: nav, Problem: "The request failed: " + shortErr(err)})
	}
	return false
}

var missingPrivRE = regexp.MustCompile(`missing (prv\w+) privilege`)

func shortErr(err error) string {
	if e := dataverse.AsError(err); e != nil && e.Message != "" {
		if e.Code != "" {
			return e.Message + " (" + e.Code + ")"
		}
		return e.Message
	}
	return err.Error()
}

func (a *App) throttledPage(w http.ResponseWriter, r *http.Request, s *session, nav string, until time.Time) {
	secs := int(time.Until(until).Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	a.render(w, r, s, http.StatusServiceUnavailable, "throttled", &view{Title: "Please wait", Nav: nav, Throttled: until, RetryAfter: secs})
}

// --- list ---

type listData struct {
	E          *entity
	Rows       []listRow
	Query      string
	Page       int
	Prev, Next string
	Count      int64
}

type listRow struct {
	ID    string
	Cells []string
}

func (a *App) list(w http.ResponseWriter, r *http.Request, s *session, e *entity) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 100 {
		q = q[:100]
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	key := e.Set + "\x00" + q + "\x00" + strconv.FormatBool(s.ActAsMe)
	a.mu.Lock()
	cur := s.cursors[key]
	a.mu.Unlock()
	path := ""
	if page > 1 {
		if page-2 >= len(cur) {
			http.Redirect(w, r, listURL(e, q, 1), http.StatusSeeOther)
			return
		}
		path = cur[page-2]
	} else {
		dq := dataverse.NewQuery().Select(append([]string{e.Key}, e.Columns...)...).OrderBy(e.Primary, e.Key).Count()
		if q != "" {
			dq.Filter(dataverse.Contains(e.Search, q))
		}
		path = dataverse.QueryPath(e.Set, dq)
	}
	d := listData{E: e, Query: q, Page: page, Count: -1}
	var res *dataverse.Page[dataverse.Row]
	ok := a.dvCall(w, r, s, e.Set, func(ctx context.Context, c *dataverse.Client, opts []dataverse.RequestOption) error {
		var err error
		res, err = dataverse.QueryPage[dataverse.Row](ctx, c, path, append(opts, dataverse.WithPageSize(a.c.PageSize), dataverse.WithFormattedValues())...)
		return err
	})
	if !ok {
		return
	}
	d.Count = res.Count
	for _, row := range res.Rows {
		lr := listRow{ID: row.String(e.Key)}
		for _, col := range e.Columns {
			lr.Cells = append(lr.Cells, cellText(row, col))
		}
		d.Rows = append(d.Rows, lr)
	}
	if res.NextLink != "" {
		a.mu.Lock()
		cur = s.cursors[key]
		if len(cur) < page {
			cur = append(cur, res.NextLink)
		} else {
			cur[page-1] = res.NextLink
		}
		if len(s.cursors) > 20 {
			s.cursors = map[string][]string{}
		}
		s.cursors[key] = cur
		a.mu.Unlock()
		d.Next = listURL(e, q, page+1)
	}
	if page > 1 {
		d.Prev = listURL(e, q, page-1)
	}
	a.render(w, r, s, http.StatusOK, "list", &view{Title: e.Plural, Nav: e.Set, Data: d})
}

func listURL(e *entity, q string, page int) string {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/" + e.Set
	}
	return "/" + e.Set + "?" + v.Encode()
}

// cellText shows a value: the formatted value when Dataverse sent one.
func cellText(row dataverse.Row, col string) string {
	if f := row.FormattedValue(col); f != "" {
		return f
	}
	switch v := row[col].(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// --- view, create, edit, delete ---

type rowData struct {
	E       *entity
	ID      string
	ETag    string
	Title   string
	Values  []fieldValue
	Options []option // accounts for the contact's company
}

type fieldValue struct {
	field
	Value   string // as shown
	Input   string // as edited
	Account string // lookup id
}

type option struct{ ID, Name string }

func (a *App) retrieve(w http.ResponseWriter, r *http.Request, s *session, e *entity) (dataverse.Row, bool) {
	id := r.PathValue("id")
	if !guidRE.MatchString(id) {
		a.render(w, r, s, http.StatusNotFound, "message", &view{Title: "Not found", Nav: e.Set, Problem: "There is no such " + strings.ToLower(e.Singular) + "."})
		return nil, false
	}
	var row dataverse.Row
	var notFound bool
	ok := a.dvCall(w, r, s, e.Set, func(ctx context.Context, c *dataverse.Client, opts []dataverse.RequestOption) error {
		var err error
		row, err = c.Retrieve(ctx, e.Set, id, dataverse.NewQuery().Select(e.selectCols()...), append(opts, dataverse.WithFormattedValues())...)
		if dataverse.IsNotFound(err) {
			notFound = true
			return nil
		}
		return err
	})
	if !ok {
		return nil, false
	}
	if notFound {
		a.render(w, r, s, http.StatusNotFound, "message", &view{Title: "Not found", Nav: e.Set,
			Problem: "This " + strings.ToLower(e.Singular) + " does not exist, or " + whoSees(s) + " may not see it."})
		return nil, false
	}
	return row, true
}

func whoSees(s *session) string {
	if s.ActAsMe {
		return "you"
	}
	return "the app"
}

func (a *App) rowData(e *entity, row dataverse.Row) rowData {
	d := rowData{E: e}
	if row != nil {
		d.ID, d.ETag, d.Title = row.String(e.Key), row.ETag(), cellText(row, e.Primary)
	}
	for _, f := range e.Fields {
		fv := fieldValue{field: f}
		if row != nil {
			col := f.Name
			if f.Type == "account" {
				col = "_" + f.Name + "_value"
				fv.Account = row.String(col)
			}
			fv.Value = cellText(row, col)
			switch v := row[col].(type) {
			case float64:
				fv.Input = strconv.FormatFloat(v, 'f', -1, 64)
			case string:
				fv.Input = v
			}
		}
		d.Values = append(d.Values, fv)
	}
	return d
}

func (a *App) view(w http.ResponseWriter, r *http.Request, s *session, e *entity) {
	row, ok := a.retrieve(w, r, s, e)
	if !ok {
		return
	}
	d := a.rowData(e, row)
	a.render(w, r, s, http.StatusOK, "row", &view{Title: d.Title, Nav: e.Set, Data: d})
}

// accountOptions lists accounts for the contact form's company select.
func (a *App) accountOptions(w http.ResponseWriter, r *http.Request, s *session, e *entity, d *rowData) bool {
	if e != contacts {
		return true
	}
	return a.dvCall(w, r, s, e.Set, func(ctx context.Context, c *dataverse.Client, opts []dataverse.RequestOption) error {
		p, err := dataverse.QueryPage[dataverse.Row](ctx, c, dataverse.QueryPath("accounts", dataverse.NewQuery().Select("accountid", "name").OrderBy("name").Top(200)), opts...)
		if err != nil {
			return err
		}
		for _, row := range p.Rows {
			d.Options = append(d.Options, option{ID: row.String("accountid"), Name: row.String("name")})
		}
		return nil
	})
}

func (a *App) newForm(w http.ResponseWriter, r *http.Request, s *session, e *entity) {
	d := a.rowData(e, nil)
	if !a.accountOptions(w, r, s, e, &d) {
		return
	}
	a.render(w, r, s, http.StatusOK, "form", &view{Title: "New " + strings.ToLower(e.Singular), Nav: e.Set, Data: d})
}

func (a *App) editForm(w http.ResponseWriter, r *http.Request, s *session, e *entity) {
	row, ok := a.retrieve(w, r, s, e)
	if !ok {
		return
	}
	d := a.rowData(e, row)
	if !a.accountOptions(w, r, s, e, &d) {
		return
	}
	v := &view{Title: "Edit " + d.Title, Nav: e.Set, Data: d, Form: url.Values{}}
	for _, fv := range d.Values {
		if fv.Type == "account" {
			v.Form.Set(fv.Name, fv.Account)
		} else {
			v.Form.Set(fv.Name, fv.Input)
		}
	}
	a.render(w, r, s, http.StatusOK, "form", v)
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// parseRow validates a posted form into a row to send; every field is
// sent (an empty one clears the column).
func parseRow(e *entity, form url.Values) (dataverse.Row, map[string]string) {
	row := dataverse.Row{}
	errs := map[string]string{}
	for _, f := range e.Fields {
		v := strings.TrimSpace(form.Get(f.Name))
		if f.Required && v == "" {
			errs[f.Name] = "Enter " + strings.ToLower(f.Label) + "."
			continue
		}
		if f.Max > 0 && len([]rune(v)) > f.Max {
			errs[f.Name] = fmt.Sprintf("%s is too long: at most %d characters.", f.Label, f.Max)
			continue
		}
		switch f.Type {
		case "email":
			if v != "" && !emailRE.MatchString(v) {
				errs[f.Name] = "Enter an email address such as pat@example.com."
				continue
			}
		case "url":
			if v != "" {
				if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					errs[f.Name] = "Enter a web address starting with https://."
					continue
				}
			}
		case "money":
			if v == "" {
				row[f.Name] = nil
				continue
			}
			n, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", ""), 64)
			if err != nil || n < 0 || n > 1e15 {
				errs[f.Name] = "Enter an amount, such as 250000 or 1250.50."
				continue
			}
			row[f.Name] = n
			continue
		case "int":
			if v == "" {
				row[f.Name] = nil
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1_000_000_000 {
				errs[f.Name] = "Enter a whole number, 0 or more."
				continue
			}
			row[f.Name] = n
			continue
		case "account":
			if v == "" {
				continue // the company is left as it is
			}
			if !guidRE.MatchString(v) {
				errs[f.Name] = "Choose an account from the list."
				continue
			}
			row[f.Name+"_account@odata.bind"] = dataverse.Bind("accounts", v)
			continue
		}
		if v == "" {
			row[f.Name] = nil
		} else {
			row[f.Name] = v
		}
	}
	return row, errs
}

func (a *App) formAgain(w http.ResponseWriter, r *http.Request, s *session, e *entity, id, etag string, errs map[string]string, problem string) {
	d := a.rowData(e, nil)
	d.ID, d.ETag = id, etag
	if !a.accountOptions(w, r, s, e, &d) {
		return
	}
	title := "New " + strings.ToLower(e.Singular)
	if id != "" {
		title = "Edit " + strings.ToLower(e.Singular)
	}
	a.render(w, r, s, http.StatusUnprocessableEntity, "form", &view{Title: title, Nav: e.Set, Data: d, Errors: errs, Form: r.PostForm, Problem: problem})
}

func (a *App) create(w http.ResponseWriter, r *http.Request, s *session, e *entity) {
	row, errs := parseRow(e, r.PostForm)
	if len(errs) > 0 {
		a.formAgain(w, r, s, e, "", "", errs, "")
		return
	}
	for k, v := range row {
		if v == nil {
			delete(row, k) // nothing to clear in a new row
		}
	}
	var id string
	if !a.dvCall(w, r, s, e.Set, func(ctx context.Context, c *dataverse.Client, opts []dataverse.RequestOption) error {
		var err error
		id, err = c.Create(ctx, e.Set, row, opts...)
		return err
	}) {
		return
	}
	a.done(w, r, "/"+e.Set+"/"+id, e.Singular+" created.")
}

func (a *App) update(w http.ResponseWriter, r *http.Request, s *session, e *entity) {
	id := r.PathValue("id")
	if !guidRE.MatchString(id) {
		http.NotFound(w, r)
		return
	}
	row, errs := parseRow(e, r.PostForm)
	etag := r.PostFormValue("etag")
	if len(errs) > 0 {
		a.formAgain(w, r, s, e, id, etag, errs, "")
		return
	}
	var conflict bool
	if !a.dvCall(w, r, s, e.Set, func(ctx context.Context, c *dataverse.Client, opts []dataverse.RequestOption) error {
		if etag != "" {
			opts = append(opts, dataverse.WithIfMatch(etag))
		}
		err := c.Update(ctx, e.Set, id, row, opts...)
		if dataverse.IsPreconditionFailed(err) {
			conflict = true
			return nil
		}
		return err
	}) {
		return
	}
	if conflict {
		a.formAgain(w, r, s, e, id, "", nil, "Someone changed this "+strings.ToLower(e.Singular)+" since you opened it. Open it again to see their change, then edit.")
		return
	}
	a.done(w, r, "/"+e.Set+"/"+id, e.Singular+" saved.")
}

func (a *App) confirmDelete(w http.ResponseWriter, r *http.Request, s *session, e *entity) {
	row, ok := a.retrieve(w, r, s, e)
	if !ok {
		return
	}
	d := a.rowData(e, row)
	a.render(w, r, s, http.StatusOK, "delete", &view{Title: "Delete " + d.Title, Nav: e.Set, Data: d})
}

func (a *App) remove(w http.ResponseWriter, r *http.Request, s *session, e *entity) {
	id := r.PathValue("id")
	if !guidRE.MatchString(id) {
		http.NotFound(w, r)
		return
	}
	if !a.dvCall(w, r, s, e.Set, func(ctx context.Context, c *dataverse.Client, opts []dataverse.RequestOption) error {
		return c.Delete(ctx, e.Set, id, opts...)
	}) {
		return
	}
	a.done(w, r, "/"+e.Set, e.Singular+" deleted.")
}
