package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"maps"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs2s/dvs2s/store"
)

// DefaultReadCache is the memory budget of an environment database's read
// cache, in bytes, unless SetReadCache changes it.
const DefaultReadCache = 32 << 20

// readCache keeps the results of the reads made outside a transaction
// (Get, Query, Count) by query text and bound arguments, for as long as
// the database is unchanged.
//
// Whether it changed is known two ways. Every commit through this Data
// (or a transaction of it) bumps a generation counter, so the process's
// own writes show at once. Commits by other connections to the file —
// another process (the admin commands, a second server) or another Data
// on it — are seen through SQLite's PRAGMA data_version, read on a
// connection of the cache's own that never writes: it changes whenever
// any other connection commits. That check takes a read transaction, with
// its file locks (system calls); asked on every read it was a tenth of the
// server's CPU under a GET load, so it is asked at most once per
// pollInterval. We knowingly differ from a cacheless database by that
// much: a read that starts less than pollInterval after another process's
// commit may answer from before it; this process's writes are never
// missed. The registry record (1 s), principals (2 s) and the token path's
// directory reads (--cache-ttl) are cached for far longer.
//
// Any commit empties the cache, as it cannot know which results a change
// touches; a read-mostly workload keeps it full. Entries are dropped at
// random when the budget is reached. Callers get copies of the cached rows,
// so they may change them.
type readCache struct {
	budget int64
	gen    *atomic.Int64 // commits through this Data (Data.commits)

	vmu    sync.Mutex // serialises the use of conn, guards dv and polled
	conn   *sql.Conn  // never writes; nil once broken
	stmt   driver.Stmt
	dest   []driver.Value
	dv     int64     // data_version last read
	polled time.Time // when

	mu      sync.Mutex
	version version // the entries were read at
	m       map[string]*cached
	size    int64
}

// pollInterval bounds how often data_version is read.
const pollInterval = time.Millisecond

// version identifies a state of the database: this process's commits and
// data_version.
type version struct{ gen, dv int64 }

type cached struct {
	rows []store.Row // Get: one row; Query: the rows
	n    int         // Count
	size int64
}

// newReadCache opens the cache's connection to db; budget ≤ 0 disables it
// (nil). gen counts the commits through the Data the cache serves.
func newReadCache(ctx context.Context, db *sql.DB, budget int64, gen *atomic.Int64) (*readCache, error) {
	if budget <= 0 {
		return nil, nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	c := &readCache{budget: budget, gen: gen, conn: conn, dest: make([]driver.Value, 1), m: map[string]*cached{}}
	err = conn.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("sqlite: driver connection cannot prepare")
		}
		c.stmt, err = p.PrepareContext(ctx, "PRAGMA data_version")
		return err
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if _, ok := c.stmt.(driver.StmtQueryContext); !ok {
		c.close()
		return nil, errors.New("sqlite: driver statement cannot query")
	}
	return c, nil
}

func (c *readCache) close() {
	if c == nil {
		return
	}
	c.vmu.Lock()
	defer c.vmu.Unlock()
	if c.conn != nil {
		c.conn.Raw(func(any) error { return c.stmt.Close() })
		c.conn.Close()
		c.conn = nil
	}
}

// current returns the state of the database as far as the cache knows it;
// ok is false when the cache cannot tell.
func (c *readCache) current(ctx context.Context) (version, bool) {
	g := c.gen.Load() // both parts are read before the read they tag: a result is never older than its version
	c.vmu.Lock()
	defer c.vmu.Unlock()
	if c.conn == nil {
		return version{}, false
	}
	if now := time.Now(); now.Sub(c.polled) >= pollInterval || now.Before(c.polled) {
		dv, ok := c.dataVersion(ctx)
		if !ok {
			return version{}, false
		}
		c.dv, c.polled = dv, now
	}
	return version{g, c.dv}, true
}

