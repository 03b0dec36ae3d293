// Package security is the one decision point of the data service: whether
// principal P may do action X to row R of table T, following Dataverse's
// documented algorithm (reference §5.4): a privilege check (the principal
// holds prv<Action><Table> at any depth, through its roles or its teams'
// roles), then an access check (ownership, owning-team membership, the
// privilege's depth against the row's owning business unit, sharing). For
// queries the same rule becomes a row condition compiled to SQL, so rows a
// principal may not read never leave the database.
package security

import (
	"crypto/sha1"
	"fmt"
	"strings"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// Depth is a privilege depth (access level). Higher depths include lower.
type Depth int

// Depths (reference §5.1).
const (
	None   Depth = iota
	Basic        // user: own rows, rows of own teams, shared rows
	Local        // business unit
	Deep         // business unit and its descendants
	Global       // organization
)

var depthNames = []string{"None", "Basic", "Local", "Deep", "Global"}

func (d Depth) String() string {
	if d < None || d > Global {
		return fmt.Sprintf("Depth(%d)", int(d))
	}
	return depthNames[d]
}

// ParseDepth parses a PrivilegeDepth name (Basic, Local, Deep, Global) or
// its number (0-3, as the Web API enum).
func ParseDepth(s string) (Depth, bool) {
	for i, n := range depthNames[1:] {
		if strings.EqualFold(s, n) || s == fmt.Sprint(i) {
			return Depth(i + 1), true
		}
	}
	return None, false
}

// Mask is the privilegedepthmask bit of a depth (0x1, 0x2, 0x4, 0x8).
func (d Depth) Mask() int64 {
	if d <= None {
		return 0
	}
	return 1 << (d - 1)
}

// DepthFromMask is the highest depth in a privilegedepthmask.
func DepthFromMask(m int64) Depth {
	for d := Global; d > None; d-- {
		if m&d.Mask() != 0 {
			return d
		}
	}
	return None
}

// Action is a record-level privilege action.
type Action int

// Actions (reference §5.1).
const (
	Create Action = iota
	Read
	Write
	Delete
	Append
	AppendTo
	Assign
	Share
)

// Actions lists every record-level action.
var Actions = []Action{Create, Read, Write, Delete, Append, AppendTo, Assign, Share}

var actionNames = []string{"Create", "Read", "Write", "Delete", "Append", "AppendTo", "Assign", "Share"}

func (a Action) String() string { return actionNames[a] }

// Right is the AccessRights flag of an action (reference §5.1).
func (a Action) Right() int64 {
	return [...]int64{32, 1, 2, 65536, 4, 16, 524288, 262144}[a]
}

// RightName is the AccessRights name used in access-check messages
// (ReadAccess, WriteAccess, ...).
func (a Action) RightName() string { return a.String() + "Access" }

// ParseRights parses an AccessMask such as "ReadAccess, WriteAccess".
func ParseRights(s string) (int64, bool) {
	var m int64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" || part == "None" {
			continue
		}
		ok := false
		for _, a := range Actions {
			if strings.EqualFold(part, a.RightName()) {
				m |= a.Right()
				ok = true
			}
		}
		if !ok {
			return 0, false
		}
	}
	return m, true
}

// Miscellaneous privileges.
const (
	PrvActOnBehalf  = "prvActOnBehalfOfAnotherUser"
	PrvReadAudit    = "prvReadAuditSummary"
	TemplateSysAdm  = "627090ff-40a3-4053-8790-584edc5be201"
	TemplateBasic   = "236750cd-45ae-4939-ab12-b24b920ced93"
	TemplateDelegat = "d892cc0b-28c7-4e88-bd92-72f2c366baed"
)

// MiscPrivileges are the task-based privileges dvs2s knows.
var MiscPrivileges = []string{PrvActOnBehalf, PrvReadAudit}

// privilegeEntity is the name privileges use for a table: systemuser's
// privileges are prv<Action>User; others use the schema name as is.
func privilegeEntity(t *schema.Table) string {
	if t.LogicalName == schema.TableSystemUser {
		return "User"
	}
	return t.SchemaName
}

