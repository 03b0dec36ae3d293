package webapi

// Table definitions (reference §4.16): EntityDefinitions and
// RelationshipDefinitions, read from the environment's schema and
// answered in Dataverse's metadata shapes (EntityMetadata,
// AttributeMetadata and its derived types, OptionSetMetadata,
// OneToManyRelationshipMetadata, ManyToManyRelationshipMetadata), with
// $select, $filter and $expand evaluated in memory (metadata is small;
// "there is no paging"); and custom tables, columns and lookups created
// with POST (validation and conversion live in schema/custom.go).
//
// Differences from Dataverse:
//   - the metadata objects carry the properties listed below, not every
//     property of Dataverse's types; managed properties that dvs2s does
//     not act on have fixed values;
//   - CanCreateAttributes/Value is true for custom tables only: columns
//     can be added to custom tables only;
//   - $filter is lenient: any property path into complex values is
//     followed (Dataverse refuses Label paths), contains/startswith/
//     endswith work, and string comparisons ignore case as data queries
//     do; $orderby, $top, $count and $apply are refused;
//   - table definitions cannot be changed (PUT) or deleted yet;
//   - reading definitions needs no privilege (Dataverse: prvReadEntity,
//     which every standard role has); creating tables, columns and
//     relationships needs prvCreateEntity, prvCreateAttribute and
//     prvCreateRelationship, which package security does not define as
//     grantable privileges yet, so in practice only System Administrators
//     (who hold every privilege) can define tables.

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/odata"
	"github.com/dvs2s/dvs2s/schema"
)

// metadataWrites serialises metadata changes: each one validates against
// the current schema and then replaces it.
var metadataWrites sync.Mutex

// Error code for a table definition that is not found (the metadata
// cache's EntityNotFound).
const codeEntityNotFound = "0x80041102"

