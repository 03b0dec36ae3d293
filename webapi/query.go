package webapi

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/odata"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// Paging limits (reference §4.9, §4.10).
const (
	maxPageSize = 5000
	maxCount    = 5000
)

// list answers GET set (or a collection navigation property: scope limits
// the rows) with $select, $filter, $orderby, $top, $count, $expand and
// paging (reference §4.9, §4.10).
func (q *request) list(t *schema.Table, scope store.Cond) {
	sel, e := q.selection(t, q.opts.Select)
	if e != nil {
		q.fail(e)
		return
	}
	where, e := q.readableWhere(t, q.opts.Filter, scope)
	if e != nil {
		q.fail(e)
		return
	}
	order, e := q.orderBy(t, q.opts.OrderBy)
	if e != nil {
		q.fail(e)
		return
	}
	page := maxPageSize
	paged := false
	if q.prefer.MaxPageSize > 0 {
		page, paged = q.prefer.MaxPageSize, true
		if page > maxPageSize {
			page = maxPageSize
		}
		q.w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(page))
	} else if q.opts.Top != nil {
		page = *q.opts.Top
		if page > maxPageSize {
			page = maxPageSize
		}
	}
	pageNo := 1
	if q.opts.SkipToken != "" {
		n, ok := parseSkipToken(q.opts.SkipToken)
		if !ok {
			q.fail(badRequest("The $skiptoken value is not valid. Follow @odata.nextLink without changing it."))
			return
		}
		pageNo = n
	}
	limit := page
	if q.opts.Top == nil || paged {
		limit = page + 1 // one more tells whether there is a next page
	}
	rows, err := q.env.Data.Query(q.ctx, t, store.Query{Columns: q.withExpandColumns(t, readColumns(t, sel), q.opts.Expand), Where: where, OrderBy: order,
		Limit: limit, Offset: (pageNo - 1) * page})
	if err != nil {
		q.fail(q.queryError(err))
		return
	}
	more := len(rows) > page
	if more {
		rows = rows[:page]
	}
	values := make([]map[string]any, len(rows))
	for i, r := range rows {
		values[i] = q.encodeRow(t, r, sel)
	}
	if len(q.opts.Expand) > 0 {
		if e := q.expand(t, values, rows, q.opts.Expand); e != nil {
			q.fail(e)
			return
		}
	}
	out := map[string]any{"@odata.context": q.contextURL(t, sel, false), "value": values}
	if q.opts.Count {
		n, err := q.env.Data.Count(q.ctx, t, where)
		if err != nil {
			q.fail(q.queryError(err))
			return
		}
		if n > maxCount {
			n = maxCount
		}
		out["@odata.count"] = n
	}
	ann := q.prefer.IncludeAnnotations
	if ann.Match("Microsoft.Dynamics.CRM.totalrecordcount") {
		total := -1
		if q.opts.Count {
			total = out["@odata.count"].(int)
		}
		out["@Microsoft.Dynamics.CRM.totalrecordcount"] = total
		out["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = total >= maxCount
	}
	if more {
		out["@odata.nextLink"] = q.nextLink(pageNo + 1)
	}
	q.writeJSON(http.StatusOK, out)
}

// queryError maps a store failure of a query; the SQL compiler only fails
// on conditions the Web API should have refused already.
func (q *request) queryError(err error) *Error { return q.internal(err) }

// countSet answers GET set/$count: the number as plain text (reference
// §4.9).
func (q *request) countSet(t *schema.Table, scope store.Cond) {
	where, e := q.readableWhere(t, q.opts.Filter, scope)
	if e != nil {
		q.fail(e)
		return
	}
	n, err := q.env.Data.Count(q.ctx, t, where)
	if err != nil {
		q.fail(q.queryError(err))
		return
	}
	if n > maxCount {
		n = maxCount
	}
	q.w.Header().Set("Content-Type", "text/plain")
	q.w.WriteHeader(http.StatusOK)
	fmt.Fprint(q.w, "\ufeff"+strconv.Itoa(n))
}

var skipTokenRE = regexp.MustCompile(`^<cookie pagenumber="(\d{1,9})"`)

// parseSkipToken reads the page number of a skiptoken this service made.
func parseSkipToken(s string) (int, bool) {
	m := skipTokenRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil && n > 1
}

