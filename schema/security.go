package schema

// Security and audit tables: role privileges, shared access (the
// principal object access table) and the audit log.
const (
	TableRolePrivileges = "roleprivileges"
	TablePOA            = "principalobjectaccess"
	TableAudit          = "audit"
)

// Audit actions (the audit table's action choice).
const (
	AuditCreate       = 1
	AuditUpdate       = 2
	AuditDelete       = 3
	AuditAssign       = 13
	AuditShare        = 14
	AuditUnshare      = 15
	AuditAssociate    = 33
	AuditDisassociate = 34
	AuditRoleChange   = 57
	AuditDenied       = 100 // dvs2s: a denied attempt (Dataverse does not audit these)
)

func securityTables() []*Table {
	rp := NewTable(TableRolePrivileges, "roleprivilegescollection", "Role Privilege", "Role Privileges", 12, OrganizationOwned, "name",
		required(lookup("roleid", "Role", TableRole)),
		required(lookup("privilegeid", "Privilege", TablePrivilege)),
		col("privilegedepthmask", Integer, "Privilege Depth Mask"))
	poa := NewTable(TablePOA, "principalobjectaccessset", "Principal Object Access", "Principal Object Accesses", 11, OrganizationOwned, "name",
		col("objectid", UniqueIdentifier, "Object"),
		withMax(col("objecttypecode", String, "Object Type"), 64),
		col("principalid", UniqueIdentifier, "Principal"),
		withMax(col("principaltypecode", String, "Principal Type"), 64),
		col("accessrightsmask", Integer, "Access Rights"))
	action := choice("action", "Event",
		Option{Value: AuditCreate, Label: "Create"}, Option{Value: AuditUpdate, Label: "Update"}, Option{Value: AuditDelete, Label: "Delete"},
		Option{Value: AuditAssign, Label: "Assign"}, Option{Value: AuditShare, Label: "Share"}, Option{Value: AuditUnshare, Label: "Unshare"},
		Option{Value: AuditAssociate, Label: "Associate Entities"}, Option{Value: AuditDisassociate, Label: "Disassociate Entities"},
		Option{Value: AuditRoleChange, Label: "User Role Change"}, Option{Value: AuditDenied, Label: "Access Denied"})
	op := choice("operation", "Operation",
		Option{Value: 1, Label: "Create"}, Option{Value: 2, Label: "Update"}, Option{Value: 3, Label: "Delete"}, Option{Value: 4, Label: "Access"})
	audit := NewTable(TableAudit, "audits", "Auditing", "Audits", 4567, OrganizationOwned, "summary",
		withMax(col("summary", String, "Summary"), 400),
		action, op,
		col("objectid", UniqueIdentifier, "Record"),
		withMax(col("objecttypecode", String, "Entity"), 64),
		lookup("userid", "Changed By", TableSystemUser),
		lookup("callinguserid", "Calling User", TableSystemUser),
		col("changedata", Memo, "Change Data"),
		withMax(col("outcome", String, "Outcome"), 40))
	audit.Column("changedata").MaxLength = 1 << 20
	for _, t := range []*Table{rp, poa, audit} {
		for _, c := range t.Columns {
			c.ReadOnly = c.ReadOnly || t == audit
		}
	}
	return []*Table{rp, poa, audit}
}