// mdID derives the MetadataId of a metadata component dvs2s does not keep
// an id for (labels, option sets), stable across requests and starts.
func mdID(parts ...string) string {
	h := sha1.Sum([]byte("dvs2s label " + strings.Join(parts, "/")))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// mdLabel renders a Label: one base-language localized label, also the
// user-localized one; an empty text gives no labels.
func mdLabel(text string, managed bool, owner ...string) map[string]any {
	if text == "" {
		return map[string]any{"LocalizedLabels": []any{}, "UserLocalizedLabel": nil}
	}
	l := map[string]any{"Label": text, "LanguageCode": schema.BaseLanguage, "IsManaged": managed,
		"MetadataId": mdID(owner...), "HasChanged": nil}
	return map[string]any{"LocalizedLabels": []any{l}, "UserLocalizedLabel": l}
}

func managedProp(v bool, name string) map[string]any {
	return map[string]any{"Value": v, "CanBeChanged": false, "ManagedPropertyLogicalName": name}
}

func introducedVersion(custom bool) string {
	if custom {
		return "1.0.0.0"
	}
	return "5.0.0.0"
}

// collectionName is a table's LogicalCollectionName.
func collectionName(t *schema.Table) string {
	if t.Custom {
		return schema.Plural(t.LogicalName)
	}
	return t.EntitySetName
}

// entityJSON renders a table as EntityMetadata (without navigation
// properties).
func entityJSON(t *schema.Table) map[string]any {
	managed := !t.Custom
	return map[string]any{
		"MetadataId":                        t.MetadataID,
		"HasChanged":                        nil,
		"LogicalName":                       t.LogicalName,
		"SchemaName":                        t.SchemaName,
		"EntitySetName":                     t.EntitySetName,
		"LogicalCollectionName":             collectionName(t),
		"CollectionSchemaName":              schema.Plural(t.SchemaName),
		"PrimaryIdAttribute":                t.PrimaryID,
		"PrimaryNameAttribute":              t.PrimaryName,
		"PrimaryImageAttribute":             nil,
		"ObjectTypeCode":                    t.ObjectTypeCode,
		"OwnershipType":                     ownershipName(t.Ownership),
		"IsCustomEntity":                    t.Custom,
		"IsManaged":                         managed,
		"IsActivity":                        false,
		"IsActivityParty":                   false,
		"IsIntersect":                       false,
		"IsLogicalEntity":                   false,
		"IsPrivate":                         false,
		"IsOptimisticConcurrencyEnabled":    true,
		"ChangeTrackingEnabled":             false,
		"HasActivities":                     false,
		"HasNotes":                          false,
		"HasFeedback":                       false,
		"HasEmailAddresses":                 false,
		"IsValidForAdvancedFind":            true,
		"IsKnowledgeManagementEnabled":      false,
		"IsAvailableOffline":                false,
		"IsBusinessProcessEnabled":          false,
		"IsDocumentManagementEnabled":       false,
		"IsStateModelAware":                 true,
		"IsSolutionAware":                   false,
		"IsImportable":                      true,
		"IsEnabledForCharts":                true,
		"IsQuickCreateEnabled":              false,
		"AutoRouteToOwnerQueue":             false,
		"AutoCreateAccessTeams":             false,
		"CanTriggerWorkflow":                true,
		"ActivityTypeMask":                  0,
		"DaysSinceRecordLastModified":       0,
		"TableType":                         "Standard",
		"IntroducedVersion":                 introducedVersion(t.Custom),
		"EntityColor":                       nil,
		"IconVectorName":                    nil,
		"ExternalName":                      nil,
		"ExternalCollectionName":            nil,
		"DisplayName":                       mdLabel(t.DisplayName, managed, t.MetadataID, "DisplayName"),
		"DisplayCollectionName":             mdLabel(t.DisplayCollectionName, managed, t.MetadataID, "DisplayCollectionName"),
		"Description":                       mdLabel(t.Description, managed, t.MetadataID, "Description"),
		"CanCreateAttributes":               managedProp(t.Custom, "cancreateattributes"),
		"CanCreateForms":                    managedProp(true, "cancreateforms"),
		"CanCreateViews":                    managedProp(true, "cancreateviews"),
		"CanCreateCharts":                   managedProp(true, "cancreatecharts"),
		"CanBeInManyToMany":                 managedProp(false, "canbeinmanytomany"),
		"CanBePrimaryEntityInRelationship":  managedProp(true, "canbeprimaryentityinrelationship"),
		"CanBeRelatedEntityInRelationship":  managedProp(t.Custom, "canberelatedentityinrelationship"),
		"CanModifyAdditionalSettings":       managedProp(true, "canmodifyadditionalsettings"),
		"IsAuditEnabled":                    managedProp(false, "canmodifyauditsettings"),
		"IsCustomizable":                    managedProp(true, "iscustomizable"),
		"IsRenameable":                      managedProp(true, "isrenameable"),
		"IsMappable":                        managedProp(true, "ismappable"),
		"IsDuplicateDetectionEnabled":       managedProp(false, "canmodifyduplicatedetectionsettings"),
		"IsConnectionsEnabled":              managedProp(false, "canmodifyconnectionsettings"),
		"IsValidForQueue":                   managedProp(false, "canmodifyqueuesettings"),
		"IsMailMergeEnabled":                managedProp(false, "canmodifymailmergesettings"),
		"IsVisibleInMobile":                 managedProp(false, "canmodifymobilevisibility"),
		"IsVisibleInMobileClient":           managedProp(false, "canmodifymobileclientvisibility"),
		"IsReadOnlyInMobileClient":          managedProp(false, "canmodifymobileclientreadonly"),
		"IsOfflineInMobileClient":           managedProp(false, "canmodifymobileclientoffline"),
		"CanChangeHierarchicalRelationship": managedProp(false, "canchangehierarchicalrelationship"),
	}
}

func ownershipName(o schema.Ownership) string {
	if o == schema.OrganizationOwned {
		return "OrganizationOwned"
	}
	return o.String()
}

var requiredNames = map[schema.RequiredLevel]string{schema.None: "None", schema.Recommended: "Recommended",
	schema.ApplicationRequired: "ApplicationRequired", schema.SystemRequired: "SystemRequired"}

// attributeTypeName is the AttributeTypeName value of a column type.
func attributeTypeName(t schema.Type) string { return t.String() + "Type" }

// attributeJSON renders a column as its AttributeMetadata derived type
// (without navigation properties), with @odata.type.
func attributeJSON(t *schema.Table, c *schema.Column, number int) map[string]any {
	managed := !t.Custom
	m := map[string]any{
		"@odata.type":                 "#" + crmNS + "." + schema.MetadataTypeName(c.Type),
		"MetadataId":                  c.MetadataID,
		"HasChanged":                  nil,
		"LogicalName":                 c.LogicalName,
		"SchemaName":                  c.SchemaName,
		"EntityLogicalName":           t.LogicalName,
		"AttributeType":               c.Type.String(),
		"AttributeTypeName":           map[string]any{"Value": attributeTypeName(c.Type)},
		"AttributeOf":                 nil,
		"ColumnNumber":                number,
		"SourceType":                  0,
		"IntroducedVersion":           introducedVersion(t.Custom),
		"DeprecatedVersion":           nil,
		"ExternalName":                nil,
		"InheritsFrom":                nil,
		"LinkedAttributeId":           nil,
		"AutoNumberFormat":            "",
		"IsCustomAttribute":           c.Custom,
		"IsManaged":                   managed,
		"IsPrimaryId":                 c.LogicalName == t.PrimaryID,
		"IsPrimaryName":               c.LogicalName == t.PrimaryName,
		"IsValidForCreate":            !c.ReadOnly,
		"IsValidForUpdate":            !c.ReadOnly && !c.CreateOnly,
		"IsValidForRead":              true,
		"IsValidForForm":              true,
		"IsValidForGrid":              true,
		"IsValidODataAttribute":       true,
		"IsRequiredForForm":           false,
		"IsLogical":                   false,
		"IsSecured":                   false,
		"IsFilterable":                true,
		"IsSearchable":                c.Type.IsText(),
		"IsRetrievable":               true,
		"IsDataSourceSecret":          false,
		"DisplayName":                 mdLabel(c.DisplayName, managed, c.MetadataID, "DisplayName"),
		"Description":                 mdLabel("", managed, c.MetadataID, "Description"),
		"RequiredLevel":               map[string]any{"Value": requiredNames[c.Required], "CanBeChanged": c.Required != schema.SystemRequired, "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
		"IsAuditEnabled":              managedProp(true, "canmodifyauditsettings"),
		"IsCustomizable":              managedProp(true, "iscustomizable"),
		"IsRenameable":                managedProp(true, "isrenameable"),
		"IsValidForAdvancedFind":      managedProp(true, "canmodifysearchsettings"),
		"IsGlobalFilterEnabled":       managedProp(false, "canmodifyglobalfiltersettings"),
		"IsSortableEnabled":           managedProp(false, "canmodifyissortablesettings"),
		"CanModifyAdditionalSettings": managedProp(true, "canmodifyadditionalsettings"),
	}
	for k, v := range typeSpecific(c) {
		m[k] = v
	}
	return m
}

// typeSpecific holds the properties of a column's derived metadata type.
func typeSpecific(c *schema.Column) map[string]any {
	switch c.Type {
	case schema.String:
		return map[string]any{"MaxLength": c.MaxLength, "DatabaseLength": 2 * c.MaxLength, "Format": "Text",
			"FormatName": map[string]any{"Value": "Text"}, "ImeMode": "Auto", "IsLocalizable": false, "YomiOf": nil}
	case schema.Memo:
		return map[string]any{"MaxLength": c.MaxLength, "Format": "TextArea", "FormatName": map[string]any{"Value": "TextArea"},
			"ImeMode": "Auto", "IsLocalizable": false}
	case schema.Integer:
		return map[string]any{"MinValue": int64(c.MinValue), "MaxValue": int64(c.MaxValue), "Format": "None", "SourceTypeMask": 0}
	case schema.BigInt:
		return map[string]any{"MinValue": int64(-1 << 63), "MaxValue": int64(1<<63 - 1)}
	case schema.Decimal, schema.Double:
		return map[string]any{"Precision": c.Precision, "MinValue": c.MinValue, "MaxValue": c.MaxValue, "ImeMode": "Auto", "SourceTypeMask": 0}
	case schema.Money:
		return map[string]any{"Precision": c.Precision, "PrecisionSource": 2, "MinValue": c.MinValue, "MaxValue": c.MaxValue,
			"ImeMode": "Auto", "IsBaseCurrency": false, "CalculationOf": nil, "SourceTypeMask": 0}
	case schema.Boolean:
		return map[string]any{"DefaultValue": false, "FormulaDefinition": nil, "SourceTypeMask": 0}
	case schema.DateTime:
		return map[string]any{"Format": "DateAndTime", "DateTimeBehavior": map[string]any{"Value": "UserLocal"},
			"CanChangeDateTimeBehavior": managedProp(false, "canchangedatetimebehavior"), "ImeMode": "Auto",
			"MinSupportedValue": "1753-01-01T00:00:00Z", "MaxSupportedValue": "9999-12-30T23:59:59Z", "SourceTypeMask": 0}
	case schema.Choice:
		return map[string]any{"DefaultFormValue": -1, "ParentPicklistLogicalName": nil, "ChildPicklistLogicalNames": []any{}, "SourceTypeMask": 0}
	case schema.State, schema.Status:
		return map[string]any{"DefaultFormValue": nil, "ParentPicklistLogicalName": nil, "ChildPicklistLogicalNames": []any{}}
	case schema.Lookup, schema.Owner, schema.Customer:
		return map[string]any{"Targets": append([]string{}, c.Targets...), "Format": "None"}
	}
	return map[string]any{}
}

// optionSetJSON renders the option set of a choice, state, status or
// yes/no column (nil for other columns).
func optionSetJSON(t *schema.Table, c *schema.Column) map[string]any {
	managed := !t.Custom
	id := mdID(c.MetadataID, "OptionSet")
	m := map[string]any{
		"MetadataId": id, "HasChanged": nil, "IsCustomOptionSet": c.Custom, "IsGlobal": false, "IsManaged": managed,
		"Name": t.LogicalName + "_" + c.LogicalName, "IntroducedVersion": introducedVersion(t.Custom),
		"ParentOptionSetName": nil, "ExternalTypeName": nil,
		"DisplayName": mdLabel(c.DisplayName, managed, id, "DisplayName"), "Description": mdLabel("", managed, id, "Description"),
		"IsCustomizable": managedProp(true, "iscustomizable"),
	}
	option := func(o schema.Option) map[string]any {
		return map[string]any{"Value": o.Value, "Label": mdLabel(o.Label, managed, id, fmt.Sprint(o.Value)),
			"Description": mdLabel("", managed, id, fmt.Sprint(o.Value), "Description"), "Color": nil, "IsManaged": managed,
			"ExternalValue": "", "ParentValues": []any{}, "Tag": nil, "IsHidden": false, "MetadataId": nil, "HasChanged": nil}
	}
	switch c.Type {
	case schema.Boolean:
		m["@odata.type"] = "#" + crmNS + ".BooleanOptionSetMetadata"
		m["OptionSetType"] = "Boolean"
		no, yes := schema.Option{Value: 0, Label: "No"}, schema.Option{Value: 1, Label: "Yes"}
		for _, o := range c.Options {
			if o.Value == 0 {
				no = o
			} else if o.Value == 1 {
				yes = o
			}
		}
		m["FalseOption"], m["TrueOption"] = option(no), option(yes)
	case schema.Choice, schema.State, schema.Status:
		m["@odata.type"] = "#" + crmNS + ".OptionSetMetadata"
		m["OptionSetType"] = map[schema.Type]string{schema.Choice: "Picklist", schema.State: "State", schema.Status: "Status"}[c.Type]
		opts := []any{}
		for _, o := range c.Options {
			om := option(o)
			switch c.Type {
			case schema.State:
				om["@odata.type"] = "#" + crmNS + ".StateOptionMetadata"
				om["InvariantName"] = o.Label
				om["DefaultStatus"] = o.Value + 1
			case schema.Status:
				om["@odata.type"] = "#" + crmNS + ".StatusOptionMetadata"
				om["State"] = o.State
				om["TransitionData"] = nil
			}
			opts = append(opts, om)
		}
		m["Options"] = opts
	default:
		return nil
	}
	return m
}

// oneToManyJSON renders a one-to-many relationship.
func oneToManyJSON(sch *schema.Schema, r *schema.Relationship) map[string]any {
	custom := isCustomRel(sch, r.Referencing, r.ReferencingAttribute)
	referenced := sch.Table(r.Referenced)
	pk := ""
	if referenced != nil {
		pk = referenced.PrimaryID
	}
	return map[string]any{
		"@odata.type": "#" + crmNS + ".OneToManyRelationshipMetadata",
		"MetadataId":  r.MetadataID, "HasChanged": nil, "SchemaName": r.SchemaName,
		"RelationshipType": "OneToManyRelationship", "IsCustomRelationship": custom, "IsManaged": !custom,
		"IsValidForAdvancedFind": true, "SecurityTypes": "None", "IntroducedVersion": introducedVersion(custom),
		"ReferencedEntity": r.Referenced, "ReferencedAttribute": pk, "ReferencingEntity": r.Referencing,
		"ReferencingAttribute": r.ReferencingAttribute, "ReferencedEntityNavigationPropertyName": r.ReferencedNav,
		"ReferencingEntityNavigationPropertyName": r.ReferencingNav, "IsHierarchical": false, "EntityKey": nil,
		"RelationshipBehavior": 0, "IsRelationshipAttributeDenormalized": false,
		"IsCustomizable": managedProp(true, "iscustomizable"),
		"CascadeConfiguration": map[string]any{"Assign": "NoCascade", "Delete": "RemoveLink", "Archive": "NoCascade",
			"Merge": "NoCascade", "Reparent": "NoCascade", "Share": "NoCascade", "Unshare": "NoCascade", "RollupView": "NoCascade"},
	}
}

// isCustomRel reports whether the lookup behind a relationship is custom.
func isCustomRel(sch *schema.Schema, table, column string) bool {
	if t := sch.Table(table); t != nil {
		if c := t.Column(column); c != nil {
			return c.Custom
		}
	}
	return false
}

// manyToManyJSON renders a many-to-many relationship.
func manyToManyJSON(m *schema.ManyToMany) map[string]any {
	return map[string]any{
		"@odata.type": "#" + crmNS + ".ManyToManyRelationshipMetadata",
		"MetadataId":  m.MetadataID, "HasChanged": nil, "SchemaName": m.SchemaName,
		"RelationshipType": "ManyToManyRelationship", "IsCustomRelationship": false, "IsManaged": true,
		"IsValidForAdvancedFind": true, "SecurityTypes": "None", "IntroducedVersion": introducedVersion(false),
		"Entity1LogicalName": m.Entity1, "Entity2LogicalName": m.Entity2, "IntersectEntityName": m.Intersect,
		"Entity1IntersectAttribute": m.Entity1Col, "Entity2IntersectAttribute": m.Entity2Col,
		"Entity1NavigationPropertyName": m.Entity1Nav, "Entity2NavigationPropertyName": m.Entity2Nav,
		"IsCustomizable": managedProp(true, "iscustomizable"),
	}
}

// mdType is a metadata type a query runs over: its qualified name (for
// error messages and enum checks), its properties and its navigation
// properties.
type mdType struct {
	name  string
	props map[string]bool
	navs  map[string]bool
}

func keySet(m map[string]any) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		if !strings.HasPrefix(k, "@") {
			out[k] = true
		}
	}
	return out
}

