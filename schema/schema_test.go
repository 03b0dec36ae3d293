package schema

import "testing"

func TestSystemSchema(t *testing.T) {
	s := System()
	for _, set := range []string{"accounts", "contacts", "systemusers", "teams", "roles", "businessunits", "organizations", "privileges"} {
		tb := s.BySet(set)
		if tb == nil {
			t.Fatalf("no entity set %s", set)
		}
		for _, c := range []string{tb.PrimaryID, tb.PrimaryName, "createdon", "modifiedon", "createdby", "modifiedby",
			"createdonbehalfby", "modifiedonbehalfby", "versionnumber", "statecode", "statuscode"} {
			if tb.Column(c) == nil {
				t.Errorf("%s lacks %s", set, c)
			}
		}
	}
	for _, c := range []string{"ownerid", "owningbusinessunit"} {
		if s.Table("account").Column(c) == nil {
			t.Errorf("account lacks %s", c)
		}
	}
	tests := []struct {
		table, nav, target string
		collection         bool
	}{
		{"account", "primarycontactid", "contact", false},
		{"contact", "account_primary_contact", "account", true},
		{"contact", "parentcustomerid_account", "account", false},
		{"account", "contact_customer_accounts", "contact", true},
		{"systemuser", "systemuserroles_association", "role", true},
		{"role", "systemuserroles_association", "systemuser", true},
		{"team", "teammembership_association", "systemuser", true},
		{"account", "createdby", "systemuser", false},
		{"account", "owninguser", "systemuser", false},
		{"systemuser", "businessunitid", "businessunit", false},
	}
	for _, tc := range tests {
		n := s.Nav(s.Table(tc.table), tc.nav)
		if n == nil || n.Target.LogicalName != tc.target || n.Collection() != tc.collection {
			t.Errorf("%s.%s = %+v", tc.table, tc.nav, n)
		}
	}
	if s.Nav(s.Table("account"), "PrimaryContactId") != nil {
		t.Error("navigation names must be case-sensitive")
	}
	if len(s.Navs(s.Table("account"))) < 8 {
		t.Errorf("account navs: %d", len(s.Navs(s.Table("account"))))
	}
}