// nextLink is the URL of the next page: the request's URL with a
// $skiptoken shaped like Dataverse's paging cookie (reference §4.10); its
// content is opaque to clients.
func (q *request) nextLink(page int) string {
	vals := strings.Split(q.r.URL.RawQuery, "&")
	var keep []string
	for _, v := range vals {
		if v != "" && !strings.HasPrefix(v, "$skiptoken=") && !strings.HasPrefix(v, "%24skiptoken=") {
			keep = append(keep, v)
		}
	}
	tok := fmt.Sprintf(`<cookie pagenumber="%d" pagingcookie="%s" istracking="False" />`, page, url.QueryEscape(`<cookie page="`+strconv.Itoa(page-1)+`"></cookie>`))
	keep = append(keep, "$skiptoken="+url.QueryEscape(tok))
	return q.base + q.path + "?" + strings.Join(keep, "&")
}

// readableWhere is where plus the read filter of the principal: rows it
// may not read never leave the database, so paging and counts stay right.
func (q *request) readableWhere(t *schema.Table, f odata.Expr, scope store.Cond) (store.Cond, *Error) {
	filter, e := q.readFilter(t)
	if e != nil {
		return nil, e
	}
	if filter != nil {
		if scope == nil {
			scope = filter
		} else {
			scope = store.And{scope, filter}
		}
	}
	return q.where(t, f, scope)
}

// where combines the $filter with a scope condition (navigation).
func (q *request) where(t *schema.Table, f odata.Expr, scope store.Cond) (store.Cond, *Error) {
	var conds store.And
	if scope != nil {
		conds = append(conds, scope)
	}
	if f != nil {
		c, e := q.compile(t, f, nil)
		if e != nil {
			return nil, e
		}
		conds = append(conds, c)
	}
	switch len(conds) {
	case 0:
		return nil, nil
	case 1:
		return conds[0], nil
	}
	return conds, nil
}

// orderBy resolves $orderby; the primary id is appended so paging is
// stable.
func (q *request) orderBy(t *schema.Table, items []odata.OrderBy) ([]store.Order, *Error) {
	var out []store.Order
	for _, o := range items {
		p, ok := o.Expr.(*odata.Prop)
		if !ok || len(p.Path) != 1 || p.Var != "" {
			return nil, badRequest("The $orderby expression '%s' is not supported: order by a property of the table.", o.Expr.String())
		}
		c := columnByProperty(t, p.Path[0])
		if c == nil {
			return nil, propertyNotFound(t, p.Path[0])
		}
		out = append(out, store.Order{Column: c.LogicalName, Desc: o.Desc})
	}
	return append(out, store.Order{Column: t.PrimaryID}), nil
}

// scope holds lambda range variables: name → table.
type scope map[string]*schema.Table

// incompatible is ODL's error for mismatched operand types.
func incompatible(c *schema.Column, l *odata.Lit, op string) *Error {
	return errorf(http.StatusBadRequest, "0x80060888", "A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", edmType(c), litEdm(l), op)
}

func litEdm(l *odata.Lit) string {
	switch l.Kind {
	case odata.LitString:
		return "Edm.String"
	case odata.LitInt:
		return "Edm.Int32"
	case odata.LitDecimal:
		return "Edm.Decimal"
	case odata.LitDouble:
		return "Edm.Double"
	case odata.LitBool:
		return "Edm.Boolean"
	case odata.LitGUID:
		return "Edm.Guid"
	case odata.LitDate:
		return "Edm.Date"
	case odata.LitDateTimeOffset:
		return "Edm.DateTimeOffset"
	}
	return "Edm.Untyped"
}