// Prototypes of the metadata types, built once from sample components.
var (
	mdTypesOnce sync.Once
	entityType  mdType
	attrBase    mdType
	attrTypes   map[string]mdType // by derived type name
	relType     mdType
	o2mType     mdType
	m2mType     mdType
)

// attributeMetadataTypes are Dataverse's AttributeMetadata derived types:
// a cast to one dvs2s has no columns of yields an empty collection.
var attributeMetadataTypes = []string{"BigIntAttributeMetadata", "BooleanAttributeMetadata", "DateTimeAttributeMetadata",
	"DecimalAttributeMetadata", "DoubleAttributeMetadata", "EntityNameAttributeMetadata", "FileAttributeMetadata",
	"ImageAttributeMetadata", "IntegerAttributeMetadata", "LookupAttributeMetadata", "ManagedPropertyAttributeMetadata",
	"MemoAttributeMetadata", "MoneyAttributeMetadata", "MultiSelectPicklistAttributeMetadata", "PicklistAttributeMetadata",
	"StateAttributeMetadata", "StatusAttributeMetadata", "StringAttributeMetadata", "UniqueIdentifierAttributeMetadata"}

func mdTypes() {
	mdTypesOnce.Do(func() {
		t := &schema.Table{LogicalName: "x", SchemaName: "X", PrimaryID: "xid", PrimaryName: "name", MetadataID: mdID("x")}
		entityType = mdType{name: crmNS + ".EntityMetadata", props: keySet(entityJSON(t)),
			navs: map[string]bool{"Attributes": true, "OneToManyRelationships": true, "ManyToOneRelationships": true, "ManyToManyRelationships": true}}
		common := keySet(attributeJSON(t, &schema.Column{Type: schema.UniqueIdentifier}, 1))
		attrBase = mdType{name: crmNS + ".AttributeMetadata", props: common, navs: map[string]bool{}}
		attrTypes = map[string]mdType{}
		for _, n := range attributeMetadataTypes {
			p := map[string]bool{}
			for k := range common {
				p[k] = true
			}
			attrTypes[n] = mdType{name: crmNS + "." + n, props: p, navs: map[string]bool{}}
		}
		for _, typ := range []schema.Type{schema.String, schema.Memo, schema.Integer, schema.BigInt, schema.Decimal, schema.Double,
			schema.Money, schema.Boolean, schema.DateTime, schema.Choice, schema.Lookup, schema.UniqueIdentifier, schema.State, schema.Status} {
			mt := attrTypes[schema.MetadataTypeName(typ)]
			for k := range typeSpecific(&schema.Column{Type: typ}) {
				mt.props[k] = true
			}
			if typ == schema.Boolean || typ == schema.Choice || typ == schema.State || typ == schema.Status {
				mt.navs["OptionSet"], mt.navs["GlobalOptionSet"] = true, true
			}
		}
		o2m := keySet(oneToManyJSON(schema.System(), &schema.Relationship{}))
		m2m := keySet(manyToManyJSON(&schema.ManyToMany{}))
		o2mType = mdType{name: crmNS + ".OneToManyRelationshipMetadata", props: o2m, navs: map[string]bool{}}
		m2mType = mdType{name: crmNS + ".ManyToManyRelationshipMetadata", props: m2m, navs: map[string]bool{}}
		base := map[string]bool{}
		for k := range o2m {
			if m2m[k] {
				base[k] = true
			}
		}
		relType = mdType{name: crmNS + ".RelationshipMetadataBase", props: base, navs: map[string]bool{}}
	})
}

