package webapi

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"sort"

	"github.com/dvs2s/dvs2s/schema"
)

// The CSDL $metadata document (reference §4.4; OData Version 4.0 Part 3):
// one schema, Microsoft.Dynamics.CRM alias mscrm, with an EntityType per
// table deriving from the abstract crmbaseentity as Dataverse's do, the
// WhoAmI function and its response type, the metadata entity types behind
// EntityDefinitions and RelationshipDefinitions (the properties dvs2s
// serves, not Dataverse's hundreds), and the "System" entity container.
//
// Differences from Dataverse: no annotations (?annotations=true is
// accepted and changes nothing), no OData.Community vocabulary references,
// and only the functions and types dvs2s implements.

// CSDL namespaces.
const (
	nsEdmx = "http://docs.oasis-open.org/odata/ns/edmx"
	nsEdm  = "http://docs.oasis-open.org/odata/ns/edm"
	crmNS  = "Microsoft.Dynamics.CRM"
)

// The CSDL document, marshalled with encoding/xml. Element names carry the
// edmx: prefix literally; the Schema element declares the edm namespace as
// its default.
type csdlEdmx struct {
	XMLName      xml.Name         `xml:"edmx:Edmx"`
	Version      string           `xml:"Version,attr"`
	XmlnsEdmx    string           `xml:"xmlns:edmx,attr"`
	DataServices csdlDataServices `xml:"edmx:DataServices"`
}

type csdlDataServices struct {
	Schema csdlSchema `xml:"Schema"`
}

type csdlSchema struct {
	Namespace    string              `xml:"Namespace,attr"`
	Alias        string              `xml:"Alias,attr"`
	Xmlns        string              `xml:"xmlns,attr"`
	EntityTypes  []csdlEntityType    `xml:"EntityType"`
	ComplexTypes []csdlComplexType   `xml:"ComplexType"`
	EnumTypes    []csdlEnumType      `xml:"EnumType"`
	Functions    []csdlFunction      `xml:"Function"`
	Container    csdlEntityContainer `xml:"EntityContainer"`
}

type csdlEntityType struct {
	Name       string           `xml:"Name,attr"`
	BaseType   string           `xml:"BaseType,attr,omitempty"`
	Abstract   bool             `xml:"Abstract,attr,omitempty"`
	OpenType   bool             `xml:"OpenType,attr,omitempty"`
	Key        *csdlKey         `xml:"Key"`
	Properties []csdlProperty   `xml:"Property"`
	Navs       []csdlNavigation `xml:"NavigationProperty"`
}

type csdlKey struct {
	PropertyRefs []csdlPropertyRef `xml:"PropertyRef"`
}

type csdlPropertyRef struct {
	Name string `xml:"Name,attr"`
}

type csdlProperty struct {
	Name     string `xml:"Name,attr"`
	Type     string `xml:"Type,attr"`
	Nullable string `xml:"Nullable,attr,omitempty"`
	Unicode  string `xml:"Unicode,attr,omitempty"`
	Scale    string `xml:"Scale,attr,omitempty"`
}

type csdlNavigation struct {
	Name        string                      `xml:"Name,attr"`
	Type        string                      `xml:"Type,attr"`
	Nullable    string                      `xml:"Nullable,attr,omitempty"`
	Partner     string                      `xml:"Partner,attr,omitempty"`
	Contains    bool                        `xml:"ContainsTarget,attr,omitempty"`
	Constraints []csdlReferentialConstraint `xml:"ReferentialConstraint"`
}

type csdlReferentialConstraint struct {
	Property           string `xml:"Property,attr"`
	ReferencedProperty string `xml:"ReferencedProperty,attr"`
}

type csdlComplexType struct {
	Name       string         `xml:"Name,attr"`
	Properties []csdlProperty `xml:"Property"`
}

type csdlEnumType struct {
	Name    string           `xml:"Name,attr"`
	Members []csdlEnumMember `xml:"Member"`
}

type csdlEnumMember struct {
	Name  string `xml:"Name,attr"`
	Value int    `xml:"Value,attr"`
}

type csdlFunction struct {
	Name       string         `xml:"Name,attr"`
	IsBound    bool           `xml:"IsBound,attr,omitempty"`
	ReturnType csdlReturnType `xml:"ReturnType"`
}

type csdlReturnType struct {
	Type     string `xml:"Type,attr"`
	Nullable string `xml:"Nullable,attr,omitempty"`
}

type csdlEntityContainer struct {
	Name            string               `xml:"Name,attr"`
	EntitySets      []csdlEntitySet      `xml:"EntitySet"`
	FunctionImports []csdlFunctionImport `xml:"FunctionImport"`
}

