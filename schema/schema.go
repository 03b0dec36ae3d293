// Package schema holds Dataverse table definitions: tables, columns,
// relationships and alternate keys, the system tables every environment has,
// and the rules custom tables must follow. It is the metadata the Web API,
// the OData layer and the row store all read; it does no I/O.
package schema

import (
	"fmt"
	"sort"
	"strings"
)

// Type is a column's attribute type (AttributeTypeCode).
type Type int

// Column types.
const (
	String Type = iota + 1
	Memo
	Integer
	BigInt
	Decimal
	Double
	Money
	Boolean
	DateTime
	Choice // Picklist
	Lookup // single target; Owner and Customer are polymorphic lookups
	Owner
	Customer
	UniqueIdentifier
	State
	Status
)

var typeNames = map[Type]string{
	String: "String", Memo: "Memo", Integer: "Integer", BigInt: "BigInt", Decimal: "Decimal", Double: "Double",
	Money: "Money", Boolean: "Boolean", DateTime: "DateTime", Choice: "Picklist", Lookup: "Lookup", Owner: "Owner",
	Customer: "Customer", UniqueIdentifier: "Uniqueidentifier", State: "State", Status: "Status",
}

// String returns the AttributeTypeCode name.
func (t Type) String() string { return typeNames[t] }

// ParseType parses an AttributeTypeCode name (case-insensitive).
func ParseType(s string) (Type, bool) {
	for t, n := range typeNames {
		if strings.EqualFold(n, s) {
			return t, true
		}
	}
	return 0, false
}

// IsLookup reports whether the type references other rows.
func (t Type) IsLookup() bool { return t == Lookup || t == Owner || t == Customer }

// IsNumeric reports whether values are numbers.
func (t Type) IsNumeric() bool {
	switch t {
	case Integer, BigInt, Decimal, Double, Money, Choice, State, Status:
		return true
	}
	return false
}

// IsText reports whether values are strings.
func (t Type) IsText() bool { return t == String || t == Memo }

// RequiredLevel is AttributeRequiredLevel.
type RequiredLevel int

// Required levels.
const (
	None RequiredLevel = iota
	Recommended
	ApplicationRequired
	SystemRequired
)

// Option is a choice value.
type Option struct {
	Value int
	Label string
	State int // for status options: the statecode it belongs to
}

// Column is an attribute of a table.
type Column struct {
	LogicalName string
	SchemaName  string
	DisplayName string
	Type        Type
	MaxLength   int // String, Memo
	Precision   int // Decimal, Money
	MinValue    float64
	MaxValue    float64
	Required    RequiredLevel
	Options     []Option
	Targets     []string // lookup target tables
	// ReadOnly columns are set by the platform (createdon, versionnumber...).
	ReadOnly bool
	// ValidForCreate/Update are false for columns the caller can never set.
	CreateOnly bool // settable on create only (primary id)
	Custom     bool
	MetadataID string
}

// OptionLabel returns the label of a choice value.
func (c *Column) OptionLabel(v int) (string, bool) {
	for _, o := range c.Options {
		if o.Value == v {
			return o.Label, true
		}
	}
	return "", false
}

// Ownership is a table's OwnershipType.
type Ownership int

// Ownership types.
const (
	UserOwned Ownership = iota + 1
	OrganizationOwned
	BusinessOwned
	NoOwnership
)

func (o Ownership) String() string {
	switch o {
	case UserOwned:
		return "UserOwned"
	case OrganizationOwned:
		return "OrganizationOwned"
	case BusinessOwned:
		return "BusinessOwned"
	}
	return "None"
}

// Relationship is a one-to-many relationship: rows of Referencing point at a
// row of Referenced through the lookup column ReferencingAttribute.
type Relationship struct {
	SchemaName           string
	Referenced           string // "one" side table
	Referencing          string // "many" side table
	ReferencingAttribute string // lookup column on Referencing
	// ReferencingNav is the single-valued navigation property on the
	// referencing table; ReferencedNav the collection-valued one on the
	// referenced table.
	ReferencingNav string
	ReferencedNav  string
	MetadataID     string
}

