package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// Data is store.Data for one environment, in its own SQLite database file.
type Data struct {
	db *sql.DB
	q  querier // db, or the transaction inside InTx

	mu      *sync.Mutex
	schema  **schema.Schema // last synced schema, shared with transactions
	stmts   *stmtCache      // shared with transactions, used outside them
	cache   *readCache      // nil: none; used outside transactions
	stop    chan struct{}   // closed by Close: ends the periodic optimize
	kick    chan struct{}   // asks for an optimize now (every optimizeCommits)
	commits atomic.Int64    // through this Data: the read cache's generation
}

var _ store.Data = (*Data)(nil)

type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// OpenData opens (creating if needed) an environment's database.
func OpenData(ctx context.Context, path string) (*Data, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", fileURI(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(9) // 8 for reads and writes, 1 for the read cache's version checks
	db.SetMaxIdleConns(9)
	db.SetConnMaxIdleTime(0)
	d := &Data{db: db, q: db, mu: &sync.Mutex{}, schema: new(*schema.Schema), stmts: &stmtCache{}}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS _seq (v INTEGER NOT NULL)`,
		`INSERT INTO _seq (v) SELECT 1000 WHERE NOT EXISTS (SELECT 1 FROM _seq)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: init %s: %w", path, err)
		}
	}
	if err := d.SetReadCache(ctx, DefaultReadCache); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: init %s: %w", path, err)
	}
	d.stop, d.kick = make(chan struct{}), make(chan struct{}, 1)
	go d.optimizeEvery(optimizeInterval, d.stop, d.kick)
	return d, nil
}

// optimizeInterval is how often a long-open database refreshes its
// statistics, as SQLite advises for long-lived connections; a growing one
// also every optimizeCommits commits.
const (
	optimizeInterval = time.Hour
	optimizeCommits  = 1000
)

// committed records a commit: the read cache's entries are stale, and
// statistics may be.
func (d *Data) committed() {
	if d.commits.Add(1)%optimizeCommits == 0 {
		select {
		case d.kick <- struct{}{}:
		default: // one is pending
		}
	}
}

// optimize gathers the query planner's statistics where they are missing
// or stale (PRAGMA optimize with mask 0x10002: every table never analyzed,
// or grown 25-fold since it was), reading at most 1,000 rows of an index
// (analysis_limit), so it takes milliseconds. Without statistics SQLite
// guessed that "ownerid IN (two ids)" matches a handful of rows and walked
// the owner index instead of the name index of a startswith filter: a
// Basic user's list 9–12 times slower (docs/benchmarks.md, row-level
// security). It runs after every Sync (so when an environment opens),
// every optimizeCommits commits and every optimizeInterval.
func (d *Data) optimize(ctx context.Context) error {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer c.Close()
	for _, p := range []string{"PRAGMA analysis_limit = 1000", "PRAGMA optimize = 0x10002"} {
		if _, err := c.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("sqlite: %s: %w", p, mapErr(err))
		}
	}
	return nil
}

func (d *Data) optimizeEvery(every time.Duration, stop, kick <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-kick:
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		d.optimize(ctx) // best effort: the next one tries again
		cancel()
	}
}

// SetReadCache sets the memory budget of the read cache (see readCache),
// in bytes; 0 or less turns it off. It must not run concurrently with
// reads.
func (d *Data) SetReadCache(ctx context.Context, budget int64) error {
	if d.cache == nil && budget <= 0 || d.cache != nil && d.cache.budget == budget {
		return nil
	}
	c, err := newReadCache(ctx, d.db, budget, &d.commits)
	if err != nil {
		return err
	}
	d.cache.close()
	d.cache = c
	return nil
}

// Close closes the database.
func (d *Data) Close() error {
	select {
	case <-d.stop: // closed before
	default:
		close(d.stop)
	}
	d.stmts.close()
	d.cache.close()
	return d.db.Close()
}

