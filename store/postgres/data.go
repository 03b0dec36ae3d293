package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Data is store.Data for one environment: the tables of its own schema,
// env_<id without dashes>, reached through the store's connection pool.
//
// Column types: text for strings and GUIDs (lookups too, with a <col>type
// column for polymorphic ones), integer (Integer, Choice, State, Status),
// bigint, numeric (Decimal, Money), double precision, boolean and
// timestamptz. Text comparisons, matches, ordering and alternate keys are
// case-insensitive, as under SQL Server's default collation: both sides go
// through lower(), and the indexes that serve them are on lower(column).
//
// Transactions (InTx) take a per-environment advisory lock, so change sets
// are serialised per environment across every instance, exactly as they
// are in the SQLite store (one writer per file); single-statement writes
// outside InTx run concurrently.
type Data struct {
	pool *pgxpool.Pool
	q    querier
	tx   pgx.Tx // set inside InTx
	name string // schema name
	ns   string // quoted schema name
	lock int64  // advisory lock key of the schema
	utf8 bool   // the database encoding is UTF8 (see Match)

	mu     *sync.Mutex
	schema **schema.Schema // last synced schema, shared with transactions
}

var _ store.Data = (*Data)(nil)

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var envIDRE = regexp.MustCompile(`^[0-9a-fA-F-]{1,64}$`)

// SchemaName is the name of the PostgreSQL schema holding an environment's
// rows.
func (s *DB) SchemaName(envID string) (string, error) {
	if !envIDRE.MatchString(envID) {
		return "", fmt.Errorf("postgres: environment id %q is not a GUID", envID)
	}
	return ident(s.prefix + "env_" + strings.ToLower(strings.ReplaceAll(envID, "-", ""))), nil
}

// OpenData opens (creating if needed) the rows of environment envID.
func (s *DB) OpenData(ctx context.Context, envID string) (store.Data, error) {
	return s.Data(ctx, envID)
}

// Data is OpenData with the concrete type.
func (s *DB) Data(ctx context.Context, envID string) (*Data, error) {
	name, err := s.SchemaName(envID)
	if err != nil {
		return nil, err
	}
	d := &Data{pool: s.pool, q: s.pool, name: name, ns: quote(name), lock: lockKey(name), utf8: s.utf8, mu: &sync.Mutex{}, schema: new(*schema.Schema)}
	err = d.locked(ctx, func(q querier) error {
		_, err := q.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+d.ns+`;
			CREATE TABLE IF NOT EXISTS `+d.ns+`._meta (key text PRIMARY KEY, value bytea NOT NULL);
			CREATE SEQUENCE IF NOT EXISTS `+d.ns+`._version START WITH 1001`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: open environment %s: %w", envID, err)
	}
	return d, nil
}

// DropData deletes an environment's rows: its whole schema.
func (s *DB) DropData(ctx context.Context, envID string) error {
	name, err := s.SchemaName(envID)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+quote(name)+` CASCADE`)
	return err
}

// Close releases nothing: the connection pool belongs to the DB.
func (d *Data) Close() error { return nil }

