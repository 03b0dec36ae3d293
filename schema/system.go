package schema

import (
	"crypto/sha1"
	"fmt"
	"strings"
)

// Well-known logical names.
const (
	TableOrganization = "organization"
	TableBusinessUnit = "businessunit"
	TableSystemUser   = "systemuser"
	TableTeam         = "team"
	TableRole         = "role"
	TablePrivilege    = "privilege"
	TableAccount      = "account"
	TableContact      = "contact"
)

// metadataID derives a stable MetadataId for a system component, so every
// environment (and every start) shows the same ids.
func metadataID(parts ...string) string {
	h := sha1.Sum([]byte("dvs2s metadata " + strings.Join(parts, "/")))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func col(name string, typ Type, display string) *Column {
	c := &Column{LogicalName: name, SchemaName: schemaName(name), DisplayName: display, Type: typ}
	switch typ {
	case String:
		c.MaxLength = 100
	case Memo:
		c.MaxLength = 2000
	case Decimal:
		c.Precision, c.MinValue, c.MaxValue = 2, -100000000000, 100000000000
	case Money:
		c.Precision, c.MinValue, c.MaxValue = 4, -922337203685477, 922337203685477
	case Double:
		c.Precision, c.MinValue, c.MaxValue = 5, -100000000000, 100000000000
	case Integer:
		c.MinValue, c.MaxValue = -2147483648, 2147483647
	case BigInt:
		c.MinValue, c.MaxValue = -9223372036854775808, 9223372036854775807
	}
	return c
}

func schemaName(logical string) string {
	if logical == "" {
		return ""
	}
	return strings.ToUpper(logical[:1]) + logical[1:]
}

func lookup(name, display string, targets ...string) *Column {
	c := col(name, Lookup, display)
	c.Targets = targets
	return c
}

func readOnly(c *Column) *Column { c.ReadOnly = true; return c }

func required(c *Column) *Column { c.Required = ApplicationRequired; return c }

func withMax(c *Column, n int) *Column { c.MaxLength = n; return c }

func choice(name, display string, opts ...Option) *Column {
	c := col(name, Choice, display)
	c.Options = opts
	return c
}

// StateOptions and StatusOptions are the default state and status choices
// (Active/Inactive).
var (
	StateOptions  = []Option{{Value: 0, Label: "Active"}, {Value: 1, Label: "Inactive"}}
	StatusOptions = []Option{{Value: 1, Label: "Active", State: 0}, {Value: 2, Label: "Inactive", State: 1}}
)

// StandardColumns returns the columns every table of the given ownership
// has besides its primary id and name: audit columns, owner (user-owned),
// version number, state and status.
func StandardColumns(o Ownership) []*Column {
	cols := []*Column{
		readOnly(col("createdon", DateTime, "Created On")),
		readOnly(col("modifiedon", DateTime, "Modified On")),
		readOnly(lookup("createdby", "Created By", TableSystemUser)),
		readOnly(lookup("modifiedby", "Modified By", TableSystemUser)),
		readOnly(lookup("createdonbehalfby", "Created By (Delegate)", TableSystemUser)),
		readOnly(lookup("modifiedonbehalfby", "Modified By (Delegate)", TableSystemUser)),
		readOnly(col("versionnumber", BigInt, "Version Number")),
	}
	if o == UserOwned {
		owner := col("ownerid", Owner, "Owner")
		owner.Targets = []string{TableSystemUser, TableTeam}
		owner.Required = SystemRequired
		cols = append(cols, owner,
			readOnly(lookup("owningbusinessunit", "Owning Business Unit", TableBusinessUnit)),
			readOnly(lookup("owninguser", "Owning User", TableSystemUser)),
			readOnly(lookup("owningteam", "Owning Team", TableTeam)),
		)
	}
	st := col("statecode", State, "Status")
	st.Options = StateOptions
	st.Required = SystemRequired
	sc := col("statuscode", Status, "Status Reason")
	sc.Options = StatusOptions
	return append(cols, st, sc)
}

// NewTable builds a table with its primary id and name columns, the
// standard columns for its ownership, and extra columns.
func NewTable(logical, set, display, displayPlural string, otc int, o Ownership, primaryName string, extra ...*Column) *Table {
	t := &Table{LogicalName: logical, SchemaName: schemaName(logical), EntitySetName: set, DisplayName: display,
		DisplayCollectionName: displayPlural, PrimaryID: logical + "id", PrimaryName: primaryName, Ownership: o,
		ObjectTypeCode: otc, MetadataID: metadataID("table", logical)}
	id := col(logical+"id", UniqueIdentifier, display)
	id.CreateOnly = true
	t.Columns = append(t.Columns, id)
	name := extraOrNew(extra, primaryName)
	if name.Required < ApplicationRequired {
		name.Required = ApplicationRequired
	}
	t.Columns = append(t.Columns, name)
	for _, c := range extra {
		if c != name {
			t.Columns = append(t.Columns, c)
		}
	}
	t.Columns = append(t.Columns, StandardColumns(o)...)
	for _, c := range t.Columns {
		if c.MetadataID == "" {
			c.MetadataID = metadataID("column", logical, c.LogicalName)
		}
	}
	return t
}

func extraOrNew(extra []*Column, name string) *Column {
	for _, c := range extra {
		if c.LogicalName == name {
			return c
		}
	}
	return withMax(col(name, String, "Name"), 160)
}

// auditRelationships adds the createdby/modifiedby/... and owner
// relationships of table t.
func auditRelationships(t *Table) []*Relationship {
	var rels []*Relationship
	for _, a := range []string{"createdby", "modifiedby", "createdonbehalfby", "modifiedonbehalfby"} {
		rels = append(rels, &Relationship{SchemaName: "lk_" + t.LogicalName + "_" + a, Referenced: TableSystemUser,
			Referencing: t.LogicalName, ReferencingAttribute: a, ReferencingNav: a, ReferencedNav: "lk_" + t.LogicalName + "_" + a})
	}
	if t.Ownership == UserOwned {
		rels = append(rels,
			&Relationship{SchemaName: "user_" + t.LogicalName, Referenced: TableSystemUser, Referencing: t.LogicalName,
				ReferencingAttribute: "owninguser", ReferencingNav: "owninguser", ReferencedNav: "user_" + t.LogicalName},
			&Relationship{SchemaName: "team_" + t.LogicalName, Referenced: TableTeam, Referencing: t.LogicalName,
				ReferencingAttribute: "owningteam", ReferencingNav: "owningteam", ReferencedNav: "team_" + t.LogicalName},
			&Relationship{SchemaName: "business_unit_" + t.LogicalName, Referenced: TableBusinessUnit, Referencing: t.LogicalName,
				ReferencingAttribute: "owningbusinessunit", ReferencingNav: "owningbusinessunit", ReferencedNav: "business_unit_" + t.LogicalName},
		)
	}
	for _, r := range rels {
		r.MetadataID = metadataID("relationship", r.SchemaName)
	}
	return rels
}

// AuditRelationships returns the standard relationships of a (custom) table.
func AuditRelationships(t *Table) []*Relationship { return auditRelationships(t) }

// System returns the schema every environment starts with: organization,
// businessunit, systemuser, team, role, privilege (with their
// relationships), account and contact.
func System() *Schema {
	org := NewTable(TableOrganization, "organizations", "Organization", "Organizations", 1019, OrganizationOwned, "name",
		withMax(col("name", String, "Name"), 160))
	bu := NewTable(TableBusinessUnit, "businessunits", "Business Unit", "Business Units", 10, BusinessOwned, "name",
		lookup("parentbusinessunitid", "Parent Business", TableBusinessUnit),
		col("isdisabled", Boolean, "Is Disabled"),
		readOnly(lookup("organizationid", "Organization", TableOrganization)))
	access := choice("accessmode", "Access Mode",
		Option{Value: 0, Label: "Read-Write"}, Option{Value: 1, Label: "Administrative"}, Option{Value: 2, Label: "Read"},
		Option{Value: 3, Label: "Support User"}, Option{Value: 4, Label: "Non-interactive"}, Option{Value: 5, Label: "Delegated Admin"})
	access.Required = SystemRequired
	user := NewTable(TableSystemUser, "systemusers", "User", "Users", 8, BusinessOwned, "fullname",
		withMax(readOnly(col("fullname", String, "Full Name")), 200),
		withMax(col("firstname", String, "First Name"), 64),
		withMax(col("lastname", String, "Last Name"), 64),
		withMax(col("domainname", String, "User Name"), 1024),
		withMax(col("internalemailaddress", String, "Primary Email"), 100),
		col("applicationid", UniqueIdentifier, "Application ID"),
		withMax(col("applicationiduri", String, "Application ID URI"), 1024),
		col("azureactivedirectoryobjectid", UniqueIdentifier, "Azure AD Object ID"),
		access,
		col("isdisabled", Boolean, "Status"),
		required(lookup("businessunitid", "Business Unit", TableBusinessUnit)),
		readOnly(lookup("organizationid", "Organization", TableOrganization)))
	team := NewTable(TableTeam, "teams", "Team", "Teams", 9, BusinessOwned, "name",
		required(lookup("businessunitid", "Business Unit", TableBusinessUnit)),
		choice("teamtype", "Team Type", Option{Value: 0, Label: "Owner"}, Option{Value: 1, Label: "Access"},
			Option{Value: 2, Label: "Security Group"}, Option{Value: 3, Label: "Office Group"}),
		col("isdefault", Boolean, "Is Default"),
		col("azureactivedirectoryobjectid", UniqueIdentifier, "Azure AD Object ID"),
		readOnly(lookup("organizationid", "Organization", TableOrganization)))
	role := NewTable(TableRole, "roles", "Security Role", "Security Roles", 1036, BusinessOwned, "name",
		required(lookup("businessunitid", "Business Unit", TableBusinessUnit)),
		readOnly(col("roletemplateid", UniqueIdentifier, "Role Template")),
		readOnly(lookup("parentroleid", "Parent Role", TableRole)),
		col("ismanaged", Boolean, "Is Managed"),
		readOnly(lookup("organizationid", "Organization", TableOrganization)))
	priv := NewTable(TablePrivilege, "privileges", "Privilege", "Privileges", 1023, OrganizationOwned, "name",
		col("accessright", Integer, "Access Rights"),
		col("canbebasic", Boolean, "Can Be Basic"),
		col("canbelocal", Boolean, "Can Be Local"),
		col("canbedeep", Boolean, "Can Be Deep"),
		col("canbeglobal", Boolean, "Can Be Global"))
	account := NewTable(TableAccount, "accounts", "Account", "Accounts", 1, UserOwned, "name",
		withMax(col("name", String, "Account Name"), 160),
		withMax(col("accountnumber", String, "Account Number"), 20),
		withMax(col("telephone1", String, "Main Phone"), 50),
		withMax(col("emailaddress1", String, "Email"), 100),
		withMax(col("websiteurl", String, "Website"), 200),
		withMax(col("address1_city", String, "Address 1: City"), 80),
		withMax(col("address1_country", String, "Address 1: Country/Region"), 80),
		col("description", Memo, "Description"),
		col("revenue", Money, "Annual Revenue"),
		col("numberofemployees", Integer, "Number of Employees"),
		col("creditonhold", Boolean, "Credit Hold"),
		col("creditlimit", Money, "Credit Limit"),
		col("address1_latitude", Double, "Address 1: Latitude"),
		col("address1_longitude", Double, "Address 1: Longitude"),
		choice("accountcategorycode", "Category", Option{Value: 1, Label: "Preferred Customer"}, Option{Value: 2, Label: "Standard"}),
		choice("industrycode", "Industry", Option{Value: 1, Label: "Accounting"}, Option{Value: 2, Label: "Agriculture and Non-petrol Natural Resource Extraction"},
			Option{Value: 3, Label: "Broadcasting Printing and Publishing"}, Option{Value: 4, Label: "Brokers"}, Option{Value: 5, Label: "Building Supply Retail"},
			Option{Value: 6, Label: "Business Services"}, Option{Value: 7, Label: "Consulting"}, Option{Value: 8, Label: "Consumer Services"}),
		lookup("primarycontactid", "Primary Contact", TableContact),
		lookup("parentaccountid", "Parent Account", TableAccount))
	customer := col("parentcustomerid", Customer, "Company Name")
	customer.Targets = []string{TableAccount, TableContact}
	contact := NewTable(TableContact, "contacts", "Contact", "Contacts", 2, UserOwned, "fullname",
		withMax(readOnly(col("fullname", String, "Full Name")), 160),
		withMax(col("firstname", String, "First Name"), 50),
		withMax(col("lastname", String, "Last Name"), 50),
		withMax(col("emailaddress1", String, "Email"), 100),
		withMax(col("telephone1", String, "Business Phone"), 50),
		withMax(col("mobilephone", String, "Mobile Phone"), 50),
		withMax(col("jobtitle", String, "Job Title"), 100),
		withMax(col("address1_city", String, "Address 1: City"), 80),
		col("birthdate", DateTime, "Birthday"),
		col("description", Memo, "Description"),
		col("creditlimit", Money, "Credit Limit"),
		col("annualincome", Money, "Annual Income"),
		choice("gendercode", "Gender", Option{Value: 1, Label: "Male"}, Option{Value: 2, Label: "Female"}),
		col("donotemail", Boolean, "Do not allow Emails"),
		customer)
	contact.Column("lastname").Required = ApplicationRequired
	contact.Column("fullname").Required = None
	user.Column("fullname").Required = None

	tables := append([]*Table{org, bu, user, team, role, priv, account, contact}, securityTables()...)
	rel := func(name, referenced, referencing, attr, nav, backNav string) *Relationship {
		return &Relationship{SchemaName: name, Referenced: referenced, Referencing: referencing, ReferencingAttribute: attr,
			ReferencingNav: nav, ReferencedNav: backNav, MetadataID: metadataID("relationship", name)}
	}
	rels := []*Relationship{
		rel("business_unit_parent_business_unit", TableBusinessUnit, TableBusinessUnit, "parentbusinessunitid", "parentbusinessunitid", "business_unit_parent_business_unit"),
		rel("business_unit_system_users", TableBusinessUnit, TableSystemUser, "businessunitid", "businessunitid", "business_unit_system_users"),
		rel("business_unit_teams", TableBusinessUnit, TableTeam, "businessunitid", "businessunitid", "business_unit_teams"),
		rel("business_unit_roles", TableBusinessUnit, TableRole, "businessunitid", "businessunitid", "business_unit_roles"),
		rel("role_parent_role", TableRole, TableRole, "parentroleid", "parentroleid", "role_parent_role"),
		rel("role_privileges_role", TableRole, TableRolePrivileges, "roleid", "roleid", "roleprivileges_role"),
		rel("role_privileges_privilege", TablePrivilege, TableRolePrivileges, "privilegeid", "privilegeid", "roleprivileges_privilege"),
		rel("lk_audit_userid", TableSystemUser, TableAudit, "userid", "userid", "lk_audit_userid"),
		rel("lk_audit_callinguserid", TableSystemUser, TableAudit, "callinguserid", "callinguserid", "lk_audit_callinguserid"),
		rel("account_primary_contact", TableContact, TableAccount, "primarycontactid", "primarycontactid", "account_primary_contact"),
		rel("account_parent_account", TableAccount, TableAccount, "parentaccountid", "parentaccountid", "account_parent_account"),
		rel("contact_customer_accounts", TableAccount, TableContact, "parentcustomerid", "parentcustomerid_account", "contact_customer_accounts"),
		rel("contact_customer_contacts", TableContact, TableContact, "parentcustomerid", "parentcustomerid_contact", "contact_customer_contacts"),
	}
	for _, t := range tables {
		rels = append(rels, auditRelationships(t)...)
	}
	m2m := func(name, e1, e2, intersect, c1, c2 string) *ManyToMany {
		return &ManyToMany{SchemaName: name, Entity1: e1, Entity2: e2, Intersect: intersect, Entity1Col: c1, Entity2Col: c2,
			Entity1Nav: name, Entity2Nav: name, MetadataID: metadataID("relationship", name)}
	}
	mm := []*ManyToMany{
		m2m("systemuserroles_association", TableSystemUser, TableRole, "systemuserroles", "systemuserid", "roleid"),
		m2m("teammembership_association", TableSystemUser, TableTeam, "teammembership", "systemuserid", "teamid"),
		m2m("teamroles_association", TableTeam, TableRole, "teamroles", "teamid", "roleid"),
	}
	s, err := New(tables, rels, mm)
	if err != nil {
		panic(err) // the system schema is a constant; a test covers it
	}
	return s
}