// stmtCache holds the prepared statements of the reads made outside a
// transaction, by query text. database/sql prepares nothing for
// QueryContext, so without it SQLite parses and plans every query again;
// that was a third of the CPU of a GET by id. Values are always bound as
// arguments, so the texts are few: one per table, column list and filter
// shape. A prepared statement stays valid when the schema changes (SQLite
// prepares it again). The cache is bounded; texts beyond the bound run
// unprepared, as before.
type stmtCache struct {
	m sync.Map // query text → *sql.Stmt
	n atomic.Int64
}

const maxStmts = 256

// get returns the prepared statement of q, preparing it on first use, or
// nil (cache full, or the preparation failed: the unprepared query then
// reports the error).
func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) *sql.Stmt {
	if s, ok := c.m.Load(q); ok {
		return s.(*sql.Stmt)
	}
	if c.n.Load() >= maxStmts {
		return nil
	}
	s, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if prev, loaded := c.m.LoadOrStore(q, s); loaded {
		s.Close()
		return prev.(*sql.Stmt)
	}
	c.n.Add(1)
	return s
}

func (c *stmtCache) close() {
	c.m.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		c.m.Delete(k)
		return true
	})
}

// query is d.q.QueryContext, with a cached prepared statement outside a
// transaction.
func (d *Data) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if _, inTx := d.q.(*sql.Tx); !inTx {
		if s := d.stmts.get(ctx, d.db, q); s != nil {
			return s.QueryContext(ctx, args...)
		}
	}
	return d.q.QueryContext(ctx, q, args...)
}

// queryRow is d.q.QueryRowContext, with a cached prepared statement
// outside a transaction.
func (d *Data) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if _, inTx := d.q.(*sql.Tx); !inTx {
		if s := d.stmts.get(ctx, d.db, q); s != nil {
			return s.QueryRowContext(ctx, args...)
		}
	}
	return d.q.QueryRowContext(ctx, q, args...)
}

func quote(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// typeCol is the column holding the table of a polymorphic lookup.
func typeCol(c *schema.Column) string { return c.LogicalName + "type" }

func polymorphic(c *schema.Column) bool {
	return c.Type == schema.Owner || c.Type == schema.Customer || len(c.Targets) > 1
}

func sqlType(c *schema.Column) string {
	switch c.Type {
	case schema.String, schema.Memo:
		return "TEXT COLLATE NOCASE"
	case schema.Integer, schema.BigInt, schema.Choice, schema.State, schema.Status, schema.Boolean:
		return "INTEGER"
	case schema.Decimal, schema.Double, schema.Money:
		return "REAL"
	}
	return "TEXT" // DateTime (ISO 8601 UTC sorts as text), GUIDs, lookups
}

// Sync implements store.Data.
func (d *Data) Sync(ctx context.Context, s *schema.Schema) error {
	defer d.committed()
	for _, t := range s.Tables() {
		if err := d.syncTable(ctx, t); err != nil {
			return err
		}
	}
	d.mu.Lock()
	*d.schema = s
	d.mu.Unlock()
	for _, m := range s.ManyToManys() {
		stmts := []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (%s TEXT NOT NULL, %s TEXT NOT NULL, PRIMARY KEY (%s, %s))`,
				quote(m.Intersect), quote(m.Entity1Col), quote(m.Entity2Col), quote(m.Entity1Col), quote(m.Entity2Col)),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (%s)`, quote(m.Intersect+"_"+m.Entity2Col), quote(m.Intersect), quote(m.Entity2Col)),
		}
		for _, st := range stmts {
			if _, err := d.q.ExecContext(ctx, st); err != nil {
				return fmt.Errorf("sqlite: sync %s: %w", m.Intersect, err)
			}
		}
	}
	if _, inTx := d.q.(*sql.Tx); inTx {
		return nil // the transaction holds the write lock ANALYZE needs
	}
	return d.optimize(ctx)
}