// locked runs fn in a transaction holding the environment's advisory lock
// (or in the current transaction, which holds it already).
func (d *Data) locked(ctx context.Context, fn func(q querier) error) error {
	if d.tx != nil {
		return fn(d.tx)
	}
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, d.lock); err != nil {
		return mapErr(err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(tx.Commit(ctx))
}

// write runs fn in a transaction (without the environment lock) unless d
// already is one.
func (d *Data) write(ctx context.Context, fn func(q querier) error) error {
	if d.tx != nil {
		return fn(d.tx)
	}
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(tx.Commit(ctx))
}

func quote(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// ident keeps a generated identifier within PostgreSQL's 63 bytes (longer
// ones would be truncated, and two could collide): a long name keeps its
// start and gets a hash of the whole.
func ident(name string) string {
	if len(name) <= 63 {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("%s_%08x", name[:54], h.Sum32())
}

// table is the qualified name of a table of the environment.
func (d *Data) table(name string) string { return d.ns + "." + quote(name) }

func typeCol(c *schema.Column) string { return c.LogicalName + "type" }

func polymorphic(c *schema.Column) bool {
	return c.Type == schema.Owner || c.Type == schema.Customer || len(c.Targets) > 1
}

func pgType(c *schema.Column) string {
	switch c.Type {
	case schema.Integer, schema.Choice, schema.State, schema.Status:
		return "integer"
	case schema.BigInt:
		return "bigint"
	case schema.Decimal, schema.Money:
		return "numeric"
	case schema.Double:
		return "double precision"
	case schema.Boolean:
		return "boolean"
	case schema.DateTime:
		return "timestamptz"
	}
	return "text" // String, Memo, GUIDs, lookups
}

// Sync implements store.Data: under the environment lock, so instances
// opening the same environment at once do not race to create its tables.
func (d *Data) Sync(ctx context.Context, s *schema.Schema) error {
	err := d.locked(ctx, func(q querier) error {
		cols, idx, err := d.existing(ctx, q)
		if err != nil {
			return err
		}
		var stmts []string
		for _, t := range s.Tables() {
			stmts = append(stmts, d.syncTable(t, cols[t.LogicalName], idx)...)
		}
		for _, m := range s.ManyToManys() {
			if cols[m.Intersect] == nil {
				stmts = append(stmts, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (%s text NOT NULL, %s text NOT NULL, PRIMARY KEY (%s, %s))`,
					d.table(m.Intersect), quote(m.Entity1Col), quote(m.Entity2Col), quote(m.Entity1Col), quote(m.Entity2Col)))
			}
			if n := ident(m.Intersect + "_" + m.Entity2Col + "_idx"); !idx[n] {
				stmts = append(stmts, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (%s)`, quote(n), d.table(m.Intersect), quote(m.Entity2Col)))
			}
		}
		if len(stmts) == 0 {
			return nil
		}
		// One round trip: without arguments, Exec sends the statements
		// as one simple-protocol query.
		if _, err := q.Exec(ctx, strings.Join(stmts, ";\n")); err != nil {
			return fmt.Errorf("postgres: sync %s: %w", d.name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.mu.Lock()
	*d.schema = s
	d.mu.Unlock()
	return nil
}

// existing returns the columns of every table of the schema and the names
// of its indexes.
func (d *Data) existing(ctx context.Context, q querier) (map[string]map[string]bool, map[string]bool, error) {
	cols := map[string]map[string]bool{}
	rows, err := q.Query(ctx, `SELECT c.relname, a.attname FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`, d.name)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if cols[t] == nil {
			cols[t] = map[string]bool{}
		}
		cols[t][c] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	idx := map[string]bool{}
	rows, err = q.Query(ctx, `SELECT indexname FROM pg_indexes WHERE schemaname = $1`, d.name)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, nil, err
		}
		idx[n] = true
	}
	return cols, idx, rows.Err()
}

func (d *Data) syncTable(t *schema.Table, existing map[string]bool, idx map[string]bool) []string {
	var stmts []string
	if existing == nil {
		var defs []string
		for _, c := range t.Columns {
			def := quote(c.LogicalName) + " " + pgType(c)
			if c.LogicalName == t.PrimaryID {
				def += " PRIMARY KEY"
			}
			defs = append(defs, def)
			if polymorphic(c) {
				defs = append(defs, quote(typeCol(c))+" text")
			}
		}
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s)", d.table(t.LogicalName), strings.Join(defs, ", ")))
	} else {
		for _, c := range t.Columns {
			if !existing[c.LogicalName] {
				stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", d.table(t.LogicalName), quote(c.LogicalName), pgType(c)))
			}
			if polymorphic(c) && !existing[typeCol(c)] {
				stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s text", d.table(t.LogicalName), quote(typeCol(c))))
			}
		}
	}
	// index adds an index on cols (lower(col) for text); opclass, if not
	// empty, is the operator class of a single text column.
	index := func(name string, unique bool, opclass string, cols ...string) {
		n := ident(t.LogicalName + "_" + name + "_idx")
		if idx[n] {
			return
		}
		var exprs []string
		for _, cn := range cols {
			c := t.Column(cn)
			if c == nil {
				return
			}
			if c.Type.IsText() {
				exprs = append(exprs, strings.TrimSpace("lower("+quote(cn)+") "+opclass))
			} else {
				exprs = append(exprs, quote(cn))
			}
		}
		u := ""
		if unique {
			u = "UNIQUE "
		}
		stmts = append(stmts, fmt.Sprintf("CREATE %sINDEX IF NOT EXISTS %s ON %s (%s)", u, quote(n), d.table(t.LogicalName), strings.Join(exprs, ", ")))
	}
	// The primary name: equality and prefix matches (startswith, see
	// Match), byte-wise, whatever the database's collation.
	index(t.PrimaryName, false, "text_pattern_ops", t.PrimaryName)
	index("createdon", false, "", "createdon")
	for _, c := range t.Columns {
		if c.Type.IsLookup() || c.LogicalName == "applicationid" || c.LogicalName == "azureactivedirectoryobjectid" {
			index(c.LogicalName, false, "", c.LogicalName)
		}
	}
	for _, k := range t.Keys {
		index("key_"+k.Name, true, "", k.Columns...)
	}
	return stmts
}

const timeFormat = "2006-01-02T15:04:05Z"

// value converts a Row value (or a condition's value) to the Go type that
// column c's SQL type takes.
func value(c *schema.Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if n, ok := v.(int); ok {
		v = int64(n)
	}
	bad := func() (any, error) {
		return nil, fmt.Errorf("postgres: column %s (%s): unsupported value %v (%T)", c.LogicalName, c.Type, v, v)
	}
	switch c.Type {
	case schema.Integer, schema.BigInt, schema.Choice, schema.State, schema.Status:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
			return x, nil // compared as a double
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case schema.Decimal, schema.Money, schema.Double:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	case schema.Boolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		}
	case schema.DateTime:
		switch x := v.(type) {
		case time.Time:
			return x.UTC(), nil
		case string:
			for _, f := range []string{timeFormat, time.RFC3339Nano} {
				if t, err := time.Parse(f, x); err == nil {
					return t.UTC(), nil
				}
			}
		}
	case schema.Lookup, schema.Owner, schema.Customer:
		switch x := v.(type) {
		case store.Ref:
			return strings.ToLower(x.ID), nil
		case string:
			return x, nil
		}
	default: // text and GUIDs
		switch x := v.(type) {
		case string:
			return x, nil
		case store.Ref:
			return strings.ToLower(x.ID), nil
		}
	}
	return bad()
}

// cast is the SQL type a condition's parameter is cast to, so PostgreSQL
// never has to guess it (and an integer column compares with a fraction).
func cast(c *schema.Column, v any) string {
	switch v.(type) {
	case float64:
		if c.Type == schema.Decimal || c.Type == schema.Money {
			return "::numeric"
		}
		return "::float8"
	case int64:
		return "::bigint"
	case bool:
		return "::boolean"
	case time.Time:
		return "::timestamptz"
	}
	return "::text"
}

// holder returns a scan target for column c.
func holder(c *schema.Column) any {
	switch pgType(c) {
	case "integer", "bigint":
		return new(pgtype.Int8)
	case "numeric", "double precision":
		return new(pgtype.Float8)
	case "boolean":
		return new(pgtype.Bool)
	case "timestamptz":
		return new(pgtype.Timestamptz)
	}
	return new(pgtype.Text)
}

// decode turns a scanned holder into the Row value of column c.
func decode(c *schema.Column, h any, typ *pgtype.Text) any {
	switch x := h.(type) {
	case *pgtype.Int8:
		if x.Valid {
			return x.Int64
		}
	case *pgtype.Float8:
		if x.Valid {
			return x.Float64
		}
	case *pgtype.Bool:
		if x.Valid {
			return x.Bool
		}
	case *pgtype.Timestamptz:
		if x.Valid {
			return x.Time.UTC()
		}
	case *pgtype.Text:
		if !x.Valid {
			return nil
		}
		if c.Type.IsLookup() {
			r := store.Ref{ID: x.String}
			if typ != nil && typ.Valid && typ.String != "" {
				r.Table = typ.String
			} else if len(c.Targets) > 0 {
				r.Table = c.Targets[0]
			}
			return r
		}
		return x.String
	}
	return nil
}

// selectList returns the select list for cols (all when nil) and the
// columns in order.
func selectList(t *schema.Table, cols []string, alias string) (string, []*schema.Column, error) {
	var cs []*schema.Column
	if cols == nil {
		cs = t.Columns
	} else {
		for _, n := range cols {
			c := t.Column(n)
			if c == nil {
				return "", nil, fmt.Errorf("postgres: %s has no column %s", t.LogicalName, n)
			}
			cs = append(cs, c)
		}
	}
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(alias + "." + quote(c.LogicalName))
		if polymorphic(c) {
			b.WriteString(", " + alias + "." + quote(typeCol(c)))
		}
	}
	return b.String(), cs, nil
}

func scanRow(row pgx.Row, cs []*schema.Column) (store.Row, error) {
	var targets []any
	holders := make([]any, len(cs))
	types := make([]*pgtype.Text, len(cs))
	for i, c := range cs {
		holders[i] = holder(c)
		targets = append(targets, holders[i])
		if polymorphic(c) {
			types[i] = new(pgtype.Text)
			targets = append(targets, types[i])
		}
	}
	if err := row.Scan(targets...); err != nil {
		return nil, mapErr(err)
	}
	r := make(store.Row, len(cs))
	for i, c := range cs {
		r[c.LogicalName] = decode(c, holders[i], types[i])
	}
	return r, nil
}

// assignments returns the quoted column names and SQL values for a row, in
// a stable order (so the statement text, and its prepared plan, repeat).
func assignments(t *schema.Table, r store.Row) ([]string, []any, error) {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var names []string
	var vals []any
	for _, name := range keys {
		v := r[name]
		c := t.Column(name)
		if c == nil {
			return nil, nil, fmt.Errorf("postgres: %s has no column %s", t.LogicalName, name)
		}
		ev, err := value(c, v)
		if err != nil {
			return nil, nil, err
		}
		if f, ok := ev.(float64); ok && (pgType(c) == "integer" || pgType(c) == "bigint") {
			return nil, nil, fmt.Errorf("postgres: column %s: %v is not an integer", name, f)
		}
		names = append(names, quote(name))
		vals = append(vals, ev)
		if polymorphic(c) {
			var typ any
			if ref, ok := v.(store.Ref); ok {
				typ = ref.Table
			}
			names = append(names, quote(typeCol(c)))
			vals = append(vals, typ)
		}
	}
	return names, vals, nil
}

func (d *Data) nextval() string {
	return `nextval('` + strings.ReplaceAll(d.ns, `'`, `''`) + `._version')`
}

// Insert implements store.Data. ON CONFLICT DO NOTHING reports a duplicate
// id or alternate key without aborting the enclosing transaction (the
// caller may go on, as it can with SQLite).
func (d *Data) Insert(ctx context.Context, t *schema.Table, r store.Row) (int64, error) {
	if _, ok := r[t.PrimaryID].(string); !ok {
		return 0, fmt.Errorf("postgres: insert into %s without %s", t.LogicalName, t.PrimaryID)
	}
	row := make(store.Row, len(r))
	for k, x := range r {
		if k != "versionnumber" {
			row[k] = x
		}
	}
	names, vals, err := assignments(t, row)
	if err != nil {
		return 0, err
	}
	ph := make([]string, len(names))
	for i := range names {
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	q := fmt.Sprintf(`INSERT INTO %s (%s, "versionnumber") VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING "versionnumber"`,
		d.table(t.LogicalName), strings.Join(names, ", "), strings.Join(ph, ", "), d.nextval())
	var ver int64
	if err := d.q.QueryRow(ctx, q, vals...).Scan(&ver); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("%w: %s %v exists (same id or alternate key)", store.ErrConflict, t.LogicalName, r[t.PrimaryID])
		}
		return 0, mapErr(err)
	}
	return ver, nil
}