// mdEnums are the enum-typed properties and their enum types and members.
var (
	mdEnumProps = map[string]string{
		"OwnershipType": crmNS + ".OwnershipTypes", "AttributeType": crmNS + ".AttributeTypeCode",
		"RequiredLevel/Value": crmNS + ".AttributeRequiredLevel", "RelationshipType": crmNS + ".RelationshipType",
		"OptionSetType": crmNS + ".OptionSetType",
	}
	mdEnumMembers = map[string][]string{
		crmNS + ".OwnershipTypes": {"None", "UserOwned", "TeamOwned", "BusinessOwned", "OrganizationOwned", "BusinessParented", "Filtered"},
		crmNS + ".AttributeTypeCode": {"Boolean", "Customer", "DateTime", "Decimal", "Double", "Integer", "Lookup", "Memo", "Money",
			"Owner", "PartyList", "Picklist", "State", "Status", "String", "Uniqueidentifier", "CalendarRules", "Virtual", "BigInt",
			"ManagedProperty", "EntityName"},
		crmNS + ".AttributeRequiredLevel": {"None", "SystemRequired", "ApplicationRequired", "Recommended"},
		crmNS + ".RelationshipType":       {"OneToManyRelationship", "ManyToManyRelationship"},
		crmNS + ".OptionSetType":          {"Picklist", "State", "Status", "Boolean"},
	}
)

// mdQuery is a $select/$filter/$expand over metadata objects of one type.
type mdQuery struct {
	typ    mdType
	sel    []string
	filter odata.Expr
	expand []odata.Expand
}

// newMDQuery checks the options of a metadata query (top level when
// top, else nested in $expand).
func newMDQuery(typ mdType, o *odata.Query, top bool) (*mdQuery, *Error) {
	mq := &mdQuery{typ: typ}
	if o == nil {
		return mq, nil
	}
	for _, n := range []struct {
		name string
		set  bool
	}{{"$orderby", len(o.OrderBy) > 0}, {"$top", o.Top != nil}, {"$count", o.Count && top}, {"$apply", o.Apply != ""}, {"$skiptoken", o.SkipToken != ""}} {
		if n.set {
			return nil, badRequest("The query option %s is not supported on metadata queries.", n.name)
		}
	}
	for _, s := range o.Select {
		if s == "*" {
			mq.sel = nil
			break
		}
		if !typ.props[s] {
			return nil, errorf(http.StatusBadRequest, "0x0", "Could not find a property named '%s' on type '%s'.", s, typ.name)
		}
		mq.sel = append(mq.sel, s)
	}
	for _, x := range o.Expand {
		if !typ.navs[x.Property] {
			return nil, errorf(http.StatusBadRequest, "0x0", "Could not find a property named '%s' on type '%s'.", x.Property, typ.name)
		}
		if x.Ref {
			return nil, badRequest("$ref is not supported in metadata queries.")
		}
	}
	mq.filter, mq.expand = o.Filter, o.Expand
	return mq, nil
}

// match evaluates the filter on an object.
func (mq *mdQuery) match(obj map[string]any) (bool, *Error) {
	if mq.filter == nil {
		return true, nil
	}
	return mq.test(mq.filter, obj)
}

// project applies $select (MetadataId and @odata.type always stay).
func (mq *mdQuery) project(obj map[string]any) map[string]any {
	if mq.sel == nil {
		return obj
	}
	out := map[string]any{"MetadataId": obj["MetadataId"]}
	if t, ok := obj["@odata.type"]; ok {
		out["@odata.type"] = t
	}
	for _, s := range mq.sel {
		out[s] = obj[s]
	}
	return out
}

// contextSuffix is the "(sel,nav(...))" part of an @odata.context.
func (mq *mdQuery) contextSuffix() string {
	var parts []string
	parts = append(parts, mq.sel...)
	for _, x := range mq.expand {
		inner := ""
		if x.Options != nil {
			inner = strings.Join(x.Options.Select, ",")
		}
		parts = append(parts, x.Property+"("+inner+")")
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ",") + ")"
}

// mdEnum is an enum literal's value in a comparison.
type mdEnum struct{ typ, member string }

func (mq *mdQuery) unsupported(e odata.Expr) *Error {
	return badRequest("The expression '%s' is not supported in metadata queries.", e.String())
}

// test evaluates a boolean expression.
func (mq *mdQuery) test(e odata.Expr, obj map[string]any) (bool, *Error) {
	switch x := e.(type) {
	case *odata.Binary:
		switch x.Op {
		case odata.OpAnd, odata.OpOr:
			l, err := mq.test(x.Left, obj)
			if err != nil {
				return false, err
			}
			if (x.Op == odata.OpAnd && !l) || (x.Op == odata.OpOr && l) {
				return l, nil
			}
			return mq.test(x.Right, obj)
		}
		return mq.compare(x, obj)
	case *odata.Not:
		v, err := mq.test(x.X, obj)
		return !v, err
	case *odata.Call:
		switch x.Name {
		case "contains", "startswith", "endswith":
			a, err := mq.value(x.Args[0], obj)
			if err != nil {
				return false, err
			}
			b, err := mq.value(x.Args[1], obj)
			if err != nil {
				return false, err
			}
			as, ok1 := a.(string)
			bs, ok2 := b.(string)
			if !ok1 || !ok2 {
				return false, badRequest("The function '%s' takes two strings.", x.Name)
			}
			as, bs = strings.ToLower(as), strings.ToLower(bs)
			switch x.Name {
			case "contains":
				return strings.Contains(as, bs), nil
			case "startswith":
				return strings.HasPrefix(as, bs), nil
			}
			return strings.HasSuffix(as, bs), nil
		}
		return false, mq.unsupported(e)
	}
	v, err := mq.value(e, obj)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, badRequest("The $filter expression '%s' is not a boolean.", e.String())
	}
	return b, nil
}