func (d *Data) syncTable(ctx context.Context, t *schema.Table) error {
	existing := map[string]bool{}
	rows, err := d.q.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, t.LogicalName)
	if err != nil {
		return err
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		existing[n] = true
	}
	rows.Close()
	var stmts []string
	if len(existing) == 0 {
		var defs []string
		for _, c := range t.Columns {
			def := quote(c.LogicalName) + " " + sqlType(c)
			if c.LogicalName == t.PrimaryID {
				def += " PRIMARY KEY"
			}
			defs = append(defs, def)
			if polymorphic(c) {
				defs = append(defs, quote(typeCol(c))+" TEXT")
			}
		}
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE %s (%s)", quote(t.LogicalName), strings.Join(defs, ", ")))
	} else {
		for _, c := range t.Columns {
			if !existing[c.LogicalName] {
				stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", quote(t.LogicalName), quote(c.LogicalName), sqlType(c)))
			}
			if polymorphic(c) && !existing[typeCol(c)] {
				stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s TEXT", quote(t.LogicalName), quote(typeCol(c))))
			}
		}
	}
	index := func(name string, unique bool, cols ...string) {
		q := make([]string, len(cols))
		for i, c := range cols {
			q[i] = quote(c)
		}
		u := ""
		if unique {
			u = "UNIQUE "
		}
		stmts = append(stmts, fmt.Sprintf("CREATE %sINDEX IF NOT EXISTS %s ON %s (%s)", u, quote(t.LogicalName+"_"+name), quote(t.LogicalName), strings.Join(q, ", ")))
	}
	index(t.PrimaryName, false, t.PrimaryName)
	index("createdon", false, "createdon")
	for _, c := range t.Columns {
		if c.Type.IsLookup() || c.Type == schema.UniqueIdentifier && c.LogicalName != t.PrimaryID { // references by id: lookups, applicationid, principalobjectaccess.objectid and principalid, audit.objectid
			index(c.LogicalName, false, c.LogicalName)
		}
	}
	if t.LogicalName == schema.TablePOA {
		// Covers the read filter's "rows shared with these principals"
		// subquery (security.Principal.Filter): no row reads per share.
		index("principal_shares", false, "principalid", "objecttypecode", "accessrightsmask", "objectid")
	}
	for _, k := range t.Keys {
		index("key_"+k.Name, true, k.Columns...)
	}
	for _, st := range stmts {
		if _, err := d.q.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("sqlite: sync %s: %w", t.LogicalName, err)
		}
	}
	return nil
}

// encode converts a Row value to its SQL form.
func encode(c *schema.Column, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case store.Ref:
		return strings.ToLower(x.ID), nil
	case time.Time:
		return x.UTC().Format(timeFormat), nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case string, int64, float64:
		return x, nil
	case int:
		return int64(x), nil
	}
	return nil, fmt.Errorf("sqlite: column %s: unsupported value type %T", c.LogicalName, v)
}

const timeFormat = "2006-01-02T15:04:05Z"

// decode converts a scanned SQL value to the Row value of column c.
func decode(c *schema.Column, v any, typ any) any {
	if v == nil {
		return nil
	}
	switch c.Type {
	case schema.Boolean:
		n, _ := v.(int64)
		return n != 0
	case schema.DateTime:
		s, _ := v.(string)
		t, err := time.Parse(timeFormat, s)
		if err != nil {
			return nil
		}
		return t
	case schema.Decimal, schema.Double, schema.Money:
		switch n := v.(type) {
		case float64:
			return n
		case int64:
			return float64(n)
		}
	case schema.Lookup, schema.Owner, schema.Customer:
		id, _ := v.(string)
		r := store.Ref{ID: id}
		if s, ok := typ.(string); ok && s != "" {
			r.Table = s
		} else if len(c.Targets) > 0 {
			r.Table = c.Targets[0]
		}
		return r
	case schema.String, schema.Memo, schema.UniqueIdentifier:
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	}
	return v
}