// Get implements store.Data.
func (d *Data) Get(ctx context.Context, t *schema.Table, id string, cols []string) (store.Row, error) {
	list, cs, err := selectList(t, cols, "t0")
	if err != nil {
		return nil, err
	}
	row := d.q.QueryRow(ctx, fmt.Sprintf("SELECT %s FROM %s AS t0 WHERE t0.%s = $1", list, d.table(t.LogicalName), quote(t.PrimaryID)), strings.ToLower(id))
	return scanRow(row, cs)
}

// missed tells why an update or delete matched no row: ErrNotFound or
// ErrVersion.
func (d *Data) missed(ctx context.Context, q querier, t *schema.Table, id string) error {
	var v pgtype.Int8
	err := q.QueryRow(ctx, fmt.Sprintf("SELECT versionnumber FROM %s WHERE %s = $1", d.table(t.LogicalName), quote(t.PrimaryID)), id).Scan(&v)
	if err != nil {
		return mapErr(err)
	}
	return store.ErrVersion
}

// Update implements store.Data.
func (d *Data) Update(ctx context.Context, t *schema.Table, id string, r store.Row, ifVersion int64) (int64, error) {
	id = strings.ToLower(id)
	row := make(store.Row, len(r))
	for k, x := range r {
		if k != t.PrimaryID && k != "versionnumber" {
			row[k] = x
		}
	}
	names, vals, err := assignments(t, row)
	if err != nil {
		return 0, err
	}
	sets := make([]string, 0, len(names)+1)
	for i, n := range names {
		sets = append(sets, fmt.Sprintf("%s = $%d", n, i+1))
	}
	sets = append(sets, `"versionnumber" = `+d.nextval())
	vals = append(vals, id)
	q := fmt.Sprintf(`UPDATE %s SET %s WHERE %s = $%d`, d.table(t.LogicalName), strings.Join(sets, ", "), quote(t.PrimaryID), len(vals))
	if ifVersion != 0 {
		vals = append(vals, ifVersion)
		q += fmt.Sprintf(` AND "versionnumber" = $%d`, len(vals))
	}
	q += ` RETURNING "versionnumber"`
	var ver int64
	err = d.savepoint(ctx, len(t.Keys) > 0, func(qr querier) error {
		err := qr.QueryRow(ctx, q, vals...).Scan(&ver)
		if errors.Is(err, pgx.ErrNoRows) {
			return d.missed(ctx, qr, t, id)
		}
		return mapErr(err)
	})
	return ver, err
}

