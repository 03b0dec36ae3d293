package store

import (
	"context"
	"errors"
	"time"

	"github.com/dvs2s/dvs2s/schema"
)

// ErrVersion is returned when a conditional write's expected version
// number does not match the row's.
var ErrVersion = errors.New("store: version mismatch")

// Environment is a Dataverse environment (an organization), bound to one
// tenant.
type Environment struct {
	ID       string // organization id (GUID)
	Name     string // unique short name
	TenantID string
	URL      string // base URL, the token audience
	// Authority is the identity provider whose tokens the environment
	// trusts (e.g. https://login.microsoftonline.com); "" is the built-in
	// identity service.
	Authority string
	CreatedAt time.Time
}

// Environments persists the environment registry.
type Environments interface {
	CreateEnvironment(ctx context.Context, e Environment) error
	// Environment finds an environment by id or name (case-insensitive).
	Environment(ctx context.Context, idOrName string) (Environment, error)
	UpdateEnvironment(ctx context.Context, e Environment) error
	ListEnvironments(ctx context.Context) ([]Environment, error)
}

// Row is one Dataverse row: logical column name to value. Values are nil,
// string (text, and GUIDs in lower case), int64 (integer, bigint, choice,
// state, status), float64 (decimal, double, money), bool, time.Time (UTC,
// second precision), or Ref (lookups).
type Row map[string]any

// Ref is a lookup value.
type Ref struct {
	ID    string // lower-case GUID
	Table string // logical name of the referenced table
}

// Query selects rows of one table.
type Query struct {
	Columns []string // nil: all columns
	Where   Cond     // nil: all rows
	OrderBy []Order
	Limit   int // 0: no limit
	Offset  int
}

// Order is one ORDER BY term.
type Order struct {
	Column string
	Desc   bool
}

// Cond is a row condition, compiled to parameterised SQL by each backend.
// Values in conditions are typed as in Row.
type Cond interface{ isCond() }

// And is true when every condition is.
type And []Cond

// Or is true when any condition is.
type Or []Cond

// Not negates a condition.
type Not struct{ C Cond }

// Compare compares a column with a value: Op is one of eq ne gt ge lt le,
// or band (true when the integer column shares a set bit with Value).
// A nil Value with eq/ne tests for null.
type Compare struct {
	Column string
	Op     string
	Value  any
}

// CompareColumns compares two columns of the same row.
type CompareColumns struct {
	Left, Op, Right string
}

// Match is a case-insensitive pattern match: Mode is contains, startswith
// or endswith. % and _ in Pattern are wildcards, as in Dataverse (T-SQL).
type Match struct {
	Column  string
	Mode    string
	Pattern string
}

// In is true when the column equals one of Values.
type In struct {
	Column string
	Values []any
}

// Related is true when the lookup Column references a row of Table that
// satisfies Where (navigation paths such as primarycontactid/fullname).
type Related struct {
	Column string
	Table  *schema.Table
	Where  Cond
}

// Children is true when some (All: every) row of Table whose lookup Column
// references this row satisfies Where (lambda any/all on 1:N).
type Children struct {
	Table  *schema.Table
	Column string
	Where  Cond
	All    bool
}

// Linked is true when some (All: every) row of Target linked to this row
// through the many-to-many relationship satisfies Where. ThisCol and
// OtherCol are the intersect table's columns for this table and Target.
type Linked struct {
	Intersect string
	ThisCol   string
	OtherCol  string
	Target    *schema.Table
	Where     Cond
	All       bool
}

// InQuery is true when Column equals Select of some row of Table that
// satisfies Where: Column IN (SELECT Select FROM Table WHERE Where).
type InQuery struct {
	Column string
	Table  *schema.Table
	Select string
	Where  Cond
}

// Bool is a constant condition.
type Bool bool

func (And) isCond()            {}
func (Or) isCond()             {}
func (Not) isCond()            {}
func (Compare) isCond()        {}
func (CompareColumns) isCond() {}
func (Match) isCond()          {}
func (In) isCond()             {}
func (Related) isCond()        {}
func (Children) isCond()       {}
func (Linked) isCond()         {}
func (Bool) isCond()           {}
func (InQuery) isCond()        {}

// Data is the rows of one environment: one SQL table per Dataverse table,
// with typed columns.
type Data interface {
	// Sync creates or extends the SQL tables to match the schema.
	Sync(ctx context.Context, s *schema.Schema) error
	// Insert adds a row; it must carry the primary id. The store assigns
	// versionnumber. ErrConflict if the id or an alternate key exists.
	Insert(ctx context.Context, t *schema.Table, r Row) (version int64, err error)
	// Get reads a row by primary id; cols nil means all.
	Get(ctx context.Context, t *schema.Table, id string, cols []string) (Row, error)
	// Update changes the given columns; if ifVersion is not 0 the row's
	// versionnumber must equal it (ErrVersion otherwise). ErrNotFound if
	// the row does not exist.
	Update(ctx context.Context, t *schema.Table, id string, r Row, ifVersion int64) (version int64, err error)
	// Delete removes a row (and its many-to-many links); ifVersion as in
	// Update.
	Delete(ctx context.Context, t *schema.Table, id string, ifVersion int64) error
	// Query returns the rows matching q.
	Query(ctx context.Context, t *schema.Table, q Query) ([]Row, error)
	// Count returns the number of rows matching where.
	Count(ctx context.Context, t *schema.Table, where Cond) (int, error)
	// Associate links two rows through a many-to-many relationship
	// (ErrConflict if already linked); Disassociate unlinks them
	// (ErrNotFound if not linked). id1 belongs to m.Entity1.
	Associate(ctx context.Context, m *schema.ManyToMany, id1, id2 string) error
	Disassociate(ctx context.Context, m *schema.ManyToMany, id1, id2 string) error
	// InTx runs fn in one transaction: every change or none.
	InTx(ctx context.Context, fn func(Data) error) error
	// SetMeta and Meta keep small per-environment documents (custom table
	// definitions).
	SetMeta(ctx context.Context, key string, value []byte) error
	Meta(ctx context.Context, prefix string) (map[string][]byte, error)
}