// dataVersion reads data_version on the cache's connection, with c.vmu
// held. It goes through the driver directly (sql.Conn.Raw): database/sql's
// Rows and Scan took a third of the check's time.
func (c *readCache) dataVersion(ctx context.Context) (int64, bool) {
	var v int64
	err := c.conn.Raw(func(any) error {
		rows, err := c.stmt.(driver.StmtQueryContext).QueryContext(ctx, nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := rows.Next(c.dest); err != nil {
			if err == io.EOF {
				err = errors.New("sqlite: data_version returned no row")
			}
			return err
		}
		n, ok := c.dest[0].(int64)
		if !ok {
			return errors.New("sqlite: data_version is not an integer")
		}
		v = n
		return nil
	})
	if err != nil {
		if ctx.Err() == nil { // not the caller's deadline: the connection is unusable
			c.stmt.Close()
			c.conn.Close()
			c.conn = nil
		}
		return 0, false
	}
	return v, true
}

// lookup returns the entry of key if the database is unchanged since it
// was read, and the current version for store.
func (c *readCache) lookup(ctx context.Context, key string) (e *cached, v version, ok bool) {
	v, ok = c.current(ctx)
	if !ok {
		return nil, version{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v.gen < c.version.gen { // a read that began before a commit another read saw
		return nil, v, true
	}
	if v != c.version {
		clear(c.m)
		c.size = 0
		c.version = v
	}
	return c.m[key], v, true
}

// store keeps e under key, read at version (from lookup, taken before the
// read began: a commit in between changes the version, so the entry is
// never served).
func (c *readCache) store(key string, v version, e *cached) {
	e.size += int64(len(key)) + 64
	if e.size > c.budget/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v != c.version {
		return
	}
	if c.size+e.size > c.budget {
		for k, x := range c.m { // map order is random: random eviction
			delete(c.m, k)
			c.size -= x.size
			if c.size <= c.budget/2 {
				break
			}
		}
	}
	if old := c.m[key]; old != nil {
		c.size -= old.size
	}
	c.m[key] = e
	c.size += e.size
}

// cacheKey is the cache key of a query text and its arguments; ok is false
// for an argument type it does not encode.
func cacheKey(q string, args []any) (string, bool) {
	b := make([]byte, 0, len(q)+16*len(args)+8)
	b = append(b, q...)
	for _, a := range args {
		b = append(b, 0)
		switch x := a.(type) {
		case nil:
			b = append(b, 'n')
		case string:
			b = append(b, 's')
			b = strconv.AppendInt(b, int64(len(x)), 10)
			b = append(b, ':')
			b = append(b, x...)
		case int64:
			b = append(b, 'i')
			b = strconv.AppendInt(b, x, 10)
		case int:
			b = append(b, 'i')
			b = strconv.AppendInt(b, int64(x), 10)
		case float64:
			b = append(b, 'f')
			b = strconv.AppendUint(b, math.Float64bits(x), 16)
		default:
			return "", false
		}
	}
	return string(b), true
}

// rowsSize estimates the memory rows hold.
func rowsSize(rows []store.Row) int64 {
	n := int64(24 * len(rows))
	for _, r := range rows {
		n += 48 + 32*int64(len(r))
		for _, v := range r {
			switch x := v.(type) {
			case string:
				n += int64(len(x))
			case store.Ref:
				n += int64(len(x.ID) + len(x.Table))
			case time.Time:
				n += 8
			}
		}
	}
	return n
}

func cloneRows(rows []store.Row) []store.Row {
	if rows == nil {
		return nil
	}
	out := make([]store.Row, len(rows))
	for i, r := range rows {
		out[i] = maps.Clone(r)
	}
	return out
}

// cacheLookup returns the cached entry of query q with args (nil on a
// miss), its key and the version to store a fresh result under; ok is
// false when the read must bypass the cache: inside a transaction, with no
// cache, an argument it cannot key, or a failed version check.
func (d *Data) cacheLookup(ctx context.Context, q string, args []any) (e *cached, key string, v version, ok bool) {
	if _, inTx := d.q.(*sql.Tx); inTx || d.cache == nil {
		return nil, "", version{}, false
	}
	if key, ok = cacheKey(q, args); !ok {
		return nil, "", version{}, false
	}
	e, v, ok = d.cache.lookup(ctx, key)
	return e, key, v, ok
}

// cachedRows runs read (a Get or Query of text q with args) through the
// cache.
func (d *Data) cachedRows(ctx context.Context, q string, args []any, read func() ([]store.Row, error)) ([]store.Row, error) {
	e, key, version, ok := d.cacheLookup(ctx, q, args)
	if !ok {
		return read()
	}
	if e != nil {
		return cloneRows(e.rows), nil
	}
	rows, err := read()
	if err == nil {
		d.cache.store(key, version, &cached{rows: cloneRows(rows), size: rowsSize(rows)})
	}
	return rows, err
}

// cachedCount is cachedRows for Count.
func (d *Data) cachedCount(ctx context.Context, q string, args []any, count func() (int, error)) (int, error) {
	e, key, version, ok := d.cacheLookup(ctx, q, args)
	if !ok {
		return count()
	}
	if e != nil {
		return e.n, nil
	}
	n, err := count()
	if err == nil {
		d.cache.store(key, version, &cached{n: n})
	}
	return n, err
}