// litValue converts a literal to a value of column c's type.
func litValue(t *schema.Table, c *schema.Column, l *odata.Lit) (any, *Error) {
	if l == nil || l.Kind == odata.LitNull {
		return nil, nil
	}
	switch c.Type {
	case schema.String, schema.Memo:
		if l.Kind == odata.LitString {
			return l.Value.(string), nil
		}
	case schema.Integer, schema.BigInt, schema.Choice, schema.State, schema.Status:
		switch l.Kind {
		case odata.LitInt:
			return l.Value.(int64), nil
		case odata.LitString: // choice values quoted, as in PropertyValues arrays
			if n, err := strconv.ParseInt(l.Value.(string), 10, 64); err == nil {
				return n, nil
			}
		}
	case schema.Decimal, schema.Double, schema.Money:
		if f, ok := l.Float(); ok {
			return f, nil
		}
		if l.Kind == odata.LitString {
			if f, err := strconv.ParseFloat(l.Value.(string), 64); err == nil {
				return f, nil
			}
		}
	case schema.Boolean:
		if l.Kind == odata.LitBool {
			return l.Value.(bool), nil
		}
	case schema.DateTime:
		switch l.Kind {
		case odata.LitDate, odata.LitDateTimeOffset:
			return l.Value.(time.Time).UTC(), nil
		case odata.LitString:
			if tm, err := parseDateTime(l.Value.(string)); err == nil {
				return tm, nil
			}
		}
	case schema.UniqueIdentifier:
		if l.Kind == odata.LitGUID {
			return l.Value.(string), nil
		}
		if l.Kind == odata.LitString && isGUID(l.Value.(string)) {
			return strings.ToLower(l.Value.(string)), nil
		}
	case schema.Lookup, schema.Owner, schema.Customer:
		id := ""
		if l.Kind == odata.LitGUID {
			id = l.Value.(string)
		} else if l.Kind == odata.LitString && isGUID(l.Value.(string)) {
			id = strings.ToLower(l.Value.(string))
		}
		if id != "" {
			return store.Ref{ID: id}, nil
		}
	}
	return nil, incompatible(c, l, "Equal")
}

var opNames = map[odata.BinaryOp]string{odata.OpEq: "Equal", odata.OpNe: "NotEqual", odata.OpGt: "GreaterThan",
	odata.OpGe: "GreaterThanOrEqual", odata.OpLt: "LessThan", odata.OpLe: "LessThanOrEqual"}

var flipped = map[odata.BinaryOp]odata.BinaryOp{odata.OpEq: odata.OpEq, odata.OpNe: odata.OpNe, odata.OpGt: odata.OpLt,
	odata.OpGe: odata.OpLe, odata.OpLt: odata.OpGt, odata.OpLe: odata.OpGe}

// compile turns a $filter expression over table t into a store condition,
// type-checking every property and literal. Values travel as typed
// parameters; nothing is ever interpolated into SQL.
func (q *request) compile(t *schema.Table, e odata.Expr, vars scope) (store.Cond, *Error) {
	switch x := e.(type) {
	case *odata.Binary:
		if x.Op == odata.OpAnd || x.Op == odata.OpOr {
			l, err := q.compile(t, x.Left, vars)
			if err != nil {
				return nil, err
			}
			r, err := q.compile(t, x.Right, vars)
			if err != nil {
				return nil, err
			}
			if x.Op == odata.OpAnd {
				return store.And{l, r}, nil
			}
			return store.Or{l, r}, nil
		}
		return q.comparison(t, x, vars)
	case *odata.Not:
		c, err := q.compile(t, x.X, vars)
		if err != nil {
			return nil, err
		}
		return store.Not{C: c}, nil
	case *odata.Call:
		return q.call(t, x, vars)
	case *odata.CRMFunc:
		return q.crmFunc(t, x, vars)
	case *odata.Lambda:
		return q.lambda(t, x, vars)
	case *odata.Lit:
		if b, ok := x.Value.(bool); ok && x.Kind == odata.LitBool {
			return store.Bool(b), nil
		}
	case *odata.Prop:
		// a boolean property used as a condition: isdisabled
		tt, c, wrap, err := q.property(t, x, vars)
		if err != nil {
			return nil, err
		}
		if c.Type == schema.Boolean {
			return wrap(store.Compare{Column: c.LogicalName, Op: "eq", Value: true}), nil
		}
		_ = tt
	}
	return nil, badRequest("The $filter expression '%s' is not a valid condition.", e.String())
}