// value evaluates an operand: a property path, a literal or a string
// function.
func (mq *mdQuery) value(e odata.Expr, obj map[string]any) (any, *Error) {
	switch x := e.(type) {
	case *odata.Prop:
		if x.Var != "" || len(x.Path) == 0 {
			return nil, mq.unsupported(e)
		}
		if !mq.typ.props[x.Path[0]] {
			return nil, errorf(http.StatusBadRequest, "0x0", "Could not find a property named '%s' on type '%s'.", x.Path[0], mq.typ.name)
		}
		var v any = obj[x.Path[0]]
		for _, seg := range x.Path[1:] {
			switch m := v.(type) {
			case nil:
				return nil, nil
			case map[string]any:
				next, ok := m[seg]
				if !ok {
					return nil, errorf(http.StatusBadRequest, "0x0", "Could not find a property named '%s' on the value of '%s'.", seg, x.Path[0])
				}
				v = next
			default:
				return nil, badRequest("The property path '%s' does not lead to a primitive value.", x.Name())
			}
		}
		switch v.(type) {
		case map[string]any, []any, []string:
			return nil, badRequest("The property '%s' is not of a primitive or enumeration type; give the path to its Value.", x.Name())
		}
		return v, nil
	case *odata.Lit:
		switch x.Kind {
		case odata.LitNull, odata.LitBool, odata.LitString:
			return x.Value, nil
		case odata.LitGUID:
			return x.Value, nil
		case odata.LitEnum:
			return mdEnum{typ: x.Type, member: x.Value.(string)}, nil
		case odata.LitInt, odata.LitDecimal, odata.LitDouble:
			f, _ := x.Float()
			return f, nil
		}
		return nil, mq.unsupported(e)
	case *odata.Call:
		switch x.Name {
		case "tolower", "toupper", "trim":
			v, err := mq.value(x.Args[0], obj)
			if err != nil {
				return nil, err
			}
			s, ok := v.(string)
			if !ok {
				return v, nil
			}
			switch x.Name {
			case "tolower":
				return strings.ToLower(s), nil
			case "toupper":
				return strings.ToUpper(s), nil
			}
			return strings.TrimSpace(s), nil
		}
	}
	return nil, mq.unsupported(e)
}

// compare evaluates a comparison.
func (mq *mdQuery) compare(x *odata.Binary, obj map[string]any) (bool, *Error) {
	l, err := mq.value(x.Left, obj)
	if err != nil {
		return false, err
	}
	r, err := mq.value(x.Right, obj)
	if err != nil {
		return false, err
	}
	// Enum literals must be of the property's enum type and name a member.
	for _, side := range []struct {
		prop odata.Expr
		lit  any
	}{{x.Left, r}, {x.Right, l}} {
		en, ok := side.lit.(mdEnum)
		if !ok {
			continue
		}
		if p, ok := side.prop.(*odata.Prop); ok {
			if want, ok := mdEnumProps[p.Name()]; ok && want != en.typ {
				return false, badRequest("A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", want, en.typ, x.Op)
			}
		}
		members, known := mdEnumMembers[en.typ]
		if !known {
			return false, badRequest("The enum type '%s' is not known.", en.typ)
		}
		found := false
		for _, m := range members {
			if m == en.member {
				found = true
			}
		}
		if !found {
			return false, badRequest("The string '%s' is not a valid enumerated type constant of '%s'.", en.member, en.typ)
		}
	}
	if en, ok := l.(mdEnum); ok {
		l = en.member
	}
	if en, ok := r.(mdEnum); ok {
		r = en.member
	}
	eq := x.Op == odata.OpEq || x.Op == odata.OpNe
	if l == nil || r == nil {
		if !eq {
			return false, nil
		}
		return (l == r) == (x.Op == odata.OpEq), nil
	}
	cmp := 0
	switch lv := l.(type) {
	case bool:
		rv, ok := r.(bool)
		if !ok || !eq {
			return false, incompatibleMD(x)
		}
		if lv != rv {
			cmp = 1
		}
	case string:
		rv, ok := r.(string)
		if !ok {
			return false, incompatibleMD(x)
		}
		cmp = strings.Compare(strings.ToLower(lv), strings.ToLower(rv))
	default:
		lf, ok1 := number(l)
		rf, ok2 := number(r)
		if !ok1 || !ok2 {
			return false, incompatibleMD(x)
		}
		switch {
		case lf < rf:
			cmp = -1
		case lf > rf:
			cmp = 1
		}
	}
	switch x.Op {
	case odata.OpEq:
		return cmp == 0, nil
	case odata.OpNe:
		return cmp != 0, nil
	case odata.OpGt:
		return cmp > 0, nil
	case odata.OpGe:
		return cmp >= 0, nil
	case odata.OpLt:
		return cmp < 0, nil
	}
	return cmp <= 0, nil
}