// allColumnsSQL caches, per table, the select list of all its columns
// (alias t0) and Get's query for them: building them again on every read
// was a tenth of the allocations of a GET by id. A table is never modified
// once in a schema (schema.Table.WithColumn copies it), so its pointer is
// the key; the column count is checked all the same.
var allColumnsSQL sync.Map // *schema.Table → *tableSQL

type tableSQL struct {
	columns int
	list    string // select list of all the columns, alias t0
	get     string // Get's query
}

func allColumns(t *schema.Table) *tableSQL {
	if v, ok := allColumnsSQL.Load(t); ok && v.(*tableSQL).columns == len(t.Columns) {
		return v.(*tableSQL)
	}
	list := columnList(t.Columns, "t0")
	ts := &tableSQL{columns: len(t.Columns), list: list,
		get: fmt.Sprintf("SELECT %s FROM %s AS t0 WHERE t0.%s = ?", list, quote(t.LogicalName), quote(t.PrimaryID))}
	allColumnsSQL.Store(t, ts)
	return ts
}

// selectList returns the SQL select list for cols (all when nil) and the
// columns in order.
func selectList(t *schema.Table, cols []string, alias string) (string, []*schema.Column, error) {
	var cs []*schema.Column
	if cols == nil {
		if alias == "t0" {
			return allColumns(t).list, t.Columns, nil
		}
		cs = t.Columns
	} else {
		for _, n := range cols {
			c := t.Column(n)
			if c == nil {
				return "", nil, fmt.Errorf("sqlite: %s has no column %s", t.LogicalName, n)
			}
			cs = append(cs, c)
		}
	}
	return columnList(cs, alias), cs, nil
}

// columnList is the select list of columns cs of table alias.
func columnList(cs []*schema.Column, alias string) string {
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
	return b.String()
}

func scanRow(rows interface{ Scan(...any) error }, cs []*schema.Column) (store.Row, error) {
	n := len(cs)
	for _, c := range cs {
		if polymorphic(c) {
			n++
		}
	}
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, mapErr(err)
	}
	r := make(store.Row, len(cs))
	i := 0
	for _, c := range cs {
		var typ any
		v := vals[i]
		i++
		if polymorphic(c) {
			typ = vals[i]
			i++
		}
		r[c.LogicalName] = decode(c, v, typ)
	}
	return r, nil
}

// nextVersion takes the next row version number; it must run inside a
// write transaction.
func nextVersion(ctx context.Context, q querier) (int64, error) {
	var v int64
	err := q.QueryRowContext(ctx, `UPDATE _seq SET v = v + 1 RETURNING v`).Scan(&v)
	return v, err
}