// property resolves a property path, possibly through single-valued
// navigation properties (primarycontactid/fullname) or from a lambda
// variable. It returns the table and column reached and a function that
// wraps a condition on that column into one on t.
func (q *request) property(t *schema.Table, p *odata.Prop, vars scope) (*schema.Table, *schema.Column, func(store.Cond) store.Cond, *Error) {
	cur := t
	if p.Var != "" {
		vt, ok := vars[p.Var]
		if !ok {
			return nil, nil, nil, badRequest("The range variable '%s' is not defined.", p.Var)
		}
		cur = vt
	}
	path := p.Path
	if len(path) == 0 {
		return nil, nil, nil, badRequest("A property is expected after '%s'.", p.Var)
	}
	var wraps []func(store.Cond) store.Cond
	for len(path) > 1 {
		nav := q.sch.Nav(cur, path[0])
		if nav == nil || nav.Collection() {
			if nav != nil {
				return nil, nil, nil, badRequest("The navigation property '%s' is collection-valued; use any() or all().", path[0])
			}
			return nil, nil, nil, propertyNotFound(cur, path[0])
		}
		col, target := nav.Column.LogicalName, nav.Target
		// A related row the principal may not read matches nothing, so a
		// filter cannot probe its values.
		readable, e := q.readFilter(target)
		if e != nil {
			return nil, nil, nil, e
		}
		wraps = append(wraps, func(c store.Cond) store.Cond {
			if readable != nil {
				c = store.And{c, readable}
			}
			return store.Related{Column: col, Table: target, Where: c}
		})
		cur, path = target, path[1:]
	}
	c := columnByProperty(cur, path[0])
	if c == nil {
		return nil, nil, nil, propertyNotFound(cur, path[0])
	}
	wrap := func(x store.Cond) store.Cond {
		for i := len(wraps) - 1; i >= 0; i-- {
			x = wraps[i](x)
		}
		return x
	}
	return cur, c, wrap, nil
}

func (q *request) comparison(t *schema.Table, x *odata.Binary, vars scope) (store.Cond, *Error) {
	left, right, op := x.Left, x.Right, x.Op
	if _, ok := left.(*odata.Lit); ok {
		left, right, op = right, left, flipped[op]
	}
	lp, ok := unwrapCase(left).(*odata.Prop)
	if !ok {
		return nil, badRequest("The $filter comparison '%s' must compare a property.", x.String())
	}
	lt, lc, wrap, e := q.property(t, lp, vars)
	if e != nil {
		return nil, e
	}
	switch r := unwrapCase(right).(type) {
	case *odata.Lit:
		v, e := litValue(lt, lc, r)
		if e != nil {
			e.Message = strings.Replace(e.Message, "'Equal'", "'"+opNames[op]+"'", 1)
			return nil, e
		}
		if v == nil && op != odata.OpEq && op != odata.OpNe {
			return store.Bool(false), nil
		}
		return wrap(store.Compare{Column: lc.LogicalName, Op: string(op), Value: v}), nil
	case *odata.Prop:
		rt, rc, _, e := q.property(t, r, vars)
		if e != nil {
			return nil, e
		}
		if rt != lt || len(r.Path) != len(lp.Path) || r.Var != lp.Var {
			return nil, badRequest("Column comparisons must compare two columns of the same table.")
		}
		if edmType(lc) != edmType(rc) {
			return nil, errorf(http.StatusBadRequest, "0x80060888", "A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", edmType(lc), edmType(rc), opNames[op])
		}
		return wrap(store.CompareColumns{Left: lc.LogicalName, Op: string(op), Right: rc.LogicalName}), nil
	}
	return nil, badRequest("The $filter comparison '%s' is not supported.", x.String())
}

// unwrapCase drops tolower/toupper/trim: text comparisons are
// case-insensitive in Dataverse anyway.
func unwrapCase(e odata.Expr) odata.Expr {
	for {
		c, ok := e.(*odata.Call)
		if !ok || len(c.Args) != 1 || (c.Name != "tolower" && c.Name != "toupper" && c.Name != "trim") {
			return e
		}
		e = c.Args[0]
	}
}

// call compiles contains, startswith and endswith (case-insensitive).
func (q *request) call(t *schema.Table, x *odata.Call, vars scope) (store.Cond, *Error) {
	switch x.Name {
	case "contains", "startswith", "endswith":
	default:
		return nil, badRequest("The function '%s' is not supported in $filter.", x.Name)
	}
	p, ok := unwrapCase(x.Args[0]).(*odata.Prop)
	l, ok2 := x.Args[1].(*odata.Lit)
	if !ok || !ok2 {
		return nil, badRequest("The function '%s' needs a property and a string.", x.Name)
	}
	_, c, wrap, e := q.property(t, p, vars)
	if e != nil {
		return nil, e
	}
	if !c.Type.IsText() || l.Kind != odata.LitString {
		return nil, errorf(http.StatusBadRequest, "0x80060888", "No function signature for the function with name '%s' matches the specified arguments. The function signatures considered are: %s(Edm.String Nullable=true, Edm.String).", x.Name, x.Name)
	}
	return wrap(store.Match{Column: c.LogicalName, Mode: x.Name, Pattern: l.Value.(string)}), nil
}