func incompatibleMD(x *odata.Binary) *Error {
	return badRequest("A binary operator with incompatible types was detected in '%s'.", x.String())
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// entityDefinitions serves EntityDefinitions paths.
func (q *request) entityDefinitions(segs []odata.Segment) {
	mdTypes()
	first := &segs[0]
	if !first.Parens {
		switch {
		case len(segs) == 1 && q.r.Method == http.MethodGet:
			q.listEntities()
		case len(segs) == 1 && q.r.Method == http.MethodPost:
			q.createEntity()
		case len(segs) == 1:
			q.fail(methodNotAllowed(q.r.Method, "EntityDefinitions"))
		default:
			q.fail(segmentNotFound(segs[1].Text))
		}
		return
	}
	t, e := q.entityByKey(first)
	if e != nil {
		q.fail(e)
		return
	}
	if len(segs) == 1 {
		switch q.r.Method {
		case http.MethodGet:
			q.retrieveEntity(t)
		case http.MethodPut, http.MethodPatch, http.MethodDelete:
			q.fail(errorf(http.StatusMethodNotAllowed, codeNotSupported, "Table definitions cannot be updated or deleted in dvs2s."))
		default:
			q.fail(methodNotAllowed(q.r.Method, "an entity definition"))
		}
		return
	}
	nav := &segs[1]
	switch {
	case nav.Namespace != "":
		q.fail(segmentNotFound(nav.Text))
	case nav.Name == "Attributes":
		q.attributes(t, segs)
	case nav.Name == "ManyToOneRelationships" || nav.Name == "OneToManyRelationships" || nav.Name == "ManyToManyRelationships":
		if len(segs) > 3 || q.r.Method != http.MethodGet {
			if q.r.Method != http.MethodGet {
				q.fail(methodNotAllowed(q.r.Method, nav.Name))
			} else {
				q.fail(segmentNotFound(segs[3].Text))
			}
			return
		}
		q.relationships(q.entityRelationships(t, nav.Name), segs[1:], q.base+"$metadata#EntityDefinitions("+t.MetadataID+")/"+nav.Name)
	default:
		q.fail(segmentNotFound(nav.Text))
	}
}

// entityByKey resolves EntityDefinitions(<MetadataId>),
// EntityDefinitions(MetadataId=<id>) or EntityDefinitions(LogicalName='x').
func (q *request) entityByKey(seg *odata.Segment) (*schema.Table, *Error) {
	if len(seg.Args) != 1 {
		return nil, badRequest("Bad Request - Error in query syntax. Use EntityDefinitions(<MetadataId>) or EntityDefinitions(LogicalName='name').")
	}
	v, e := q.argValue(seg.Args[0])
	if e != nil {
		return nil, e
	}
	switch name := seg.Args[0].Name; {
	case (name == "" || name == "MetadataId") && v.Kind == odata.LitGUID:
		id := v.Value.(string)
		for _, t := range q.sch.Tables() {
			if strings.EqualFold(t.MetadataID, id) {
				return t, nil
			}
		}
		return nil, errorf(http.StatusNotFound, codeEntityNotFound, "Could not find an entity with MetadataId %s.", id)
	case name == "LogicalName" && v.Kind == odata.LitString:
		ln := v.Value.(string)
		if t := q.sch.Table(ln); t != nil {
			return t, nil
		}
		return nil, errorf(http.StatusNotFound, codeEntityNotFound, "The entity with a name = '%s' with namemapping = 'Logical' was not found in the MetadataCache.", ln)
	}
	return nil, badRequest("Bad Request - Error in query syntax. Use EntityDefinitions(<MetadataId>) or EntityDefinitions(LogicalName='name').")
}

// entityObject renders a table with the requested expansions.
func (q *request) entityObject(t *schema.Table, mq *mdQuery) (map[string]any, *Error) {
	out := mq.project(entityJSON(t))
	for _, x := range mq.expand {
		var items []map[string]any
		var typ mdType
		switch x.Property {
		case "Attributes":
			typ = attrBase
			for i, c := range t.Columns {
				items = append(items, attributeJSON(t, c, i+1))
			}
		default:
			typ = o2mType
			if x.Property == "ManyToManyRelationships" {
				typ = m2mType
			}
			items = q.entityRelationships(t, x.Property)
		}
		inner, e := newMDQuery(typ, x.Options, false)
		if e != nil {
			return nil, e
		}
		if len(inner.expand) > 0 {
			return nil, badRequest("Nested $expand is not supported in metadata queries.")
		}
		list := []any{}
		for _, it := range items {
			ok, e := inner.match(it)
			if e != nil {
				return nil, e
			}
			if ok {
				list = append(list, inner.project(it))
			}
		}
		out[x.Property] = list
	}
	return out, nil
}

// entityRelationships lists a table's relationships of one kind.
func (q *request) entityRelationships(t *schema.Table, kind string) []map[string]any {
	var out []map[string]any
	switch kind {
	case "ManyToManyRelationships":
		for _, m := range q.sch.ManyToManys() {
			if m.Entity1 == t.LogicalName || m.Entity2 == t.LogicalName {
				out = append(out, manyToManyJSON(m))
			}
		}
	default:
		for _, r := range q.sch.Relationships() {
			if (kind == "ManyToOneRelationships" && r.Referencing == t.LogicalName) ||
				(kind == "OneToManyRelationships" && r.Referenced == t.LogicalName) {
				out = append(out, oneToManyJSON(q.sch, r))
			}
		}
	}
	return out
}

// listEntities answers GET EntityDefinitions: every table, no paging.
func (q *request) listEntities() {
	mq, e := newMDQuery(entityType, q.opts, true)
	if e != nil {
		q.fail(e)
		return
	}
	values := []any{}
	for _, t := range q.sch.Tables() {
		ok, e := mq.match(entityJSON(t))
		if e != nil {
			q.fail(e)
			return
		}
		if !ok {
			continue
		}
		obj, e := q.entityObject(t, mq)
		if e != nil {
			q.fail(e)
			return
		}
		values = append(values, obj)
	}
	q.writeJSON(http.StatusOK, map[string]any{"@odata.context": q.base + "$metadata#EntityDefinitions" + mq.contextSuffix(), "value": values})
}

// retrieveEntity answers GET EntityDefinitions(key).
func (q *request) retrieveEntity(t *schema.Table) {
	if q.opts.Filter != nil {
		q.fail(badRequest("The query option $filter is not supported on a single entity definition."))
		return
	}
	mq, e := newMDQuery(entityType, q.opts, true)
	if e != nil {
		q.fail(e)
		return
	}
	obj, e := q.entityObject(t, mq)
	if e != nil {
		q.fail(e)
		return
	}
	obj["@odata.context"] = q.base + "$metadata#EntityDefinitions" + mq.contextSuffix() + "/$entity"
	q.writeJSON(http.StatusOK, obj)
}

// attributes serves EntityDefinitions(key)/Attributes paths: the
// collection, a type cast of it, one attribute (by MetadataId or
// LogicalName), a cast of it and its OptionSet.
func (q *request) attributes(t *schema.Table, segs []odata.Segment) {
	nav := &segs[1]
	rest := segs[2:]
	ctx := q.base + "$metadata#EntityDefinitions(" + t.MetadataID + ")/Attributes"
	if !nav.Parens {
		if len(rest) == 0 && q.r.Method == http.MethodPost {
			q.createAttribute(t, &segs[0])
			return
		}
		cast := attrBase
		if len(rest) > 0 {
			var e *Error
			if cast, e = attributeCast(&rest[0]); e != nil {
				q.fail(e)
				return
			}
			ctx += "/" + rest[0].QualifiedName()
			rest = rest[1:]
		}
		if len(rest) > 0 {
			q.fail(segmentNotFound(rest[0].Text))
			return
		}
		if q.r.Method != http.MethodGet {
			q.fail(methodNotAllowed(q.r.Method, "Attributes"))
			return
		}
		q.listAttributes(t, cast, ctx)
		return
	}
	c, e := q.attributeByKey(t, nav)
	if e != nil {
		q.fail(e)
		return
	}
	if q.r.Method != http.MethodGet {
		q.fail(errorf(http.StatusMethodNotAllowed, codeNotSupported, "Column definitions cannot be updated or deleted in dvs2s."))
		return
	}
	typ := attrBase
	if len(rest) > 0 && rest[0].Namespace != "" {
		if typ, e = attributeCast(&rest[0]); e != nil {
			q.fail(e)
			return
		}
		if typ.name != crmNS+"."+schema.MetadataTypeName(c.Type) && typ.name != attrBase.name {
			q.fail(errorf(http.StatusNotFound, codeSegmentNotFound, "The attribute '%s' is not of type '%s'.", c.LogicalName, typ.name))
			return
		}
		ctx += "/" + rest[0].QualifiedName()
		rest = rest[1:]
	}
	if len(rest) == 1 && (rest[0].Name == "OptionSet" || rest[0].Name == "GlobalOptionSet") && !rest[0].Parens && rest[0].Namespace == "" && typ.navs[rest[0].Name] {
		q.optionSet(t, c, rest[0].Name, ctx)
		return
	}
	if len(rest) > 0 {
		q.fail(segmentNotFound(rest[0].Text))
		return
	}
	if q.opts.Filter != nil {
		q.fail(badRequest("The query option $filter is not supported on a single attribute definition."))
		return
	}
	mq, e := newMDQuery(typ, q.opts, true)
	if e != nil {
		q.fail(e)
		return
	}
	obj := q.attributeObject(t, c, mq)
	obj["@odata.context"] = ctx + mq.contextSuffix() + "/$entity"
	q.writeJSON(http.StatusOK, obj)
}

// attributeCast resolves a type-cast segment on Attributes.
func attributeCast(seg *odata.Segment) (mdType, *Error) {
	if seg.Namespace != crmNS || seg.Parens {
		return mdType{}, segmentNotFound(seg.Text)
	}
	if seg.Name == "AttributeMetadata" {
		return attrBase, nil
	}
	t, ok := attrTypes[seg.Name]
	if !ok {
		return mdType{}, segmentNotFound(seg.Text)
	}
	return t, nil
}

// attributeByKey resolves Attributes(<MetadataId>) or
// Attributes(LogicalName='x').
func (q *request) attributeByKey(t *schema.Table, seg *odata.Segment) (*schema.Column, *Error) {
	if len(seg.Args) == 1 {
		v, e := q.argValue(seg.Args[0])
		if e != nil {
			return nil, e
		}
		switch name := seg.Args[0].Name; {
		case (name == "" || name == "MetadataId") && v.Kind == odata.LitGUID:
			for _, c := range t.Columns {
				if strings.EqualFold(c.MetadataID, v.Value.(string)) {
					return c, nil
				}
			}
			return nil, errorf(http.StatusNotFound, codeObjectDoesNotExist, "Could not find an attribute with MetadataId %s on the entity '%s'.", v.Value, t.LogicalName)
		case name == "LogicalName" && v.Kind == odata.LitString:
			if c := t.Column(v.Value.(string)); c != nil {
				return c, nil
			}
			return nil, errorf(http.StatusNotFound, codeObjectDoesNotExist, "Could not find an attribute with the name '%s' on the entity '%s'.", v.Value, t.LogicalName)
		}
	}
	return nil, badRequest("Bad Request - Error in query syntax. Use Attributes(<MetadataId>) or Attributes(LogicalName='name').")
}

// attributeObject renders a column with the requested expansions
// (OptionSet, GlobalOptionSet).
func (q *request) attributeObject(t *schema.Table, c *schema.Column, mq *mdQuery) map[string]any {
	out := mq.project(attributeJSON(t, c, columnNumber(t, c)))
	for _, x := range mq.expand {
		switch x.Property {
		case "OptionSet":
			out["OptionSet"] = optionSetJSON(t, c)
		case "GlobalOptionSet":
			out["GlobalOptionSet"] = nil // only local option sets exist
		}
	}
	return out
}

func columnNumber(t *schema.Table, c *schema.Column) int {
	for i, x := range t.Columns {
		if x == c {
			return i + 1
		}
	}
	return 0
}

// listAttributes answers GET .../Attributes[/cast].
func (q *request) listAttributes(t *schema.Table, typ mdType, ctx string) {
	mq, e := newMDQuery(typ, q.opts, true)
	if e != nil {
		q.fail(e)
		return
	}
	values := []any{}
	for _, c := range t.Columns {
		if typ.name != attrBase.name && typ.name != crmNS+"."+schema.MetadataTypeName(c.Type) {
			continue
		}
		ok, e := mq.match(attributeJSON(t, c, columnNumber(t, c)))
		if e != nil {
			q.fail(e)
			return
		}
		if ok {
			values = append(values, q.attributeObject(t, c, mq))
		}
	}
	q.writeJSON(http.StatusOK, map[string]any{"@odata.context": ctx + mq.contextSuffix(), "value": values})
}

// optionSet answers GET .../Attributes(key)/<cast>/OptionSet.
func (q *request) optionSet(t *schema.Table, c *schema.Column, nav, ctx string) {
	if nav == "GlobalOptionSet" {
		q.fail(errorf(http.StatusNotFound, codeObjectDoesNotExist, "The attribute '%s' has no global option set.", c.LogicalName))
		return
	}
	os := optionSetJSON(t, c)
	var sel []string
	for _, s := range q.opts.Select {
		if _, ok := os[s]; !ok && s != "*" {
			q.fail(errorf(http.StatusBadRequest, "0x0", "Could not find a property named '%s' on type '%s'.", s, strings.TrimPrefix(os["@odata.type"].(string), "#")))
			return
		}
		if s != "*" {
			sel = append(sel, s)
		}
	}
	out := os
	suffix := ""
	if len(sel) > 0 {
		out = map[string]any{"MetadataId": os["MetadataId"]}
		for _, s := range sel {
			out[s] = os[s]
		}
		suffix = "(" + strings.Join(sel, ",") + ")"
	}
	out["@odata.context"] = ctx + "(" + c.MetadataID + ")/OptionSet" + suffix + "/$entity"
	q.writeJSON(http.StatusOK, out)
}

// relationshipDefinitions serves RelationshipDefinitions paths.
func (q *request) relationshipDefinitions(segs []odata.Segment) {
	mdTypes()
	if q.r.Method == http.MethodPost && len(segs) == 1 && !segs[0].Parens {
		q.createRelationship()
		return
	}
	if q.r.Method != http.MethodGet {
		q.fail(methodNotAllowed(q.r.Method, "RelationshipDefinitions"))
		return
	}
	var all []map[string]any
	for _, r := range q.sch.Relationships() {
		all = append(all, oneToManyJSON(q.sch, r))
	}
	for _, m := range q.sch.ManyToManys() {
		all = append(all, manyToManyJSON(m))
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i]["SchemaName"].(string) < all[j]["SchemaName"].(string) })
	q.relationships(all, segs, q.base+"$metadata#RelationshipDefinitions")
}

