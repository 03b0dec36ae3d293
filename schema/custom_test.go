package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
)

func label(s string) map[string]any {
	return map[string]any{"LocalizedLabels": []any{map[string]any{"Label": s, "LanguageCode": 1033}}}
}

func attr(odt, name string, extra map[string]any) map[string]any {
	m := map[string]any{"@odata.type": "Microsoft.Dynamics.CRM." + odt, "SchemaName": name, "DisplayName": label(name)}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// entityBody is a valid table definition; mod changes it.
func entityBody(mod func(m map[string]any)) []byte {
	m := map[string]any{
		"@odata.type":           "Microsoft.Dynamics.CRM.EntityMetadata",
		"SchemaName":            "new_BankAccount",
		"DisplayName":           label("Bank Account"),
		"DisplayCollectionName": label("Bank Accounts"),
		"OwnershipType":         "UserOwned",
		"HasActivities":         false,
		"Attributes": []any{
			attr("StringAttributeMetadata", "new_AccountName", map[string]any{"IsPrimaryName": true, "MaxLength": 100,
				"RequiredLevel": map[string]any{"Value": "None"}, "FormatName": map[string]any{"Value": "Text"}}),
		},
	}
	if mod != nil {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func addAttr(a map[string]any) func(m map[string]any) {
	return func(m map[string]any) { m["Attributes"] = append(m["Attributes"].([]any), a) }
}

func TestParseEntity(t *testing.T) {
	sys := System()
	tb, rels, err := ParseEntity(entityBody(nil), sys)
	if err != nil {
		t.Fatal(err)
	}
	if tb.LogicalName != "new_bankaccount" || tb.SchemaName != "new_BankAccount" || tb.EntitySetName != "new_bankaccounts" ||
		tb.PrimaryID != "new_bankaccountid" || tb.PrimaryName != "new_accountname" || tb.ObjectTypeCode != 10000 ||
		!tb.Custom || tb.Ownership != UserOwned || tb.DisplayName != "Bank Account" || tb.DisplayCollectionName != "Bank Accounts" {
		t.Errorf("table %+v", tb)
	}
	name := tb.Column("new_accountname")
	if name == nil || name.Type != String || name.MaxLength != 100 || name.Required != None || !name.Custom || name.SchemaName != "new_AccountName" {
		t.Errorf("primary name %+v", name)
	}
	if c := tb.Column("ownerid"); c == nil || c.Custom {
		t.Errorf("standard columns: ownerid %+v", c)
	}
	if len(rels) != 7 {
		t.Errorf("%d standard relationships", len(rels))
	}
	s, err := sys.With([]*Table{tb}, rels, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The next table gets the next object type code.
	body := entityBody(func(m map[string]any) { m["SchemaName"] = "new_Box"; m["OwnershipType"] = "OrganizationOwned" })
	tb2, _, err := ParseEntity(body, s)
	if err != nil {
		t.Fatal(err)
	}
	if tb2.ObjectTypeCode != 10001 || tb2.EntitySetName != "new_boxes" || tb2.Ownership != OrganizationOwned || tb2.Column("ownerid") != nil {
		t.Errorf("second table %+v", tb2)
	}
	if _, _, err := ParseEntity(entityBody(nil), s); err == nil || !err.(*DefinitionError).Duplicate {
		t.Errorf("duplicate: %v", err)
	}
}

func TestParseEntityColumns(t *testing.T) {
	tb, _, err := ParseEntity(entityBody(func(m map[string]any) {
		m["Attributes"] = append(m["Attributes"].([]any),
			attr("MemoAttributeMetadata", "new_Notes", map[string]any{"MaxLength": 500}),
			attr("IntegerAttributeMetadata", "new_Count", map[string]any{"MinValue": 0, "MaxValue": 10}),
			attr("BigIntAttributeMetadata", "new_Big", nil),
			attr("DecimalAttributeMetadata", "new_Rate", map[string]any{"Precision": 4}),
			attr("DoubleAttributeMetadata", "new_Score", nil),
			attr("MoneyAttributeMetadata", "new_Balance", map[string]any{"PrecisionSource": 2}),
			attr("BooleanAttributeMetadata", "new_Open", map[string]any{"OptionSet": map[string]any{"TrueOption": map[string]any{"Value": 1, "Label": label("Open")}}}),
			attr("DateTimeAttributeMetadata", "new_When", map[string]any{"Format": "DateOnly"}),
			attr("PicklistAttributeMetadata", "new_Kind", map[string]any{"OptionSet": map[string]any{"Options": []any{
				map[string]any{"Label": label("A")}, map[string]any{"Value": 100000000, "Label": label("B")}, map[string]any{"Label": label("C")}}}}),
			map[string]any{"AttributeType": "Uniqueidentifier", "SchemaName": "new_Ext", "DisplayName": label("Ext")},
		)
	}), System())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Type{"new_notes": Memo, "new_count": Integer, "new_big": BigInt, "new_rate": Decimal, "new_score": Double,
		"new_balance": Money, "new_open": Boolean, "new_when": DateTime, "new_kind": Choice, "new_ext": UniqueIdentifier}
	for n, typ := range want {
		c := tb.Column(n)
		if c == nil || c.Type != typ || !c.Custom || c.MetadataID == "" {
			t.Errorf("%s: %+v", n, c)
		}
	}
	if c := tb.Column("new_count"); c.MinValue != 0 || c.MaxValue != 10 {
		t.Errorf("new_count range %v..%v", c.MinValue, c.MaxValue)
	}
	if c := tb.Column("new_rate"); c.Precision != 4 || c.MaxValue != 1e11 {
		t.Errorf("new_rate %+v", c)
	}
	if c := tb.Column("new_open"); c.Options[1].Label != "Open" || c.Options[0].Label != "No" {
		t.Errorf("new_open options %+v", c.Options)
	}
	if c := tb.Column("new_kind"); len(c.Options) != 3 || c.Options[0].Value != 100000001 || c.Options[1].Value != 100000000 || c.Options[2].Value != 100000002 {
		t.Errorf("new_kind options %+v", c.Options)
	}
}

func TestParseEntityRefused(t *testing.T) {
	setAttr := func(i int, k string, v any) func(m map[string]any) {
		return func(m map[string]any) {
			a := m["Attributes"].([]any)[i].(map[string]any)
			if v == nil {
				delete(a, k)
			} else {
				a[k] = v
			}
		}
	}
	set := func(k string, v any) func(m map[string]any) {
		return func(m map[string]any) {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
	}
	tests := []struct {
		name string
		mod  func(m map[string]any)
		want string // part of the message
	}{
		{"no schema name", set("SchemaName", nil), "SchemaName of the table is required"},
		{"no prefix", set("SchemaName", "BankAccount"), "customization prefix"},
		{"prefix too short", set("SchemaName", "n_Bank"), "customization prefix"},
		{"prefix too long", set("SchemaName", "abcdefghi_Bank"), "customization prefix"},
		{"prefix starts with digit", set("SchemaName", "1ew_Bank"), "customization prefix"},
		{"nothing after prefix", set("SchemaName", "new_"), "customization prefix"},
		{"space", set("SchemaName", "new_Bank Account"), "customization prefix"},
		{"non-ASCII", set("SchemaName", "new_Bänk"), "customization prefix"},
		{"reserved prefix", set("SchemaName", "mscrm_Bank"), "reserved"},
		{"sqlite prefix", set("SchemaName", "sqlite_master"), "reserved"},
		{"too long", set("SchemaName", "new_"+strings.Repeat("a", 60)), "too long"},
		{"logical name differs", set("LogicalName", "new_other"), "lower case"},
		{"wrong type", set("@odata.type", "Microsoft.Dynamics.CRM.AttributeMetadata"), "@odata.type"},
		{"no display name", set("DisplayName", nil), "DisplayName of the table"},
		{"empty display name", set("DisplayName", label("  ")), "DisplayName of the table"},
		{"no collection name", set("DisplayCollectionName", nil), "DisplayCollectionName"},
		{"display name not a label", set("DisplayName", "Bank"), "wrong type"},
		{"team owned", set("OwnershipType", "TeamOwned"), "not supported"},
		{"unknown ownership", set("OwnershipType", "Everyone"), "not an OwnershipTypes member"},
		{"activity", set("IsActivity", true), "Activity tables"},
		{"no attributes", set("Attributes", []any{}), "primary name"},
		{"no primary name", setAttr(0, "IsPrimaryName", false), "primary name"},
		{"primary name not string", addAttr(attr("IntegerAttributeMetadata", "new_N", map[string]any{"IsPrimaryName": true})), "Only one"},
		{"primary name memo", setAttr(0, "@odata.type", "Microsoft.Dynamics.CRM.MemoAttributeMetadata"), "StringAttributeMetadata"},
		{"primary name format", setAttr(0, "FormatName", map[string]any{"Value": "Email"}), "Text format"},
		{"bad PrimaryNameAttribute", set("PrimaryNameAttribute", "new_x"), "PrimaryNameAttribute"},
		{"attribute without prefix", addAttr(attr("StringAttributeMetadata", "Notes", nil)), "Attributes[1]"},
		{"attribute duplicate", addAttr(attr("StringAttributeMetadata", "new_ACCOUNTNAME", nil)), "already has a column"},
		{"attribute is primary id", addAttr(attr("StringAttributeMetadata", "new_BankAccountId", nil)), "already has a column"},
		{"attribute no display name", addAttr(map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "new_X"}), "DisplayName of the attribute"},
		{"attribute unknown type", addAttr(attr("ImageAttributeMetadata", "new_Pic", nil)), "not supported"},
		{"attribute type mismatch", addAttr(attr("StringAttributeMetadata", "new_X", map[string]any{"AttributeType": "Integer"})), "does not match"},
		{"attribute no type", addAttr(map[string]any{"SchemaName": "new_X", "DisplayName": label("X")}), "@odata.type"},
		{"lookup via attributes", addAttr(attr("LookupAttributeMetadata", "new_ContactId", nil)), "RelationshipDefinitions"},
		{"system required", setAttr(0, "RequiredLevel", map[string]any{"Value": "SystemRequired"}), "SystemRequired"},
		{"bad required level", setAttr(0, "RequiredLevel", map[string]any{"Value": "Mandatory"}), "AttributeRequiredLevel"},
		{"string too long", setAttr(0, "MaxLength", 4001), "MaxLength"},
		{"string too short", setAttr(0, "MaxLength", 0), "MaxLength"},
		{"memo too long", addAttr(attr("MemoAttributeMetadata", "new_M", map[string]any{"MaxLength": 2000000})), "MaxLength"},
		{"integer range", addAttr(attr("IntegerAttributeMetadata", "new_I", map[string]any{"MaxValue": 3e9})), "MinValue and MaxValue"},
		{"integer fraction", addAttr(attr("IntegerAttributeMetadata", "new_I", map[string]any{"MinValue": 0.5})), "whole numbers"},
		{"min above max", addAttr(attr("IntegerAttributeMetadata", "new_I", map[string]any{"MinValue": 5, "MaxValue": 1})), "cannot exceed"},
		{"decimal precision", addAttr(attr("DecimalAttributeMetadata", "new_D", map[string]any{"Precision": 11})), "Precision"},
		{"money precision", addAttr(attr("MoneyAttributeMetadata", "new_D", map[string]any{"Precision": 5})), "Precision"},
		{"money range", addAttr(attr("MoneyAttributeMetadata", "new_D", map[string]any{"MaxValue": 1e16})), "MinValue and MaxValue"},
		{"precision on string", setAttr(0, "Precision", 2), "Precision applies"},
		{"max length on integer", addAttr(attr("IntegerAttributeMetadata", "new_I", map[string]any{"MaxLength": 5})), "MaxLength applies"},
		{"range on bigint", addAttr(attr("BigIntAttributeMetadata", "new_B", map[string]any{"MaxValue": 5})), "MinValue and MaxValue apply"},
		{"picklist without options", addAttr(attr("PicklistAttributeMetadata", "new_P", nil)), "OptionSet"},
		{"picklist global", addAttr(attr("PicklistAttributeMetadata", "new_P", map[string]any{"OptionSet": map[string]any{"IsGlobal": true, "Options": []any{}}})), "Global"},
		{"picklist global bind", addAttr(attr("PicklistAttributeMetadata", "new_P", map[string]any{"GlobalOptionSet@odata.bind": "/GlobalOptionSetDefinitions(1)"})), "Global"},
		{"picklist duplicate value", addAttr(attr("PicklistAttributeMetadata", "new_P", map[string]any{"OptionSet": map[string]any{"Options": []any{
			map[string]any{"Value": 1, "Label": label("A")}, map[string]any{"Value": 1, "Label": label("B")}}}})), "used twice"},
		{"picklist no label", addAttr(attr("PicklistAttributeMetadata", "new_P", map[string]any{"OptionSet": map[string]any{"Options": []any{map[string]any{"Value": 1}}}})), "no Label"},
		{"option set on string", setAttr(0, "OptionSet", map[string]any{}), "OptionSet applies"},
		{"boolean with options", addAttr(attr("BooleanAttributeMetadata", "new_B", map[string]any{"OptionSet": map[string]any{"Options": []any{map[string]any{"Value": 1, "Label": label("A")}}}})), "TrueOption"},
		{"boolean wrong value", addAttr(attr("BooleanAttributeMetadata", "new_B", map[string]any{"OptionSet": map[string]any{"TrueOption": map[string]any{"Value": 7}}})), "must be 1"},
		{"bad metadata id", set("MetadataId", "nope"), "not a valid GUID"},
		{"bad entity set name", set("EntitySetName", "new bank"), "EntitySetName"},
		{"taken entity set name", set("EntitySetName", "accounts"), "already used"},
	}
	for _, tc := range tests {
		_, _, err := ParseEntity(entityBody(tc.mod), System())
		var de *DefinitionError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	for _, body := range []string{"", "null", "[]", "{", `{"SchemaName":1}`, `{} {}`, `"x"`} {
		if _, _, err := ParseEntity([]byte(body), System()); err == nil {
			t.Errorf("%q accepted", body)
		}
	}
}

func TestParseAttributeAndRelationship(t *testing.T) {
	sys := System()
	tb, rels, err := ParseEntity(entityBody(nil), sys)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sys.With([]*Table{tb}, rels, nil)
	if err != nil {
		t.Fatal(err)
	}
	col := func(b map[string]any) []byte { j, _ := json.Marshal(b); return j }
	c, err := ParseAttribute(col(attr("MoneyAttributeMetadata", "new_Balance", nil)), s.Table("new_bankaccount"), s)
	if err != nil || c.Type != Money || c.LogicalName != "new_balance" {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := ParseAttribute(col(attr("MoneyAttributeMetadata", "new_Balance", nil)), s.Table("account"), s); err == nil {
		t.Error("column added to a system table")
	}
	if _, err := ParseAttribute(col(attr("StringAttributeMetadata", "new_AccountName", nil)), s.Table("new_bankaccount"), s); err == nil {
		t.Error("duplicate column accepted")
	}
	if _, err := ParseAttribute(col(attr("StringAttributeMetadata", "new_X", map[string]any{"IsPrimaryName": true})), s.Table("new_bankaccount"), s); err == nil {
		t.Error("second primary name accepted")
	}
	s2, err := s.Replace(s.Table("new_bankaccount").WithColumn(c), nil)
	if err != nil || s2.Table("new_bankaccount").Column("new_balance") == nil || s.Table("new_bankaccount").Column("new_balance") != nil {
		t.Fatalf("Replace/WithColumn: %v", err)
	}

	rel := func(mod func(m map[string]any)) []byte {
		m := map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata", "SchemaName": "new_contact_bankaccount",
			"ReferencedEntity": "contact", "ReferencedAttribute": "contactid", "ReferencingEntity": "new_bankaccount",
			"Lookup": attr("LookupAttributeMetadata", "new_ContactId", map[string]any{"AttributeType": "Lookup"})}
		if mod != nil {
			mod(m)
		}
		b, _ := json.Marshal(m)
		return b
	}
	lc, r, err := ParseOneToMany(rel(nil), s2)
	if err != nil {
		t.Fatal(err)
	}
	if lc.Type != Lookup || lc.LogicalName != "new_contactid" || len(lc.Targets) != 1 || lc.Targets[0] != "contact" ||
		r.Referencing != "new_bankaccount" || r.Referenced != "contact" || r.ReferencingNav != "new_contactid" || r.ReferencedNav != "new_contact_bankaccount" {
		t.Errorf("lookup %+v relationship %+v", lc, r)
	}
	s3, err := s2.Replace(s2.Table("new_bankaccount").WithColumn(lc), []*Relationship{r})
	if err != nil {
		t.Fatal(err)
	}
	if n := s3.Nav(s3.Table("contact"), "new_contact_bankaccount"); n == nil || !n.Collection() {
		t.Errorf("collection navigation %+v", n)
	}
	for name, mod := range map[string]func(m map[string]any){
		"duplicate":          nil,
		"system referencing": func(m map[string]any) { m["SchemaName"] = "new_x"; m["ReferencingEntity"] = "account" },
		"unknown referenced": func(m map[string]any) { m["SchemaName"] = "new_x"; m["ReferencedEntity"] = "nope" },
		"wrong attribute":    func(m map[string]any) { m["SchemaName"] = "new_x"; m["ReferencedAttribute"] = "fullname" },
		"no lookup":          func(m map[string]any) { m["SchemaName"] = "new_x"; delete(m, "Lookup") },
		"not a lookup": func(m map[string]any) {
			m["SchemaName"] = "new_x"
			m["Lookup"] = attr("StringAttributeMetadata", "new_Y", nil)
		},
		"many to many": func(m map[string]any) { m["@odata.type"] = "Microsoft.Dynamics.CRM.ManyToManyRelationshipMetadata" },
		"nav taken": func(m map[string]any) {
			m["SchemaName"] = "new_x"
			m["Lookup"] = attr("LookupAttributeMetadata", "new_Other", nil)
			m["ReferencedEntityNavigationPropertyName"] = "new_contact_bankaccount"
		},
	} {
		if _, _, err := ParseOneToMany(rel(mod), s3); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPlural(t *testing.T) {
	for in, want := range map[string]string{"new_bankaccount": "new_bankaccounts", "new_box": "new_boxes", "new_category": "new_categories",
		"new_day": "new_days", "new_address": "new_addresses", "new_match": "new_matches", "new_wish": "new_wishes", "new_quiz": "new_quizes",
		"new_Category": "new_Categories"} {
		if got := Plural(in); got != want {
			t.Errorf("Plural(%s) = %s, want %s", in, got, want)
		}
	}
}

// FuzzParseEntity: no input panics, and whatever is accepted is a valid,
// consistent custom table that joins the schema.
func FuzzParseEntity(f *testing.F) {
	f.Add(entityBody(nil))
	f.Add(entityBody(addAttr(attr("PicklistAttributeMetadata", "new_K", map[string]any{"OptionSet": map[string]any{"Options": []any{map[string]any{"Label": label("A")}}}}))))
	f.Add(entityBody(addAttr(attr("IntegerAttributeMetadata", "new_I", map[string]any{"MinValue": -5, "MaxValue": 5}))))
	f.Add(entityBody(addAttr(attr("BooleanAttributeMetadata", "new_B", nil))))
	f.Add([]byte(`{"SchemaName":"ab_C","DisplayName":{"LocalizedLabels":[{"Label":"x"}]},"DisplayCollectionName":{"UserLocalizedLabel":{"Label":"y"}},"Attributes":[{"AttributeType":"String","SchemaName":"ab_N","IsPrimaryName":true,"DisplayName":{"LocalizedLabels":[{"Label":"n"}]}}]}`))
	f.Add([]byte(`{"SchemaName":"new_X","OwnershipType":8,"MetadataId":"00000000-0000-0000-0000-000000000001"}`))
	f.Add([]byte(`[]`))
	sys := System()
	f.Fuzz(func(t *testing.T, body []byte) {
		tb, rels, err := ParseEntity(body, sys)
		if err != nil {
			var de *DefinitionError
			if !errors.As(err, &de) || de.Msg == "" {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if tb.LogicalName != strings.ToLower(tb.SchemaName) || !tb.Custom || tb.ObjectTypeCode < 10000 {
			t.Fatalf("table %+v", tb)
		}
		for _, r := range tb.LogicalName {
			if r > unicode.MaxASCII || !(r == '_' || unicode.IsLower(r) || unicode.IsDigit(r)) {
				t.Fatalf("logical name %q", tb.LogicalName)
			}
		}
		seen := map[string]bool{}
		for _, c := range tb.Columns {
			if seen[c.LogicalName] || c.LogicalName == "" || c.MetadataID == "" {
				t.Fatalf("column %+v (dup %v)", c, seen[c.LogicalName])
			}
			seen[c.LogicalName] = true
			if c.MinValue > c.MaxValue || (c.Type.IsText() && (c.MaxLength < 1 || c.MaxLength > maxMemoLength)) {
				t.Fatalf("column %+v", c)
			}
			if c.Type == Choice && c.Custom {
				vals := map[int]bool{}
				for _, o := range c.Options {
					if vals[o.Value] {
						t.Fatalf("option value twice in %+v", c)
					}
					vals[o.Value] = true
				}
			}
		}
		if tb.Column(tb.PrimaryName) == nil || tb.Column(tb.PrimaryName).Type != String {
			t.Fatalf("primary name %s", tb.PrimaryName)
		}
		s, err := sys.With([]*Table{tb}, rels, nil)
		if err != nil {
			t.Fatalf("accepted table does not join the schema: %v", err)
		}
		// A stored definition reads back the same.
		b, err := json.Marshal(tb)
		if err != nil {
			t.Fatal(err)
		}
		var back Table
		if err := json.Unmarshal(b, &back); err != nil || back.LogicalName != tb.LogicalName || len(back.Columns) != len(tb.Columns) {
			t.Fatalf("round trip: %v", err)
		}
		if _, _, err := ParseEntity(body, s); err == nil {
			t.Fatal("the same definition was accepted twice")
		}
	})
}

// FuzzParseColumnDefinitions: columns and lookups added to an existing
// custom table never panic, and what is accepted joins the schema.
func FuzzParseColumnDefinitions(f *testing.F) {
	col, _ := json.Marshal(attr("PicklistAttributeMetadata", "new_K", map[string]any{"OptionSet": map[string]any{"Options": []any{map[string]any{"Label": label("A")}}}}))
	rel, _ := json.Marshal(map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata", "SchemaName": "new_contact_bankaccount",
		"ReferencedEntity": "contact", "ReferencingEntity": "new_bankaccount", "Lookup": attr("LookupAttributeMetadata", "new_ContactId", nil)})
	f.Add(col, false)
	f.Add(rel, true)
	f.Add([]byte(`{"@odata.type":"#Microsoft.Dynamics.CRM.IntegerAttributeMetadata","SchemaName":"xy_Z","DisplayName":{"UserLocalizedLabel":{"Label":"z"}},"MinValue":-1}`), false)
	sys := System()
	tb, rels, err := ParseEntity(entityBody(nil), sys)
	if err != nil {
		f.Fatal(err)
	}
	s, err := sys.With([]*Table{tb}, rels, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, relationship bool) {
		var c *Column
		var rs []*Relationship
		if relationship {
			lc, r, err := ParseOneToMany(body, s)
			if err != nil {
				return
			}
			if r.Referencing != "new_bankaccount" || !lc.Type.IsLookup() || len(lc.Targets) != 1 {
				t.Fatalf("lookup %+v relationship %+v", lc, r)
			}
			c, rs = lc, []*Relationship{r}
		} else {
			var err error
			if c, err = ParseAttribute(body, s.Table("new_bankaccount"), s); err != nil {
				return
			}
		}
		if _, err := s.Replace(s.Table("new_bankaccount").WithColumn(c), rs); err != nil {
			t.Fatalf("accepted column does not join the schema: %v", err)
		}
	})
}