type csdlEntitySet struct {
	Name     string           `xml:"Name,attr"`
	Type     string           `xml:"EntityType,attr"`
	Bindings []csdlNavBinding `xml:"NavigationPropertyBinding"`
}

type csdlNavBinding struct {
	Path   string `xml:"Path,attr"`
	Target string `xml:"Target,attr"`
}

type csdlFunctionImport struct {
	Name                     string `xml:"Name,attr"`
	Function                 string `xml:"Function,attr"`
	IncludeInServiceDocument bool   `xml:"IncludeInServiceDocument,attr,omitempty"`
}

// csdlType is the CSDL property of a column: its Edm type with the facets
// Dataverse writes (Unicode="false" on strings, Scale="Variable" on
// decimals, so clients do not round them to integers).
func csdlType(c *schema.Column) csdlProperty {
	p := csdlProperty{Name: propertyName(c), Type: edmType(c)}
	switch p.Type {
	case "Edm.String":
		p.Unicode = "false"
	case "Edm.Decimal":
		p.Scale = "Variable"
	}
	return p
}

// buildCSDL builds the $metadata document of a schema.
func buildCSDL(sch *schema.Schema) *csdlEdmx {
	doc := &csdlEdmx{Version: "4.0", XmlnsEdmx: nsEdmx}
	s := &doc.DataServices.Schema
	s.Namespace, s.Alias, s.Xmlns = crmNS, "mscrm", nsEdm
	s.EntityTypes = append(s.EntityTypes, csdlEntityType{Name: "crmbaseentity", Abstract: true})
	s.Container.Name = "System"
	for _, t := range sch.Tables() {
		et := csdlEntityType{Name: t.LogicalName, BaseType: "mscrm.crmbaseentity",
			Key: &csdlKey{PropertyRefs: []csdlPropertyRef{{Name: t.PrimaryID}}}}
		for _, c := range t.Columns {
			et.Properties = append(et.Properties, csdlType(c))
		}
		set := csdlEntitySet{Name: t.EntitySetName, Type: crmNS + "." + t.LogicalName}
		navs := sch.Navs(t)
		sort.SliceStable(navs, func(i, j int) bool { return navs[i].Name < navs[j].Name })
		seen := map[string]bool{}
		for _, n := range navs {
			if n == nil || n.Target == nil || seen[n.Name] {
				continue
			}
			seen[n.Name] = true
			nav := csdlNavigation{Name: n.Name}
			switch {
			case n.Single != nil:
				// Dataverse marks single-valued navigation properties
				// Nullable="false" although lookups may be empty.
				nav.Type, nav.Nullable, nav.Partner = "mscrm."+n.Target.LogicalName, "false", n.Single.ReferencedNav
				nav.Constraints = []csdlReferentialConstraint{{Property: propertyName(n.Column), ReferencedProperty: n.Target.PrimaryID}}
			case n.Many != nil:
				nav.Type, nav.Partner = "Collection(mscrm."+n.Target.LogicalName+")", n.Many.ReferencingNav
			case n.M2M != nil:
				partner := n.M2M.Entity2Nav
				if n.M2M.Entity2 == t.LogicalName && n.Name == n.M2M.Entity2Nav {
					partner = n.M2M.Entity1Nav
				}
				nav.Type, nav.Partner = "Collection(mscrm."+n.Target.LogicalName+")", partner
			}
			et.Navs = append(et.Navs, nav)
			set.Bindings = append(set.Bindings, csdlNavBinding{Path: n.Name, Target: n.Target.EntitySetName})
		}
		s.EntityTypes = append(s.EntityTypes, et)
		s.Container.EntitySets = append(s.Container.EntitySets, set)
	}
	s.ComplexTypes = append(s.ComplexTypes, csdlComplexType{Name: "WhoAmIResponse", Properties: []csdlProperty{
		{Name: "BusinessUnitId", Type: "Edm.Guid", Nullable: "false"},
		{Name: "UserId", Type: "Edm.Guid", Nullable: "false"},
		{Name: "OrganizationId", Type: "Edm.Guid", Nullable: "false"},
	}})
	s.Functions = append(s.Functions, csdlFunction{Name: "WhoAmI", ReturnType: csdlReturnType{Type: "mscrm.WhoAmIResponse", Nullable: "false"}})
	s.Container.FunctionImports = append(s.Container.FunctionImports, csdlFunctionImport{Name: "WhoAmI", Function: crmNS + ".WhoAmI"})
	addMetadataTypes(s)
	return doc
}