// write runs fn in a transaction unless d already is one.
func (d *Data) write(ctx context.Context, fn func(q querier) error) error {
	if _, ok := d.q.(*sql.Tx); ok {
		return fn(d.q)
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	defer d.committed()
	return mapErr(tx.Commit())
}

// assignments returns column names and SQL values for a row.
func assignments(t *schema.Table, r store.Row) ([]string, []any, error) {
	var names []string
	var vals []any
	for name, v := range r {
		c := t.Column(name)
		if c == nil {
			return nil, nil, fmt.Errorf("sqlite: %s has no column %s", t.LogicalName, name)
		}
		ev, err := encode(c, v)
		if err != nil {
			return nil, nil, err
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

// Insert implements store.Data.
func (d *Data) Insert(ctx context.Context, t *schema.Table, r store.Row) (int64, error) {
	if _, ok := r[t.PrimaryID].(string); !ok {
		return 0, fmt.Errorf("sqlite: insert into %s without %s", t.LogicalName, t.PrimaryID)
	}
	var ver int64
	err := d.write(ctx, func(q querier) error {
		v, err := nextVersion(ctx, q)
		if err != nil {
			return mapErr(err)
		}
		ver = v
		row := make(store.Row, len(r)+1)
		for k, x := range r {
			row[k] = x
		}
		row["versionnumber"] = v
		names, vals, err := assignments(t, row)
		if err != nil {
			return err
		}
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ")
		_, err = q.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", quote(t.LogicalName), strings.Join(names, ", "), ph), vals...)
		return mapErr(err)
	})
	return ver, err
}

// Get implements store.Data.
func (d *Data) Get(ctx context.Context, t *schema.Table, id string, cols []string) (store.Row, error) {
	var q string
	cs := t.Columns
	if cols == nil {
		q = allColumns(t).get
	} else {
		list, c, err := selectList(t, cols, "t0")
		if err != nil {
			return nil, err
		}
		q, cs = fmt.Sprintf("SELECT %s FROM %s AS t0 WHERE t0.%s = ?", list, quote(t.LogicalName), quote(t.PrimaryID)), c
	}
	args := []any{strings.ToLower(id)}
	rows, err := d.cachedRows(ctx, q, args, func() ([]store.Row, error) {
		r, err := scanRow(d.queryRow(ctx, q, args...), cs)
		if err != nil {
			return nil, err
		}
		return []store.Row{r}, nil
	})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 { // a Query of the same text cached no row
		return nil, store.ErrNotFound
	}
	return rows[0], nil
}

// checkVersion returns ErrNotFound or ErrVersion for a row that did not
// match an update or delete.
func checkVersion(ctx context.Context, q querier, t *schema.Table, id string, ifVersion int64) error {
	var v sql.NullInt64
	err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT versionnumber FROM %s WHERE %s = ?", quote(t.LogicalName), quote(t.PrimaryID)), id).Scan(&v)
	if err != nil {
		return mapErr(err)
	}
	if ifVersion != 0 && v.Int64 != ifVersion {
		return store.ErrVersion
	}
	return nil
}

// Update implements store.Data.
func (d *Data) Update(ctx context.Context, t *schema.Table, id string, r store.Row, ifVersion int64) (int64, error) {
	id = strings.ToLower(id)
	var ver int64
	err := d.write(ctx, func(q querier) error {
		if err := checkVersion(ctx, q, t, id, ifVersion); err != nil {
			return err
		}
		v, err := nextVersion(ctx, q)
		if err != nil {
			return mapErr(err)
		}
		ver = v
		row := make(store.Row, len(r)+1)
		for k, x := range r {
			if k != t.PrimaryID {
				row[k] = x
			}
		}
		row["versionnumber"] = v
		names, vals, err := assignments(t, row)
		if err != nil {
			return err
		}
		for i := range names {
			names[i] += " = ?"
		}
		vals = append(vals, id)
		_, err = q.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE %s = ?", quote(t.LogicalName), strings.Join(names, ", "), quote(t.PrimaryID)), vals...)
		return mapErr(err)
	})
	return ver, err
}

// Delete implements store.Data. Many-to-many links of the row go with it;
// lookups pointing at it are cleared (Dataverse's default "remove link"
// cascade for custom relationships).
func (d *Data) Delete(ctx context.Context, t *schema.Table, id string, ifVersion int64) error {
	id = strings.ToLower(id)
	return d.write(ctx, func(q querier) error {
		if err := checkVersion(ctx, q, t, id, ifVersion); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = ?", quote(t.LogicalName), quote(t.PrimaryID)), id); err != nil {
			return mapErr(err)
		}
		for _, m := range d.links(t) {
			for _, c := range m {
				if _, err := q.ExecContext(ctx, c, id); err != nil {
					return mapErr(err)
				}
			}
		}
		return nil
	})
}

// links returns the statements that remove a deleted row of t from every
// many-to-many intersect table of the synced schema.
func (d *Data) links(t *schema.Table) [][]string {
	d.mu.Lock()
	s := *d.schema
	d.mu.Unlock()
	if s == nil {
		return nil
	}
	var out [][]string
	for _, m := range s.ManyToManys() {
		var st []string
		if m.Entity1 == t.LogicalName {
			st = append(st, fmt.Sprintf("DELETE FROM %s WHERE %s = ?", quote(m.Intersect), quote(m.Entity1Col)))
		}
		if m.Entity2 == t.LogicalName {
			st = append(st, fmt.Sprintf("DELETE FROM %s WHERE %s = ?", quote(m.Intersect), quote(m.Entity2Col)))
		}
		out = append(out, st)
	}
	return out
}

// Query implements store.Data.
func (d *Data) Query(ctx context.Context, t *schema.Table, q store.Query) ([]store.Row, error) {
	list, cs, err := selectList(t, q.Columns, "t0")
	if err != nil {
		return nil, err
	}
	c := newCompiler()
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s AS t0", list, quote(t.LogicalName))
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
			col := t.Column(o.Column)
			if col == nil {
				return nil, fmt.Errorf("sqlite: %s has no column %s", t.LogicalName, o.Column)
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("t0." + quote(col.LogicalName))
			if o.Desc {
				b.WriteString(" DESC")
			}
		}
	}
	if q.Limit > 0 || q.Offset > 0 {
		lim := q.Limit
		if lim <= 0 {
			lim = -1
		}
		b.WriteString(" LIMIT ? OFFSET ?")
		c.Args = append(c.Args, lim, q.Offset)
	}
	text := b.String()
	return d.cachedRows(ctx, text, c.Args, func() ([]store.Row, error) {
		rows, err := d.query(ctx, text, c.Args...)
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
	})
}

// Count implements store.Data.
func (d *Data) Count(ctx context.Context, t *schema.Table, where store.Cond) (int, error) {
	c := newCompiler()
	q := fmt.Sprintf("SELECT COUNT(*) FROM %s AS t0", quote(t.LogicalName))
	if where != nil {
		w, err := c.Cond(where, t, "t0")
		if err != nil {
			return 0, err
		}
		q += " WHERE " + w
	}
	return d.cachedCount(ctx, q, c.Args, func() (int, error) {
		var n int
		err := d.queryRow(ctx, q, c.Args...).Scan(&n)
		return n, mapErr(err)
	})
}

// Associate implements store.Data.
func (d *Data) Associate(ctx context.Context, m *schema.ManyToMany, id1, id2 string) error {
	return d.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s (%s, %s) VALUES (?, ?)", quote(m.Intersect), quote(m.Entity1Col), quote(m.Entity2Col)),
			strings.ToLower(id1), strings.ToLower(id2))
		return mapErr(err)
	})
}