// ManyToMany is an N:N relationship through an intersect table.
type ManyToMany struct {
	SchemaName string
	Entity1    string
	Entity2    string
	Intersect  string // intersect SQL table
	Entity1Col string // intersect column referencing Entity1's primary id
	Entity2Col string
	Entity1Nav string // collection navigation property on Entity1
	Entity2Nav string
	MetadataID string
}

// Key is an alternate key.
type Key struct {
	Name    string
	Columns []string
}

// Table is a table definition (EntityMetadata).
type Table struct {
	LogicalName           string
	SchemaName            string
	EntitySetName         string
	DisplayName           string
	DisplayCollectionName string
	Description           string
	PrimaryID             string
	PrimaryName           string
	Ownership             Ownership
	ObjectTypeCode        int
	Custom                bool
	MetadataID            string
	Columns               []*Column
	Keys                  []Key

	cols map[string]*Column
}

// Column returns the column with the logical name, or nil.
func (t *Table) Column(name string) *Column {
	if t.cols == nil {
		t.index()
	}
	return t.cols[name]
}

func (t *Table) index() {
	t.cols = make(map[string]*Column, len(t.Columns))
	for _, c := range t.Columns {
		t.cols[c.LogicalName] = c
	}
}

// Schema is the set of tables and relationships of one environment.
type Schema struct {
	tables    map[string]*Table // by logical name
	bySet     map[string]*Table // by entity set name
	rels      []*Relationship
	m2m       []*ManyToMany
	relByName map[string]*Relationship
	m2mByName map[string]*ManyToMany
}

// New builds a schema from tables and relationships, checking they are
// consistent.
func New(tables []*Table, rels []*Relationship, m2m []*ManyToMany) (*Schema, error) {
	s := &Schema{tables: map[string]*Table{}, bySet: map[string]*Table{}, relByName: map[string]*Relationship{}, m2mByName: map[string]*ManyToMany{}}
	for _, t := range tables {
		if err := s.addTable(t); err != nil {
			return nil, err
		}
	}
	for _, r := range rels {
		if err := s.addRel(r); err != nil {
			return nil, err
		}
	}
	for _, m := range m2m {
		if err := s.addM2M(m); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Schema) addTable(t *Table) error {
	if _, ok := s.tables[t.LogicalName]; ok {
		return fmt.Errorf("schema: duplicate table %s", t.LogicalName)
	}
	if _, ok := s.bySet[t.EntitySetName]; ok {
		return fmt.Errorf("schema: duplicate entity set %s", t.EntitySetName)
	}
	t.index()
	if t.Column(t.PrimaryID) == nil || t.Column(t.PrimaryName) == nil {
		return fmt.Errorf("schema: table %s lacks its primary id or name column", t.LogicalName)
	}
	s.tables[t.LogicalName] = t
	s.bySet[t.EntitySetName] = t
	return nil
}

func (s *Schema) addRel(r *Relationship) error {
	from, to := s.tables[r.Referencing], s.tables[r.Referenced]
	if from == nil || to == nil {
		return fmt.Errorf("schema: relationship %s joins unknown tables", r.SchemaName)
	}
	if c := from.Column(r.ReferencingAttribute); c == nil || !c.Type.IsLookup() {
		return fmt.Errorf("schema: relationship %s: %s.%s is not a lookup", r.SchemaName, r.Referencing, r.ReferencingAttribute)
	}
	if _, ok := s.relByName[r.SchemaName]; ok {
		return fmt.Errorf("schema: duplicate relationship %s", r.SchemaName)
	}
	s.rels = append(s.rels, r)
	s.relByName[r.SchemaName] = r
	return nil
}

func (s *Schema) addM2M(m *ManyToMany) error {
	if s.tables[m.Entity1] == nil || s.tables[m.Entity2] == nil {
		return fmt.Errorf("schema: relationship %s joins unknown tables", m.SchemaName)
	}
	s.m2m = append(s.m2m, m)
	s.m2mByName[m.SchemaName] = m
	return nil
}

// Table returns a table by logical name.
func (s *Schema) Table(logical string) *Table { return s.tables[logical] }

// BySet returns a table by entity set name (case-sensitive, as Dataverse).
func (s *Schema) BySet(set string) *Table { return s.bySet[set] }

// Tables returns every table, sorted by logical name.
func (s *Schema) Tables() []*Table {
	out := make([]*Table, 0, len(s.tables))
	for _, t := range s.tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LogicalName < out[j].LogicalName })
	return out
}