// metadata answers GET $metadata with the CSDL document (reference §4.4).
func (q *request) metadata() {
	var buf bytes.Buffer
	buf.WriteString(xml.Header[:len(xml.Header)-1]) // no newline, like Dataverse
	if err := xml.NewEncoder(&buf).Encode(buildCSDL(q.sch)); err != nil {
		q.fail(q.internal(err))
		return
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/xml")
	q.w.WriteHeader(http.StatusOK)
	if q.r.Method != http.MethodHead {
		q.w.Write(buf.Bytes())
	}
}

// addMetadataTypes declares the metadata entity types the Web API serves
// (EntityDefinitions, RelationshipDefinitions), their complex and enum
// types, and their entity sets. Property lists are those dvs2s returns.
func addMetadataTypes(s *csdlSchema) {
	prop := func(name, typ string) csdlProperty {
		p := csdlProperty{Name: name, Type: typ}
		if typ == "Edm.String" {
			p.Unicode = "false"
		}
		return p
	}
	props := func(typ string, names ...string) []csdlProperty {
		out := make([]csdlProperty, len(names))
		for i, n := range names {
			out[i] = prop(n, typ)
		}
		return out
	}
	managed := func(names ...string) []csdlProperty { return props("mscrm.BooleanManagedProperty", names...) }
	s.EnumTypes = append(s.EnumTypes,
		csdlEnumType{Name: "OwnershipTypes", Members: []csdlEnumMember{{"None", 0}, {"UserOwned", 1}, {"TeamOwned", 2},
			{"BusinessOwned", 4}, {"OrganizationOwned", 8}, {"BusinessParented", 16}, {"Filtered", 32}}},
		csdlEnumType{Name: "AttributeTypeCode", Members: []csdlEnumMember{{"Boolean", 0}, {"Customer", 1}, {"DateTime", 2},
			{"Decimal", 3}, {"Double", 4}, {"Integer", 5}, {"Lookup", 6}, {"Memo", 7}, {"Money", 8}, {"Owner", 9},
			{"PartyList", 10}, {"Picklist", 11}, {"State", 12}, {"Status", 13}, {"String", 14}, {"Uniqueidentifier", 15},
			{"CalendarRules", 16}, {"Virtual", 17}, {"BigInt", 18}, {"ManagedProperty", 19}, {"EntityName", 20}}},
		csdlEnumType{Name: "AttributeRequiredLevel", Members: []csdlEnumMember{{"None", 0}, {"SystemRequired", 1},
			{"ApplicationRequired", 2}, {"Recommended", 3}}},
		csdlEnumType{Name: "RelationshipType", Members: []csdlEnumMember{{"OneToManyRelationship", 0}, {"ManyToManyRelationship", 1}}},
		csdlEnumType{Name: "OptionSetType", Members: []csdlEnumMember{{"Picklist", 0}, {"State", 1}, {"Status", 2}, {"Boolean", 3}}},
	)
	s.ComplexTypes = append(s.ComplexTypes,
		csdlComplexType{Name: "LocalizedLabel", Properties: []csdlProperty{prop("Label", "Edm.String"),
			prop("LanguageCode", "Edm.Int32"), prop("IsManaged", "Edm.Boolean"), prop("MetadataId", "Edm.Guid"), prop("HasChanged", "Edm.Boolean")}},
		csdlComplexType{Name: "Label", Properties: []csdlProperty{prop("LocalizedLabels", "Collection(mscrm.LocalizedLabel)"),
			prop("UserLocalizedLabel", "mscrm.LocalizedLabel")}},
		csdlComplexType{Name: "BooleanManagedProperty", Properties: []csdlProperty{prop("Value", "Edm.Boolean"),
			prop("CanBeChanged", "Edm.Boolean"), prop("ManagedPropertyLogicalName", "Edm.String")}},
		csdlComplexType{Name: "AttributeRequiredLevelManagedProperty", Properties: []csdlProperty{prop("Value", "mscrm.AttributeRequiredLevel"),
			prop("CanBeChanged", "Edm.Boolean"), prop("ManagedPropertyLogicalName", "Edm.String")}},
		csdlComplexType{Name: "AttributeTypeDisplayName", Properties: []csdlProperty{prop("Value", "Edm.String")}},
		csdlComplexType{Name: "OptionMetadata", Properties: []csdlProperty{prop("Value", "Edm.Int32"), prop("Label", "mscrm.Label"),
			prop("Description", "mscrm.Label"), prop("Color", "Edm.String"), prop("IsManaged", "Edm.Boolean"), prop("MetadataId", "Edm.Guid"), prop("HasChanged", "Edm.Boolean")}},
	)
	key := &csdlKey{PropertyRefs: []csdlPropertyRef{{Name: "MetadataId"}}}
	cat := func(lists ...[]csdlProperty) []csdlProperty {
		var out []csdlProperty
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	entity := csdlEntityType{Name: "EntityMetadata", BaseType: "mscrm.MetadataBase",
		Properties: cat(
			props("Edm.String", "LogicalName", "SchemaName", "EntitySetName", "LogicalCollectionName", "CollectionSchemaName",
				"PrimaryIdAttribute", "PrimaryNameAttribute", "PrimaryImageAttribute", "IntroducedVersion", "TableType"),
			props("Edm.Boolean", "IsCustomEntity", "IsManaged", "IsActivity", "IsActivityParty", "IsIntersect",
				"IsOptimisticConcurrencyEnabled", "ChangeTrackingEnabled", "HasActivities", "HasNotes", "IsValidForAdvancedFind",
				"IsLogicalEntity", "IsPrivate", "IsKnowledgeManagementEnabled", "IsAvailableOffline"),
			[]csdlProperty{prop("ObjectTypeCode", "Edm.Int32"), prop("OwnershipType", "mscrm.OwnershipTypes"),
				prop("DisplayName", "mscrm.Label"), prop("DisplayCollectionName", "mscrm.Label"), prop("Description", "mscrm.Label")},
			managed("CanCreateAttributes", "CanCreateForms", "CanCreateViews", "CanBeInManyToMany", "CanBePrimaryEntityInRelationship",
				"CanBeRelatedEntityInRelationship", "IsAuditEnabled", "IsCustomizable", "IsRenameable")),
		Navs: []csdlNavigation{
			{Name: "Attributes", Type: "Collection(mscrm.AttributeMetadata)", Contains: true},
			{Name: "OneToManyRelationships", Type: "Collection(mscrm.OneToManyRelationshipMetadata)"},
			{Name: "ManyToOneRelationships", Type: "Collection(mscrm.OneToManyRelationshipMetadata)"},
			{Name: "ManyToManyRelationships", Type: "Collection(mscrm.ManyToManyRelationshipMetadata)"},
		}}
	attr := csdlEntityType{Name: "AttributeMetadata", BaseType: "mscrm.MetadataBase",
		Properties: cat(
			props("Edm.String", "LogicalName", "SchemaName", "EntityLogicalName", "IntroducedVersion", "AttributeOf"),
			props("Edm.Boolean", "IsCustomAttribute", "IsManaged", "IsPrimaryId", "IsPrimaryName", "IsValidForCreate",
				"IsValidForUpdate", "IsValidForRead", "IsLogical", "IsSecured", "IsValidODataAttribute", "IsFilterable", "IsSearchable", "IsRetrievable"),
			[]csdlProperty{prop("AttributeType", "mscrm.AttributeTypeCode"), prop("AttributeTypeName", "mscrm.AttributeTypeDisplayName"),
				prop("ColumnNumber", "Edm.Int32"), prop("SourceType", "Edm.Int32"),
				prop("RequiredLevel", "mscrm.AttributeRequiredLevelManagedProperty"),
				prop("DisplayName", "mscrm.Label"), prop("Description", "mscrm.Label")},
			managed("IsAuditEnabled", "IsCustomizable", "IsRenameable", "IsValidForAdvancedFind"))}
	derived := func(name string, ps ...csdlProperty) csdlEntityType {
		return csdlEntityType{Name: name, BaseType: "mscrm.AttributeMetadata", Properties: ps}
	}
	optionSet := csdlNavigation{Name: "OptionSet", Type: "mscrm.OptionSetMetadata", Contains: true}
	globalOptionSet := csdlNavigation{Name: "GlobalOptionSet", Type: "mscrm.OptionSetMetadata", Contains: true}
	enumAttr := func(name string, ps ...csdlProperty) csdlEntityType {
		t := csdlEntityType{Name: name, BaseType: "mscrm.EnumAttributeMetadata", Properties: ps}
		return t
	}
	minMax := func(typ string) []csdlProperty { return props(typ, "MinValue", "MaxValue") }
	rel := func(name string, ps ...csdlProperty) csdlEntityType {
		return csdlEntityType{Name: name, BaseType: "mscrm.RelationshipMetadataBase", Properties: ps}
	}
	s.EntityTypes = append(s.EntityTypes,
		csdlEntityType{Name: "MetadataBase", Abstract: true, Key: key, Properties: []csdlProperty{
			{Name: "MetadataId", Type: "Edm.Guid", Nullable: "false"}, prop("HasChanged", "Edm.Boolean")}},
		entity, attr,
		derived("StringAttributeMetadata", prop("MaxLength", "Edm.Int32"), prop("DatabaseLength", "Edm.Int32"), prop("Format", "Edm.String")),
		derived("MemoAttributeMetadata", prop("MaxLength", "Edm.Int32"), prop("Format", "Edm.String")),
		derived("IntegerAttributeMetadata", append(minMax("Edm.Int32"), prop("Format", "Edm.String"))...),
		derived("BigIntAttributeMetadata", minMax("Edm.Int64")...),
		derived("DecimalAttributeMetadata", append(minMax("Edm.Decimal"), prop("Precision", "Edm.Int32"))...),
		derived("DoubleAttributeMetadata", append(minMax("Edm.Double"), prop("Precision", "Edm.Int32"))...),
		derived("MoneyAttributeMetadata", append(minMax("Edm.Double"), prop("Precision", "Edm.Int32"), prop("PrecisionSource", "Edm.Int32"))...),
		derived("DateTimeAttributeMetadata", prop("Format", "Edm.String")),
		derived("UniqueIdentifierAttributeMetadata"),
		derived("LookupAttributeMetadata", prop("Targets", "Collection(Edm.String)"), prop("Format", "Edm.String")),
		csdlEntityType{Name: "BooleanAttributeMetadata", BaseType: "mscrm.AttributeMetadata",
			Properties: []csdlProperty{prop("DefaultValue", "Edm.Boolean")},
			Navs: []csdlNavigation{{Name: "OptionSet", Type: "mscrm.BooleanOptionSetMetadata", Contains: true},
				{Name: "GlobalOptionSet", Type: "mscrm.BooleanOptionSetMetadata", Contains: true}}},
		csdlEntityType{Name: "EnumAttributeMetadata", BaseType: "mscrm.AttributeMetadata", Abstract: true,
			Properties: []csdlProperty{prop("DefaultFormValue", "Edm.Int32")}, Navs: []csdlNavigation{optionSet, globalOptionSet}},
		enumAttr("PicklistAttributeMetadata"),
		enumAttr("StateAttributeMetadata"),
		enumAttr("StatusAttributeMetadata"),
		csdlEntityType{Name: "OptionSetMetadataBase", BaseType: "mscrm.MetadataBase", Abstract: true, Properties: append(
			props("Edm.Boolean", "IsCustomOptionSet", "IsGlobal", "IsManaged"),
			prop("Name", "Edm.String"), prop("OptionSetType", "mscrm.OptionSetType"),
			prop("DisplayName", "mscrm.Label"), prop("Description", "mscrm.Label"))},
		csdlEntityType{Name: "OptionSetMetadata", BaseType: "mscrm.OptionSetMetadataBase",
			Properties: []csdlProperty{prop("Options", "Collection(mscrm.OptionMetadata)")}},
		csdlEntityType{Name: "BooleanOptionSetMetadata", BaseType: "mscrm.OptionSetMetadataBase",
			Properties: []csdlProperty{prop("TrueOption", "mscrm.OptionMetadata"), prop("FalseOption", "mscrm.OptionMetadata")}},
		csdlEntityType{Name: "RelationshipMetadataBase", BaseType: "mscrm.MetadataBase", Abstract: true, Properties: append(
			props("Edm.Boolean", "IsCustomRelationship", "IsManaged", "IsValidForAdvancedFind"),
			prop("SchemaName", "Edm.String"), prop("RelationshipType", "mscrm.RelationshipType"), prop("IntroducedVersion", "Edm.String"))},
		rel("OneToManyRelationshipMetadata", props("Edm.String", "ReferencedAttribute", "ReferencedEntity", "ReferencingAttribute",
			"ReferencingEntity", "ReferencedEntityNavigationPropertyName", "ReferencingEntityNavigationPropertyName")...),
		rel("ManyToManyRelationshipMetadata", props("Edm.String", "Entity1LogicalName", "Entity2LogicalName", "IntersectEntityName",
			"Entity1IntersectAttribute", "Entity2IntersectAttribute", "Entity1NavigationPropertyName", "Entity2NavigationPropertyName")...),
	)
	s.Container.EntitySets = append(s.Container.EntitySets,
		csdlEntitySet{Name: "EntityDefinitions", Type: crmNS + ".EntityMetadata", Bindings: []csdlNavBinding{
			{Path: "OneToManyRelationships", Target: "RelationshipDefinitions"},
			{Path: "ManyToOneRelationships", Target: "RelationshipDefinitions"},
			{Path: "ManyToManyRelationships", Target: "RelationshipDefinitions"}}},
		csdlEntitySet{Name: "RelationshipDefinitions", Type: crmNS + ".RelationshipMetadataBase"},
	)
}