// lambda compiles nav/any(x: ...) and nav/all(x: ...) over 1:N and N:N
// navigation properties.
func (q *request) lambda(t *schema.Table, x *odata.Lambda, vars scope) (store.Cond, *Error) {
	src := x.Source
	cur := t
	if src.Var != "" {
		vt, ok := vars[src.Var]
		if !ok {
			return nil, badRequest("The range variable '%s' is not defined.", src.Var)
		}
		cur = vt
	}
	if len(src.Path) != 1 {
		return nil, badRequest("any() and all() apply to a collection-valued navigation property of the table.")
	}
	nav := q.sch.Nav(cur, src.Path[0])
	if nav == nil || !nav.Collection() {
		return nil, badRequest("'%s' is not a collection-valued navigation property of %s.", src.Path[0], cur.LogicalName)
	}
	var where store.Cond
	if x.Body != nil {
		inner := scope{}
		for k, v := range vars {
			inner[k] = v
		}
		inner[x.Var] = nav.Target
		var e *Error
		if where, e = q.compile(nav.Target, x.Body, inner); e != nil {
			return nil, e
		}
	}
	// Only related rows the principal may read take part, so any() and
	// all() cannot probe rows it may not see: all(x: c) over the readable
	// rows is not any(x: readable and not c).
	readable, e := q.readFilter(nav.Target)
	if e != nil {
		return nil, e
	}
	all, negate := !x.Any, false
	if readable != nil {
		switch {
		case all:
			if where == nil {
				where = store.Bool(true)
			}
			where, all, negate = store.And{readable, store.Not{C: where}}, false, true
		case where == nil:
			where = readable
		default:
			where = store.And{where, readable}
		}
	}
	var c store.Cond
	if nav.Many != nil {
		c = store.Children{Table: nav.Target, Column: nav.Many.ReferencingAttribute, Where: where, All: all}
	} else {
		this, other := nav.M2M.Entity1Col, nav.M2M.Entity2Col
		if nav.M2M.Entity1 != cur.LogicalName {
			this, other = other, this
		}
		c = store.Linked{Intersect: nav.M2M.Intersect, ThisCol: this, OtherCol: other, Target: nav.Target, Where: where, All: all}
	}
	if negate {
		c = store.Not{C: c}
	}
	if cur != t {
		return nil, badRequest("Nested lambda sources must start at the table.")
	}
	return c, nil
}