// relationships answers a relationship collection path (segs[0] is the
// collection segment, possibly with a key; a type cast may follow).
func (q *request) relationships(all []map[string]any, segs []odata.Segment, ctx string) {
	typ := relType
	first := &segs[0]
	rest := segs[1:]
	if !first.Parens && len(rest) > 0 {
		switch rest[0].QualifiedName() {
		case o2mType.name:
			typ = o2mType
		case m2mType.name:
			typ = m2mType
		default:
			q.fail(segmentNotFound(rest[0].Text))
			return
		}
		ctx += "/" + rest[0].QualifiedName()
		rest = rest[1:]
	}
	if strings.HasSuffix(ctx, "ManyToOneRelationships") || strings.HasSuffix(ctx, "OneToManyRelationships") {
		typ = o2mType
	} else if strings.HasSuffix(ctx, "ManyToManyRelationships") {
		typ = m2mType
	}
	if len(rest) > 0 {
		q.fail(segmentNotFound(rest[0].Text))
		return
	}
	if first.Parens {
		r, e := q.relationshipByKey(all, first)
		if e != nil {
			q.fail(e)
			return
		}
		if q.opts.Filter != nil {
			q.fail(badRequest("The query option $filter is not supported on a single relationship definition."))
			return
		}
		if typ.name == relType.name {
			typ = o2mType
			if r["RelationshipType"] == "ManyToManyRelationship" {
				typ = m2mType
			}
		}
		mq, e := newMDQuery(typ, q.opts, true)
		if e != nil {
			q.fail(e)
			return
		}
		out := mq.project(r)
		out["@odata.context"] = ctx + mq.contextSuffix() + "/$entity"
		q.writeJSON(http.StatusOK, out)
		return
	}
	mq, e := newMDQuery(typ, q.opts, true)
	if e != nil {
		q.fail(e)
		return
	}
	values := []any{}
	for _, r := range all {
		if typ.name != relType.name && r["@odata.type"] != "#"+typ.name {
			continue
		}
		ok, e := mq.match(r)
		if e != nil {
			q.fail(e)
			return
		}
		if ok {
			values = append(values, mq.project(r))
		}
	}
	q.writeJSON(http.StatusOK, map[string]any{"@odata.context": ctx + mq.contextSuffix(), "value": values})
}