// savepoint runs fn; inside a transaction, when the statement may break a
// unique key, it runs under a savepoint so that the failure (ErrConflict)
// leaves the transaction usable, as it would be in SQLite.
func (d *Data) savepoint(ctx context.Context, risky bool, fn func(q querier) error) error {
	if d.tx == nil || !risky {
		return fn(d.q)
	}
	sp, err := d.tx.Begin(ctx)
	if err != nil {
		return mapErr(err)
	}
	if err := fn(sp); err != nil {
		sp.Rollback(ctx)
		return err
	}
	return mapErr(sp.Commit(ctx))
}

// Delete implements store.Data. Many-to-many links of the row go with it.
func (d *Data) Delete(ctx context.Context, t *schema.Table, id string, ifVersion int64) error {
	id = strings.ToLower(id)
	return d.write(ctx, func(q querier) error {
		stmt := fmt.Sprintf("DELETE FROM %s WHERE %s = $1", d.table(t.LogicalName), quote(t.PrimaryID))
		args := []any{id}
		if ifVersion != 0 {
			stmt += ` AND "versionnumber" = $2`
			args = append(args, ifVersion)
		}
		tag, err := q.Exec(ctx, stmt, args...)
		if err != nil {
			return mapErr(err)
		}
		if tag.RowsAffected() == 0 {
			return d.missed(ctx, q, t, id)
		}
		for _, st := range d.links(t) {
			if _, err := q.Exec(ctx, st, id); err != nil {
				return mapErr(err)
			}
		}
		return nil
	})
}

