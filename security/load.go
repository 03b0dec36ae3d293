package security

import (
	"context"
	"fmt"
	"strings"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// Load reads a user's effective rights from an environment's rows: its
// business unit and the subtree below it, its owner teams, its roles
// (direct and through teams) and their privileges.
func Load(ctx context.Context, d store.Data, s *schema.Schema, userID string) (*Principal, error) {
	users, bus, teams, roles := s.Table(schema.TableSystemUser), s.Table(schema.TableBusinessUnit), s.Table(schema.TableTeam), s.Table(schema.TableRole)
	u, err := d.Get(ctx, users, userID, []string{"systemuserid", "businessunitid"})
	if err != nil {
		return nil, fmt.Errorf("security: user %s: %w", userID, err)
	}
	p := &Principal{UserID: userID, Privileges: map[string]Depth{}}
	if b, ok := u["businessunitid"].(store.Ref); ok {
		p.BU = b.ID
	}
	// Business unit subtree (Deep).
	all, err := d.Query(ctx, bus, store.Query{Columns: []string{"businessunitid", "parentbusinessunitid"}})
	if err != nil {
		return nil, err
	}
	children := map[string][]string{}
	for _, r := range all {
		if parent, ok := r["parentbusinessunitid"].(store.Ref); ok {
			children[parent.ID] = append(children[parent.ID], r["businessunitid"].(string))
		}
	}
	p.Subtree = Subtree(children, p.BU)
	// Teams (owner teams only give ownership access).
	memberOf := store.Linked{Intersect: "teammembership", ThisCol: "teamid", OtherCol: "systemuserid", Target: users,
		Where: store.Compare{Column: "systemuserid", Op: "eq", Value: userID}}
	tr, err := d.Query(ctx, teams, store.Query{Columns: []string{"teamid", "name", "teamtype"}, Where: memberOf})
	if err != nil {
		return nil, err
	}
	teamName := map[string]string{}
	for _, r := range tr {
		id := r["teamid"].(string)
		teamName[id], _ = r["name"].(string)
		if tt, _ := r["teamtype"].(int64); tt == 0 {
			p.Teams = append(p.Teams, id)
		}
	}
	// Roles: direct, and through any team of the user.
	direct := store.Linked{Intersect: "systemuserroles", ThisCol: "roleid", OtherCol: "systemuserid", Target: users,
		Where: store.Compare{Column: "systemuserid", Op: "eq", Value: userID}}
	rr, err := d.Query(ctx, roles, store.Query{Columns: []string{"roleid", "name", "roletemplateid"}, Where: direct})
	if err != nil {
		return nil, err
	}
	add := func(r store.Row, via string) {
		id := r["roleid"].(string)
		name, _ := r["name"].(string)
		p.Roles = append(p.Roles, RoleInfo{ID: id, Name: name, ViaTeam: via})
		if tpl, _ := r["roletemplateid"].(string); strings.EqualFold(tpl, TemplateSysAdm) {
			p.SysAdmin = true
		}
	}
	for _, r := range rr {
		add(r, "")
	}
	for teamID, name := range teamName {
		viaTeam := store.Linked{Intersect: "teamroles", ThisCol: "roleid", OtherCol: "teamid", Target: teams,
			Where: store.Compare{Column: "teamid", Op: "eq", Value: teamID}}
		tr, err := d.Query(ctx, roles, store.Query{Columns: []string{"roleid", "name", "roletemplateid"}, Where: viaTeam})
		if err != nil {
			return nil, err
		}
		for _, r := range tr {
			add(r, name)
		}
	}
	if len(p.Roles) == 0 {
		return p, nil
	}
	ids := make([]any, len(p.Roles))
	for i, r := range p.Roles {
		ids[i] = store.Ref{ID: r.ID}
	}
	privs, err := RolePrivileges(ctx, d, s, ids...)
	if err != nil {
		return nil, err
	}
	for _, rp := range privs {
		if rp.Depth > p.Privileges[rp.Name] {
			p.Privileges[rp.Name] = rp.Depth
		}
	}
	return p, nil
}

// Subtree returns bu and all its descendants.
func Subtree(children map[string][]string, bu string) []string {
	out := []string{}
	seen := map[string]bool{}
	var walk func(string)
	walk = func(b string) {
		if b == "" || seen[b] {
			return
		}
		seen[b] = true
		out = append(out, b)
		for _, c := range children[b] {
			walk(c)
		}
	}
	walk(bu)
	return out
}

// RolePrivilege is a privilege held by a role at a depth.
type RolePrivilege struct {
	RoleID, PrivilegeID, Name string
	Depth                     Depth
}

// RolePrivileges lists the privileges stored for roles (System
// Administrator holds everything implicitly and stores nothing).
func RolePrivileges(ctx context.Context, d store.Data, s *schema.Schema, roleIDs ...any) ([]RolePrivilege, error) {
	rp, priv := s.Table(schema.TableRolePrivileges), s.Table(schema.TablePrivilege)
	rows, err := d.Query(ctx, rp, store.Query{Columns: []string{"roleid", "privilegeid", "privilegedepthmask"},
		Where: store.In{Column: "roleid", Values: roleIDs}})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	var pids []any
	for _, r := range rows {
		pids = append(pids, r["privilegeid"].(store.Ref).ID)
	}
	names := map[string]string{}
	prs, err := d.Query(ctx, priv, store.Query{Columns: []string{"privilegeid", "name"}, Where: store.In{Column: "privilegeid", Values: pids}})
	if err != nil {
		return nil, err
	}
	for _, r := range prs {
		names[r["privilegeid"].(string)], _ = r["name"].(string)
	}
	out := make([]RolePrivilege, 0, len(rows))
	for _, r := range rows {
		pid := r["privilegeid"].(store.Ref).ID
		mask, _ := r["privilegedepthmask"].(int64)
		out = append(out, RolePrivilege{RoleID: r["roleid"].(store.Ref).ID, PrivilegeID: pid, Name: names[pid], Depth: DepthFromMask(mask)})
	}
	return out, nil
}