// Disassociate implements store.Data.
func (d *Data) Disassociate(ctx context.Context, m *schema.ManyToMany, id1, id2 string) error {
	return d.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = ? AND %s = ?", quote(m.Intersect), quote(m.Entity1Col), quote(m.Entity2Col)),
			strings.ToLower(id1), strings.ToLower(id2))
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// InTx implements store.Data.
func (d *Data) InTx(ctx context.Context, fn func(store.Data) error) error {
	if _, ok := d.q.(*sql.Tx); ok {
		return fn(d)
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	if err := fn(&Data{db: d.db, q: tx, mu: d.mu, schema: d.schema, stmts: d.stmts}); err != nil { // no cache: reads see the transaction's changes
		return err
	}
	defer d.committed()
	return mapErr(tx.Commit())
}

// SetMeta implements store.Data.
func (d *Data) SetMeta(ctx context.Context, key string, value []byte) error {
	return d.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO _meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return mapErr(err)
	})
}

// Meta implements store.Data.
func (d *Data) Meta(ctx context.Context, prefix string) (map[string][]byte, error) {
	rows, err := d.q.QueryContext(ctx, `SELECT key, value FROM _meta WHERE substr(key, 1, ?) = ?`, len(prefix), prefix)
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
	return out, rows.Err()
}