// links returns the statements that remove a deleted row of t from every
// many-to-many intersect table of the synced schema.
func (d *Data) links(t *schema.Table) []string {
	d.mu.Lock()
	s := *d.schema
	d.mu.Unlock()
	if s == nil {
		return nil
	}
	var out []string
	for _, m := range s.ManyToManys() {
		if m.Entity1 == t.LogicalName {
			out = append(out, fmt.Sprintf("DELETE FROM %s WHERE %s = $1", d.table(m.Intersect), quote(m.Entity1Col)))
		}
		if m.Entity2 == t.LogicalName {
			out = append(out, fmt.Sprintf("DELETE FROM %s WHERE %s = $1", d.table(m.Intersect), quote(m.Entity2Col)))
		}
	}
	return out
}

// Query implements store.Data. Nulls sort first ascending and last
// descending, as in SQL Server and SQLite.
func (d *Data) Query(ctx context.Context, t *schema.Table, q store.Query) ([]store.Row, error) {
	list, cs, err := selectList(t, q.Columns, "t0")
	if err != nil {
		return nil, err
	}
	c := d.newCompiler()
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s AS t0", list, d.table(t.LogicalName))
	if q.Where != nil {
		w, err := c.Cond(q.Where, t, "t0")
		if err != nil {
			return nil, err
		}
		b.WriteString(" WHERE " + w)
	}
	if len(q.OrderBy) > 0 {
		b.WriteString(" ORDER BY ")
		for i, o := range q.OrderBy {
			col, ref, err := c.Column(t, o.Column, "t0")
			if err != nil {
				return nil, err
			}
			if i > 0 {
				b.WriteString(", ")
			}
			if col.Type.IsText() {
				ref = "lower(" + ref + ")"
			}
			b.WriteString(ref)
			if o.Desc {
				b.WriteString(" DESC NULLS LAST")
			} else {
				b.WriteString(" NULLS FIRST")
			}
		}
	}
	if q.Limit > 0 {
		b.WriteString(" LIMIT " + c.Arg(int64(q.Limit)))
	}
	if q.Offset > 0 {
		b.WriteString(" OFFSET " + c.Arg(int64(q.Offset)))
	}
	rows, err := d.q.Query(ctx, b.String(), c.Args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []store.Row
	for rows.Next() {
		r, err := scanRow(rows, cs)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, mapErr(rows.Err())
}

// Count implements store.Data.
func (d *Data) Count(ctx context.Context, t *schema.Table, where store.Cond) (int, error) {
	c := d.newCompiler()
	q := fmt.Sprintf("SELECT count(*) FROM %s AS t0", d.table(t.LogicalName))
	if where != nil {
		w, err := c.Cond(where, t, "t0")
		if err != nil {
			return 0, err
		}
		q += " WHERE " + w
	}
	var n int64
	err := d.q.QueryRow(ctx, q, c.Args...).Scan(&n)
	return int(n), mapErr(err)
}

// Associate implements store.Data.
func (d *Data) Associate(ctx context.Context, m *schema.ManyToMany, id1, id2 string) error {
	tag, err := d.q.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s, %s) VALUES ($1, $2) ON CONFLICT DO NOTHING", d.table(m.Intersect), quote(m.Entity1Col), quote(m.Entity2Col)),
		strings.ToLower(id1), strings.ToLower(id2))
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s already links %s and %s", store.ErrConflict, m.SchemaName, id1, id2)
	}
	return nil
}