// relationshipByKey resolves (<MetadataId>) or (SchemaName='x').
func (q *request) relationshipByKey(all []map[string]any, seg *odata.Segment) (map[string]any, *Error) {
	if len(seg.Args) == 1 {
		v, e := q.argValue(seg.Args[0])
		if e != nil {
			return nil, e
		}
		name := seg.Args[0].Name
		if (name == "" || name == "MetadataId") && v.Kind == odata.LitGUID || name == "SchemaName" && v.Kind == odata.LitString {
			field := "MetadataId"
			if name == "SchemaName" {
				field = "SchemaName"
			}
			for _, r := range all {
				if s, _ := r[field].(string); strings.EqualFold(s, v.Value.(string)) {
					return r, nil
				}
			}
			return nil, errorf(http.StatusNotFound, codeObjectDoesNotExist, "Could not find a relationship with %s %s.", field, v.Value)
		}
	}
	return nil, badRequest("Bad Request - Error in query syntax. Use RelationshipDefinitions(<MetadataId>) or RelationshipDefinitions(SchemaName='name').")
}

// metadataBody reads a metadata POST body. Metadata changes are not
// transactional (they create SQL tables and swap the schema), so they are
// refused inside a $batch change set (outside one they work).
func (q *request) metadataBody() ([]byte, *Error) {
	if q.tx != nil {
		return nil, errorf(http.StatusBadRequest, codeNotSupported, "Table, column and relationship definitions cannot be created inside a $batch change set in dvs2s; send them outside change sets.")
	}
	b, err := io.ReadAll(q.r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if asMaxBytes(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, codeRequestTooLarge, "Request message length is too large.")
		}
		return nil, badRequest("The request body could not be read.")
	}
	return b, nil
}

// definitionError maps a refused definition to the Web API's error.
func (q *request) definitionError(err error) *Error {
	var de *schema.DefinitionError
	switch {
	case errors.As(err, &de) && de.Duplicate:
		return errorf(http.StatusBadRequest, codeDuplicate, "%s", de.Msg)
	case errors.As(err, &de):
		return badRequest("%s", de.Msg)
	case errors.Is(err, environment.ErrInvalid):
		return badRequest("%s", err.Error())
	}
	return q.internal(err)
}

// createEntity answers POST EntityDefinitions: 204 with OData-EntityId
// EntityDefinitions(<MetadataId>).
func (q *request) createEntity() {
	if e := q.requireMisc("prvCreateEntity"); e != nil {
		q.fail(e)
		return
	}
	body, e := q.metadataBody()
	if e != nil {
		q.fail(e)
		return
	}
	metadataWrites.Lock()
	defer metadataWrites.Unlock()
	t, rels, err := schema.ParseEntity(body, q.env.Schema())
	if err == nil {
		err = q.env.AddTable(q.ctx, t, rels)
	}
	if err != nil {
		q.fail(q.definitionError(err))
		return
	}
	q.s.log.Info("custom table created", "env", q.env.Name, "table", t.LogicalName, "set", t.EntitySetName)
	q.s.changed(q.env)
	q.noContent(q.base + "EntityDefinitions(" + t.MetadataID + ")")
}

// createAttribute answers POST EntityDefinitions(key)/Attributes: 204
// with OData-EntityId .../Attributes(<MetadataId>).
func (q *request) createAttribute(t *schema.Table, key *odata.Segment) {
	if e := q.requireMisc("prvCreateAttribute"); e != nil {
		q.fail(e)
		return
	}
	body, e := q.metadataBody()
	if e != nil {
		q.fail(e)
		return
	}
	metadataWrites.Lock()
	defer metadataWrites.Unlock()
	cur := q.env.Schema().Table(t.LogicalName)
	if cur == nil {
		q.fail(errorf(http.StatusNotFound, codeEntityNotFound, "The entity with a name = '%s' with namemapping = 'Logical' was not found in the MetadataCache.", t.LogicalName))
		return
	}
	c, err := schema.ParseAttribute(body, cur, q.env.Schema())
	if err == nil {
		err = q.env.AddColumn(q.ctx, cur.LogicalName, c, nil)
	}
	if err != nil {
		q.fail(q.definitionError(err))
		return
	}
	q.s.changed(q.env)
	q.noContent(q.base + key.String() + "/Attributes(" + c.MetadataID + ")")
}

// createRelationship answers POST RelationshipDefinitions (one-to-many,
// with its lookup column): 204 with OData-EntityId
// RelationshipDefinitions(<MetadataId>).
func (q *request) createRelationship() {
	if e := q.requireMisc("prvCreateRelationship"); e != nil {
		q.fail(e)
		return
	}
	body, e := q.metadataBody()
	if e != nil {
		q.fail(e)
		return
	}
	metadataWrites.Lock()
	defer metadataWrites.Unlock()
	c, r, err := schema.ParseOneToMany(body, q.env.Schema())
	if err == nil {
		err = q.env.AddColumn(q.ctx, r.Referencing, c, []*schema.Relationship{r})
	}
	if err != nil {
		q.fail(q.definitionError(err))
		return
	}
	q.s.changed(q.env)
	q.noContent(q.base + "RelationshipDefinitions(" + r.MetadataID + ")")
}

// noContent answers 204 with OData-EntityId.
func (q *request) noContent(entityID string) {
	q.w.Header().Set("OData-EntityId", entityID)
	q.w.WriteHeader(http.StatusNoContent)
}