// PrivilegeName is prv<Action><Table>, e.g. prvReadAccount. Reading the
// audit table is prvReadAuditSummary.
func PrivilegeName(a Action, t *schema.Table) string {
	if t.LogicalName == schema.TableAudit && a == Read {
		return PrvReadAudit
	}
	return "prv" + a.String() + privilegeEntity(t)
}

// PrivilegeID is the stable id of a privilege (the same in every
// environment, as Dataverse's privilege ids are).
func PrivilegeID(name string) string {
	h := sha1.Sum([]byte("dvs2s privilege " + strings.ToLower(name)))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Privilege is one privilege definition.
type Privilege struct {
	ID, Name string
	Right    int64 // access right of a record-level privilege, 0 for misc
	// Depths the privilege can have (organization-owned tables and
	// miscellaneous privileges are Global only).
	CanBeBasic, CanBeLocal, CanBeDeep bool
}

// Privileges returns the privileges of a schema: eight per table plus the
// miscellaneous ones.
func Privileges(s *schema.Schema) []Privilege {
	var out []Privilege
	for _, t := range s.Tables() {
		if t.LogicalName == schema.TableAudit {
			continue // read through prvReadAuditSummary; never written by callers
		}
		scoped := t.Ownership == schema.UserOwned || t.Ownership == schema.BusinessOwned
		for _, a := range Actions {
			n := PrivilegeName(a, t)
			out = append(out, Privilege{ID: PrivilegeID(n), Name: n, Right: a.Right(), CanBeBasic: t.Ownership == schema.UserOwned,
				CanBeLocal: scoped, CanBeDeep: scoped})
		}
	}
	for _, n := range MiscPrivileges {
		out = append(out, Privilege{ID: PrivilegeID(n), Name: n})
	}
	return out
}

// RoleInfo describes a role a principal holds (for diagnostics).
type RoleInfo struct {
	ID, Name string
	ViaTeam  string // team name when held through a team
}

// Principal is a user (or application user) with its effective rights:
// the union of its roles' and its owner teams' roles' privileges, each at
// its highest depth.
type Principal struct {
	UserID     string
	BU         string   // the user's business unit
	Subtree    []string // the user's business unit and its descendants
	Teams      []string // owner teams the user is a member of
	Roles      []RoleInfo
	SysAdmin   bool // holds System Administrator: every privilege, Global
	Privileges map[string]Depth
}

// Depth is the depth at which p holds privilege name.
func (p *Principal) Depth(name string) Depth {
	if p.SysAdmin {
		return Global
	}
	return p.Privileges[name]
}

// Intersect returns the rights of caller acting on behalf of user
// (impersonation, reference §2.2): the identity and relations are the
// user's; each privilege is held at the lower of the two depths.
func Intersect(caller, user *Principal) *Principal {
	out := *user
	out.SysAdmin = caller.SysAdmin && user.SysAdmin
	out.Privileges = map[string]Depth{}
	// Names held by either side; a System Administrator side holds every
	// name at Global, so the other side's names are all that can survive.
	for name := range union(caller, user) {
		d := min(caller.Depth(name), user.Depth(name))
		if d > None {
			out.Privileges[name] = d
		}
	}
	return &out
}

func union(a, b *Principal) map[string]bool {
	names := map[string]bool{}
	for _, p := range []*Principal{a, b} {
		for n := range p.Privileges {
			names[n] = true
		}
	}
	return names
}

// Denial explains a refused action.
type Denial struct {
	Access    bool   // false: privilege check failed; true: access check
	Privilege string // prv<Action><Table>
	Action    Action
	Table     *schema.Table
	RowID     string
	Held      Depth
	Needed    Depth // depth that would have allowed the access
	Owner     store.Ref
	OwnerBU   string
}

// Check decides whether p may do a to row r of table t (r holds at least
// the primary id, ownerid/owningbusinessunit or businessunitid); shared is
// the access rights mask shared with p (or its teams) on that row.
func (p *Principal) Check(a Action, t *schema.Table, r store.Row, shared int64) *Denial {
	name := PrivilegeName(a, t)
	held := p.Depth(name)
	d := &Denial{Privilege: name, Action: a, Table: t, Held: held}
	if held == None {
		return d
	}
	if t.Ownership == schema.OrganizationOwned || t.Ownership == schema.NoOwnership || r == nil {
		return nil
	}
	d.Access = true
	d.RowID, _ = r[t.PrimaryID].(string)
	owner, bu := Ownership(t, r)
	d.Owner, d.OwnerBU = owner, bu
	if owner.ID != "" && (owner.ID == p.UserID || owner.Table == schema.TableTeam && contains(p.Teams, owner.ID)) {
		return nil
	}
	if t.LogicalName == schema.TableSystemUser && d.RowID == p.UserID {
		return nil
	}
	needed := Global
	switch {
	case bu != "" && bu == p.BU:
		needed = Local
	case bu != "" && contains(p.Subtree, bu):
		needed = Deep
	}
	d.Needed = needed
	if held >= needed || shared&a.Right() != 0 {
		return nil
	}
	return d
}

// Ownership returns a row's owner (user-owned tables) and the business
// unit its access depends on.
func Ownership(t *schema.Table, r store.Row) (store.Ref, string) {
	var owner store.Ref
	var bu string
	switch t.Ownership {
	case schema.UserOwned:
		owner, _ = r["ownerid"].(store.Ref)
		if b, ok := r["owningbusinessunit"].(store.Ref); ok {
			bu = b.ID
		}
	case schema.BusinessOwned:
		if t.LogicalName == schema.TableBusinessUnit {
			bu, _ = r[t.PrimaryID].(string)
		} else if b, ok := r["businessunitid"].(store.Ref); ok {
			bu = b.ID
		}
	}
	return owner, bu
}

// OwnershipColumns are the columns Check needs from a row.
func OwnershipColumns(t *schema.Table) []string {
	cols := []string{t.PrimaryID}
	switch t.Ownership {
	case schema.UserOwned:
		cols = append(cols, "ownerid", "owningbusinessunit")
	case schema.BusinessOwned:
		if t.LogicalName != schema.TableBusinessUnit {
			cols = append(cols, "businessunitid")
		}
	}
	return cols
}

// Filter is the row condition for action a on table t: the rows p may act
// on, as a store condition (nil: every row). The caller checks the
// privilege first (Depth > None).
func (p *Principal) Filter(a Action, t *schema.Table, s *schema.Schema) store.Cond {
	held := p.Depth(PrivilegeName(a, t))
	if held == Global || t.Ownership == schema.OrganizationOwned || t.Ownership == schema.NoOwnership {
		return nil
	}
	if held == None {
		return store.Bool(false)
	}
	var or store.Or
	buCol := "businessunitid"
	switch t.Ownership {
	case schema.UserOwned:
		buCol = "owningbusinessunit"
		owners := []any{store.Ref{ID: p.UserID}}
		for _, tm := range p.Teams {
			owners = append(owners, store.Ref{ID: tm})
		}
		or = append(or, store.In{Column: "ownerid", Values: owners})
	case schema.BusinessOwned:
		if t.LogicalName == schema.TableBusinessUnit {
			buCol = t.PrimaryID
		}
		if t.LogicalName == schema.TableSystemUser {
			or = append(or, store.Compare{Column: t.PrimaryID, Op: "eq", Value: p.UserID})
		}
	}
	buVal := func(id string) any {
		if buCol == t.PrimaryID {
			return id
		}
		return store.Ref{ID: id}
	}
	switch held {
	case Local:
		or = append(or, store.Compare{Column: buCol, Op: "eq", Value: buVal(p.BU)})
	case Deep:
		vals := make([]any, len(p.Subtree))
		for i, b := range p.Subtree {
			vals[i] = buVal(b)
		}
		or = append(or, store.In{Column: buCol, Values: vals})
	}
	if poa := s.Table(schema.TablePOA); poa != nil {
		principals := []any{p.UserID}
		for _, tm := range p.Teams {
			principals = append(principals, tm)
		}
		or = append(or, store.InQuery{Column: t.PrimaryID, Table: poa, Select: "objectid", Where: store.And{
			store.Compare{Column: "objecttypecode", Op: "eq", Value: t.LogicalName},
			store.In{Column: "principalid", Values: principals},
			store.Compare{Column: "accessrightsmask", Op: "band", Value: a.Right()},
		}})
	}
	return or
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