// Disassociate implements store.Data.
func (d *Data) Disassociate(ctx context.Context, m *schema.ManyToMany, id1, id2 string) error {
	tag, err := d.q.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = $1 AND %s = $2", d.table(m.Intersect), quote(m.Entity1Col), quote(m.Entity2Col)),
		strings.ToLower(id1), strings.ToLower(id2))
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// InTx implements store.Data: one transaction holding the environment's
// advisory lock (see Data).
func (d *Data) InTx(ctx context.Context, fn func(store.Data) error) error {
	if d.tx != nil {
		return fn(d)
	}
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, d.lock); err != nil {
		return mapErr(err)
	}
	if err := fn(&Data{pool: d.pool, q: tx, tx: tx, name: d.name, ns: d.ns, lock: d.lock, utf8: d.utf8, mu: d.mu, schema: d.schema}); err != nil {
		return err
	}
	return mapErr(tx.Commit(ctx))
}

// SetMeta implements store.Data.
func (d *Data) SetMeta(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := d.q.Exec(ctx, `INSERT INTO `+d.ns+`._meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, key, value)
	return mapErr(err)
}

// Meta implements store.Data.
func (d *Data) Meta(ctx context.Context, prefix string) (map[string][]byte, error) {
	rows, err := d.q.Query(ctx, `SELECT key, value FROM `+d.ns+`._meta WHERE starts_with(key, $1)`, prefix)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, mapErr(rows.Err())
}