// crmFunc compiles the Dataverse query functions (reference §4.9).
func (q *request) crmFunc(t *schema.Table, f *odata.CRMFunc, vars scope) (store.Cond, *Error) {
	pn, ok := f.Param("PropertyName")
	if !ok {
		return nil, badRequest("The function Microsoft.Dynamics.CRM.%s needs the parameter PropertyName.", f.Name)
	}
	nameLit, ok := pn.(*odata.Lit)
	if !ok || nameLit.Kind != odata.LitString {
		return nil, badRequest("PropertyName of Microsoft.Dynamics.CRM.%s must be a string.", f.Name)
	}
	_, c, wrap, e := q.property(t, &odata.Prop{Path: strings.Split(nameLit.Value.(string), "/")}, vars)
	if e != nil {
		return nil, e
	}
	values := func() ([]any, *Error) {
		pv, ok := f.Param("PropertyValues")
		l, ok2 := pv.(*odata.Lit)
		if !ok || !ok2 || l.Kind != odata.LitArray {
			return nil, badRequest("The function Microsoft.Dynamics.CRM.%s needs PropertyValues, an array.", f.Name)
		}
		var out []any
		for _, item := range l.Value.([]*odata.Lit) {
			v, e := litValue(t, c, item)
			if e != nil {
				return nil, e
			}
			out = append(out, v)
		}
		return out, nil
	}
	value := func() (*odata.Lit, *Error) {
		pv, ok := f.Param("PropertyValue")
		l, ok2 := pv.(*odata.Lit)
		if !ok || !ok2 {
			return nil, badRequest("The function Microsoft.Dynamics.CRM.%s needs PropertyValue.", f.Name)
		}
		return l, nil
	}
	col := c.LogicalName
	cmp := func(op string, v any) store.Cond { return store.Compare{Column: col, Op: op, Value: v} }
	now := time.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	dateRange := func(from, to time.Time) (store.Cond, *Error) {
		if c.Type != schema.DateTime {
			return nil, badRequest("The function Microsoft.Dynamics.CRM.%s applies to date and time columns.", f.Name)
		}
		return wrap(store.And{cmp("ge", from), cmp("lt", to)}), nil
	}
	intValue := func() (int, *Error) {
		l, e := value()
		if e != nil {
			return 0, e
		}
		switch l.Kind {
		case odata.LitInt:
			return int(l.Value.(int64)), nil
		case odata.LitString:
			if n, err := strconv.Atoi(l.Value.(string)); err == nil {
				return n, nil
			}
		}
		return 0, badRequest("PropertyValue of Microsoft.Dynamics.CRM.%s must be a number.", f.Name)
	}
	switch f.Name {
	case "In", "NotIn":
		vs, e := values()
		if e != nil {
			return nil, e
		}
		var in store.Cond = store.In{Column: col, Values: vs}
		if f.Name == "NotIn" {
			in = store.Not{C: in}
		}
		return wrap(in), nil
	case "Between", "NotBetween":
		vs, e := values()
		if e != nil {
			return nil, e
		}
		if len(vs) != 2 {
			return nil, badRequest("PropertyValues of Microsoft.Dynamics.CRM.%s must hold two values.", f.Name)
		}
		var b store.Cond = store.And{cmp("ge", vs[0]), cmp("le", vs[1])}
		if f.Name == "NotBetween" {
			b = store.Not{C: b}
		}
		return wrap(b), nil
	case "EqualUserId", "NotEqualUserId":
		op := "eq"
		if f.Name == "NotEqualUserId" {
			op = "ne"
		}
		return wrap(cmp(op, store.Ref{ID: q.p.UserID})), nil
	case "EqualBusinessId", "NotEqualBusinessId":
		op := "eq"
		if f.Name == "NotEqualBusinessId" {
			op = "ne"
		}
		return wrap(cmp(op, store.Ref{ID: q.p.BU})), nil
	case "Null":
		return wrap(cmp("eq", nil)), nil
	case "NotNull":
		return wrap(cmp("ne", nil)), nil
	case "Today":
		return dateRange(day, day.AddDate(0, 0, 1))
	case "Yesterday":
		return dateRange(day.AddDate(0, 0, -1), day)
	case "Tomorrow":
		return dateRange(day.AddDate(0, 0, 1), day.AddDate(0, 0, 2))
	case "Last7Days":
		return dateRange(now.AddDate(0, 0, -7), now)
	case "Next7Days":
		return dateRange(now, now.AddDate(0, 0, 7))
	case "LastXDays", "NextXDays", "LastXHours", "NextXHours":
		n, e := intValue()
		if e != nil {
			return nil, e
		}
		d := time.Duration(n) * 24 * time.Hour
		if strings.HasSuffix(f.Name, "Hours") {
			d = time.Duration(n) * time.Hour
		}
		if strings.HasPrefix(f.Name, "Last") {
			return dateRange(now.Add(-d), now)
		}
		return dateRange(now, now.Add(d))
	case "On", "OnOrAfter", "OnOrBefore":
		l, e := value()
		if e != nil {
			return nil, e
		}
		v, e := litValue(t, c, l)
		if e != nil {
			return nil, e
		}
		d, ok := v.(time.Time)
		if !ok {
			return nil, badRequest("PropertyValue of Microsoft.Dynamics.CRM.%s must be a date.", f.Name)
		}
		d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		switch f.Name {
		case "On":
			return dateRange(d, d.AddDate(0, 0, 1))
		case "OnOrAfter":
			return wrap(cmp("ge", d)), nil
		}
		return wrap(cmp("lt", d.AddDate(0, 0, 1))), nil
	case "ThisMonth":
		first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return dateRange(first, first.AddDate(0, 1, 0))
	case "ThisYear":
		first := time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return dateRange(first, first.AddDate(1, 0, 0))
	}
	return nil, badRequest("The query function Microsoft.Dynamics.CRM.%s is not supported.", f.Name)
}