// Relationships returns the one-to-many relationships.
func (s *Schema) Relationships() []*Relationship { return s.rels }

// ManyToManys returns the many-to-many relationships.
func (s *Schema) ManyToManys() []*ManyToMany { return s.m2m }

// Nav is a navigation property of a table, resolved.
type Nav struct {
	Name   string
	Target *Table
	// Exactly one of these is set.
	Single *Relationship // single-valued: this table's lookup
	Many   *Relationship // collection-valued: other rows pointing here
	M2M    *ManyToMany   // collection-valued through an intersect table
	// Column is the lookup column for Single.
	Column *Column
}

// Collection reports whether the navigation property is collection-valued.
func (n *Nav) Collection() bool { return n.Single == nil }

// Nav resolves a navigation property name on table t (case-sensitive).
func (s *Schema) Nav(t *Table, name string) *Nav {
	for _, r := range s.rels {
		if r.Referencing == t.LogicalName && r.ReferencingNav == name {
			return &Nav{Name: name, Target: s.tables[r.Referenced], Single: r, Column: t.Column(r.ReferencingAttribute)}
		}
		if r.Referenced == t.LogicalName && r.ReferencedNav == name {
			return &Nav{Name: name, Target: s.tables[r.Referencing], Many: r}
		}
	}
	for _, m := range s.m2m {
		if m.Entity1 == t.LogicalName && m.Entity1Nav == name {
			return &Nav{Name: name, Target: s.tables[m.Entity2], M2M: m}
		}
		if m.Entity2 == t.LogicalName && m.Entity2Nav == name {
			return &Nav{Name: name, Target: s.tables[m.Entity1], M2M: m}
		}
	}
	return nil
}

// Navs lists every navigation property of table t.
func (s *Schema) Navs(t *Table) []*Nav {
	var out []*Nav
	for _, r := range s.rels {
		if r.Referencing == t.LogicalName {
			out = append(out, s.Nav(t, r.ReferencingNav))
		}
		if r.Referenced == t.LogicalName {
			out = append(out, &Nav{Name: r.ReferencedNav, Target: s.tables[r.Referencing], Many: r})
		}
	}
	for _, m := range s.m2m {
		if m.Entity1 == t.LogicalName {
			out = append(out, &Nav{Name: m.Entity1Nav, Target: s.tables[m.Entity2], M2M: m})
		}
		if m.Entity2 == t.LogicalName && (m.Entity1 != m.Entity2 || m.Entity2Nav != m.Entity1Nav) {
			out = append(out, &Nav{Name: m.Entity2Nav, Target: s.tables[m.Entity1], M2M: m})
		}
	}
	return out
}

// With returns a new schema with extra tables and relationships added
// (custom tables on top of the system ones).
func (s *Schema) With(tables []*Table, rels []*Relationship, m2m []*ManyToMany) (*Schema, error) {
	all := append(s.Tables(), tables...)
	r := append(append([]*Relationship{}, s.rels...), rels...)
	m := append(append([]*ManyToMany{}, s.m2m...), m2m...)
	return New(all, r, m)
}
