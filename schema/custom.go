package schema

// Custom tables, columns and lookups from the Web API's metadata JSON
// (POST EntityDefinitions, POST EntityDefinitions(...)/Attributes, POST
// RelationshipDefinitions; reference dataverse.md §4.16 and the
// "Create and update table/column definitions using the Web API" docs):
// the body is validated as Dataverse validates it and converted to a
// Table, Column or Relationship. Nothing here does I/O; the environment
// persists the result.
//
// Deliberate differences from Dataverse, each also noted where it applies:
//   - there are no solution publishers: any well-formed customization
//     prefix (2–8 letters or digits, starting with a letter, not mscrm) is
//     accepted, and columns need not share the table's prefix;
//   - the collection name (EntitySetName, LogicalCollectionName) follows
//     the common English plural rules (s/x/z/ch/sh → es, consonant+y →
//     ies, else s); Dataverse's pluraliser knows more irregular words;
//   - HasActivities and HasNotes are accepted but create no activity or
//     note relationships (there are no such tables), and Money columns get
//     no transaction currency, exchange rate or _base column;
//   - DateTime Format/DateTimeBehavior, String FormatName (other than the
//     primary name's) and Memo/Integer formats are accepted and not kept;
//   - lookups can be added to custom tables only, global option sets,
//     multi-select choices, images, files, customer and N:N relationships
//     are refused with a clear 400.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefinitionError is a refused metadata definition. Duplicate is set when
// the name is already taken.
type DefinitionError struct {
	Msg       string
	Duplicate bool
}

func (e *DefinitionError) Error() string { return e.Msg }

func refuse(format string, a ...any) *DefinitionError {
	return &DefinitionError{Msg: fmt.Sprintf(format, a...)}
}

// LocalizedLabel is one language's text of a Label.
type LocalizedLabel struct {
	Label        string `json:"Label"`
	LanguageCode int    `json:"LanguageCode"`
}

// Label is the metadata Label complex type as clients send it.
type Label struct {
	LocalizedLabels    []LocalizedLabel `json:"LocalizedLabels"`
	UserLocalizedLabel *LocalizedLabel  `json:"UserLocalizedLabel"`
}

// BaseLanguage is the language code of the labels dvs2s keeps (English).
const BaseLanguage = 1033

// Text returns the label's text: the base-language label, else the first
// localized label, else the user-localized one.
func (l *Label) Text() string {
	if l == nil {
		return ""
	}
	for _, ll := range l.LocalizedLabels {
		if ll.LanguageCode == BaseLanguage && strings.TrimSpace(ll.Label) != "" {
			return ll.Label
		}
	}
	for _, ll := range l.LocalizedLabels {
		if strings.TrimSpace(ll.Label) != "" {
			return ll.Label
		}
	}
	if l.UserLocalizedLabel != nil {
		return l.UserLocalizedLabel.Label
	}
	return ""
}

type valueProp struct {
	Value string `json:"Value"`
}

// EntityDefinition is the part of an EntityMetadata body dvs2s reads.
// Other properties (IsActivity flags, icons, managed properties...) are
// accepted and ignored, as Dataverse gives them defaults.
type EntityDefinition struct {
	ODataType             string            `json:"@odata.type"`
	MetadataID            string            `json:"MetadataId"`
	SchemaName            string            `json:"SchemaName"`
	LogicalName           string            `json:"LogicalName"`
	EntitySetName         string            `json:"EntitySetName"`
	DisplayName           *Label            `json:"DisplayName"`
	DisplayCollectionName *Label            `json:"DisplayCollectionName"`
	Description           *Label            `json:"Description"`
	OwnershipType         json.RawMessage   `json:"OwnershipType"`
	IsActivity            *bool             `json:"IsActivity"`
	HasActivities         *bool             `json:"HasActivities"`
	HasNotes              *bool             `json:"HasNotes"`
	PrimaryNameAttribute  string            `json:"PrimaryNameAttribute"`
	Attributes            []json.RawMessage `json:"Attributes"`
}

// AttributeDefinition is the part of an AttributeMetadata body dvs2s reads.
type AttributeDefinition struct {
	ODataType           string               `json:"@odata.type"`
	MetadataID          string               `json:"MetadataId"`
	SchemaName          string               `json:"SchemaName"`
	LogicalName         string               `json:"LogicalName"`
	AttributeType       string               `json:"AttributeType"`
	AttributeTypeName   *valueProp           `json:"AttributeTypeName"`
	DisplayName         *Label               `json:"DisplayName"`
	Description         *Label               `json:"Description"`
	RequiredLevel       *valueProp           `json:"RequiredLevel"`
	IsPrimaryName       *bool                `json:"IsPrimaryName"`
	MaxLength           *int                 `json:"MaxLength"`
	MinValue            *float64             `json:"MinValue"`
	MaxValue            *float64             `json:"MaxValue"`
	Precision           *int                 `json:"Precision"`
	FormatName          *valueProp           `json:"FormatName"`
	OptionSet           *OptionSetDefinition `json:"OptionSet"`
	GlobalOptionSet     json.RawMessage      `json:"GlobalOptionSet"`
	GlobalOptionSetBind string               `json:"GlobalOptionSet@odata.bind"`
	Targets             []string             `json:"Targets"`
}

// OptionSetDefinition is the OptionSet of a choice or yes/no column.
type OptionSetDefinition struct {
	IsGlobal    *bool              `json:"IsGlobal"`
	Options     []OptionDefinition `json:"Options"`
	TrueOption  *OptionDefinition  `json:"TrueOption"`
	FalseOption *OptionDefinition  `json:"FalseOption"`
}

// OptionDefinition is one option.
type OptionDefinition struct {
	Value *int   `json:"Value"`
	Label *Label `json:"Label"`
}

// RelationshipDefinition is the part of a OneToManyRelationshipMetadata
// body (POST RelationshipDefinitions) dvs2s reads.
type RelationshipDefinition struct {
	ODataType                               string          `json:"@odata.type"`
	MetadataID                              string          `json:"MetadataId"`
	SchemaName                              string          `json:"SchemaName"`
	ReferencedEntity                        string          `json:"ReferencedEntity"`
	ReferencedAttribute                     string          `json:"ReferencedAttribute"`
	ReferencingEntity                       string          `json:"ReferencingEntity"`
	ReferencedEntityNavigationPropertyName  string          `json:"ReferencedEntityNavigationPropertyName"`
	ReferencingEntityNavigationPropertyName string          `json:"ReferencingEntityNavigationPropertyName"`
	Lookup                                  json.RawMessage `json:"Lookup"`
}

const crmNS = "Microsoft.Dynamics.CRM."

// typeFromODataType maps an attribute's @odata.type to its column type.
var typeFromODataType = map[string]Type{
	"StringAttributeMetadata": String, "MemoAttributeMetadata": Memo, "IntegerAttributeMetadata": Integer,
	"BigIntAttributeMetadata": BigInt, "DecimalAttributeMetadata": Decimal, "DoubleAttributeMetadata": Double,
	"MoneyAttributeMetadata": Money, "BooleanAttributeMetadata": Boolean, "DateTimeAttributeMetadata": DateTime,
	"PicklistAttributeMetadata": Choice, "UniqueIdentifierAttributeMetadata": UniqueIdentifier,
	"LookupAttributeMetadata": Lookup,
}

// MetadataTypeName is the AttributeMetadata derived type of a column type,
// e.g. "StringAttributeMetadata".
func MetadataTypeName(t Type) string {
	switch t {
	case Owner, Customer:
		return "LookupAttributeMetadata"
	case State:
		return "StateAttributeMetadata"
	case Status:
		return "StatusAttributeMetadata"
	}
	for n, tt := range typeFromODataType {
		if tt == t {
			return n
		}
	}
	return "AttributeMetadata"
}

// Limits of custom columns (Dataverse's).
const (
	maxNameLength    = 50
	maxStringLength  = 4000
	maxMemoLength    = 1048576
	maxDecimalValue  = 100000000000
	maxMoneyValue    = 922337203685477
	firstCustomOTC   = 10000
	firstOptionValue = 100000000 // default publisher's option value prefix (10000) × 10000
)

var (
	schemaNameRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]{1,7})_[A-Za-z0-9_]+$`)
	navNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// checkSchemaName checks a custom component's schema name: a customization
// prefix, "_", then letters, digits or underscores.
func checkSchemaName(what, name string) *DefinitionError {
	if name == "" {
		return refuse("The SchemaName of the %s is required.", what)
	}
	if !utf8.ValidString(name) || len(name) > maxNameLength {
		return refuse("The SchemaName '%s' of the %s is too long: at most %d characters.", clip(name), what, maxNameLength)
	}
	m := schemaNameRE.FindStringSubmatch(name)
	if m == nil {
		return refuse("The SchemaName '%s' of the %s is not valid. It must start with a customization prefix (2 to 8 letters or digits, starting with a letter) and an underscore, followed by letters, digits or underscores, e.g. new_%s.", clip(name), what, "Name")
	}
	switch p := strings.ToLower(m[1]); {
	case p == "mscrm", p == "sqlite":
		return refuse("The customization prefix '%s' of the SchemaName '%s' is reserved.", m[1], name)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// Plural returns the collection name of a logical name as dvs2s derives
// it: common English rules (Dataverse knows more irregular plurals).
func Plural(name string) string {
	l := strings.ToLower(name)
	switch {
	case strings.HasSuffix(l, "s"), strings.HasSuffix(l, "x"), strings.HasSuffix(l, "z"),
		strings.HasSuffix(l, "ch"), strings.HasSuffix(l, "sh"):
		return name + "es"
	case len(l) >= 2 && l[len(l)-1] == 'y' && !strings.ContainsRune("aeiou", rune(l[len(l)-2])):
		return name[:len(name)-1] + "ies"
	}
	return name + "s"
}

// decodeStrict decodes a JSON object, refusing a body that is not one
// object and a known property of the wrong type.
func decodeStrict(what string, body []byte, v any) *DefinitionError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if asType(err, &te) && te.Field != "" {
			return refuse("Invalid %s: the property '%s' has the wrong type (%s expected).", what, te.Field, te.Type.String())
		}
		return refuse("Invalid %s: %v", what, err)
	}
	if dec.More() {
		return refuse("Invalid %s: more than one JSON value.", what)
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return refuse("Invalid %s: a JSON object is expected.", what)
	}
	return nil
}

func asType(err error, target **json.UnmarshalTypeError) bool {
	te, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = te
	}
	return ok
}

// checkODataType checks an @odata.type names the expected type (it may be
// absent).
func checkODataType(got, want string) *DefinitionError {
	if got == "" {
		return nil
	}
	n := strings.TrimPrefix(strings.TrimPrefix(got, "#"), crmNS)
	if n != want {
		return refuse("The @odata.type '%s' is not valid here; %s%s is expected.", clip(got), crmNS, want)
	}
	return nil
}

// checkMetadataID validates an optional client-supplied MetadataId.
func checkMetadataID(id string) (string, *DefinitionError) {
	if id == "" {
		return "", nil
	}
	if !isGUID(id) {
		return "", refuse("The MetadataId '%s' is not a valid GUID.", clip(id))
	}
	return strings.ToLower(id), nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// requiredLabel returns a label's text, refusing an absent or empty one.
func requiredLabel(what string, l *Label) (string, *DefinitionError) {
	s := strings.TrimSpace(l.Text())
	if s == "" {
		return "", refuse("The %s is required: give a Label with LocalizedLabels [{\"Label\": \"…\", \"LanguageCode\": %d}].", what, BaseLanguage)
	}
	if utf8.RuneCountInString(s) > 100 {
		return "", refuse("The %s is too long: at most 100 characters.", what)
	}
	return s, nil
}

// ParseOwnership parses an OwnershipTypes value: a member name or its
// number.
func ParseOwnership(raw json.RawMessage) (Ownership, *DefinitionError) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return UserOwned, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, refuse("The OwnershipType must be an OwnershipTypes member name such as \"UserOwned\".")
		}
		s = strconv.Itoa(n)
	}
	switch s {
	case "UserOwned", "1":
		return UserOwned, nil
	case "OrganizationOwned", "8":
		return OrganizationOwned, nil
	case "None", "0", "TeamOwned", "2", "BusinessOwned", "4", "BusinessParented", "16", "Filtered", "32":
		return 0, refuse("The OwnershipType '%s' is not supported for custom tables; use UserOwned or OrganizationOwned.", s)
	}
	return 0, refuse("The OwnershipType '%s' is not an OwnershipTypes member.", clip(s))
}

// ParseEntity validates a POST EntityDefinitions body against the schema
// s and converts it: the new table (with its primary id, primary name,
// standard columns and the given columns) and its standard relationships.
func ParseEntity(body []byte, s *Schema) (*Table, []*Relationship, error) {
	var d EntityDefinition
	if e := decodeStrict("table definition", body, &d); e != nil {
		return nil, nil, e
	}
	if e := checkODataType(d.ODataType, "EntityMetadata"); e != nil {
		return nil, nil, e
	}
	if e := checkSchemaName("table", d.SchemaName); e != nil {
		return nil, nil, e
	}
	logical := strings.ToLower(d.SchemaName)
	if d.LogicalName != "" && d.LogicalName != logical {
		return nil, nil, refuse("The LogicalName '%s' must be the SchemaName in lower case ('%s').", clip(d.LogicalName), logical)
	}
	if s.Table(logical) != nil {
		return nil, nil, &DefinitionError{Msg: fmt.Sprintf("A table with the name '%s' already exists. Specify a unique SchemaName.", logical), Duplicate: true}
	}
	id, e := checkMetadataID(d.MetadataID)
	if e != nil {
		return nil, nil, e
	}
	if id != "" && s.hasMetadataID(id) {
		return nil, nil, &DefinitionError{Msg: fmt.Sprintf("The MetadataId %s is already used.", id), Duplicate: true}
	}
	set := Plural(logical)
	if d.EntitySetName != "" {
		if !navNameRE.MatchString(d.EntitySetName) || len(d.EntitySetName) > maxNameLength+5 {
			return nil, nil, refuse("The EntitySetName '%s' is not valid: use letters, digits and underscores.", clip(d.EntitySetName))
		}
		set = d.EntitySetName
	}
	if s.BySet(set) != nil {
		return nil, nil, &DefinitionError{Msg: fmt.Sprintf("The entity set name '%s' is already used by another table.", set), Duplicate: true}
	}
	display, e := requiredLabel("DisplayName of the table", d.DisplayName)
	if e != nil {
		return nil, nil, e
	}
	plural, e := requiredLabel("DisplayCollectionName of the table", d.DisplayCollectionName)
	if e != nil {
		return nil, nil, e
	}
	own, e := ParseOwnership(d.OwnershipType)
	if e != nil {
		return nil, nil, e
	}
	if d.IsActivity != nil && *d.IsActivity {
		return nil, nil, refuse("Activity tables (IsActivity true) are not supported.")
	}
	if len(d.Attributes) == 0 {
		return nil, nil, refuse("The table definition must include its primary name column: an Attributes entry of type %sStringAttributeMetadata with IsPrimaryName true.", crmNS)
	}
	if len(d.Attributes) > 1000 {
		return nil, nil, refuse("Too many attributes in one table definition (at most 1000).")
	}
	var cols []*Column
	var primary *Column
	seen := map[string]bool{logical + "id": true}
	for _, c := range StandardColumns(own) {
		seen[c.LogicalName] = true
	}
	for i, raw := range d.Attributes {
		ad, c, e := parseAttribute(raw, logical)
		if e != nil {
			return nil, nil, refuse("Attributes[%d]: %s", i, e.Msg)
		}
		if seen[c.LogicalName] {
			return nil, nil, &DefinitionError{Msg: fmt.Sprintf("Attributes[%d]: the table already has a column named '%s'.", i, c.LogicalName), Duplicate: true}
		}
		seen[c.LogicalName] = true
		if ad.IsPrimaryName != nil && *ad.IsPrimaryName {
			if primary != nil {
				return nil, nil, refuse("Only one attribute can have IsPrimaryName true.")
			}
			if c.Type != String {
				return nil, nil, refuse("The primary name attribute must be a %sStringAttributeMetadata.", crmNS)
			}
			if ad.FormatName != nil && ad.FormatName.Value != "" && ad.FormatName.Value != "Text" {
				return nil, nil, refuse("The primary name attribute must use the Text format.")
			}
			primary = c
		}
		cols = append(cols, c)
	}
	if primary == nil {
		return nil, nil, refuse("The table definition must include its primary name column: an Attributes entry of type %sStringAttributeMetadata with IsPrimaryName true.", crmNS)
	}
	if d.PrimaryNameAttribute != "" && d.PrimaryNameAttribute != primary.LogicalName {
		return nil, nil, refuse("The PrimaryNameAttribute '%s' does not name the attribute with IsPrimaryName true ('%s').", clip(d.PrimaryNameAttribute), primary.LogicalName)
	}
	level := primary.Required
	t := NewTable(logical, set, display, plural, s.nextObjectTypeCode(), own, primary.LogicalName, cols...)
	primary.Required = level // NewTable raises it; Dataverse keeps what was asked
	t.SchemaName = d.SchemaName
	t.Custom = true
	t.Description = d.Description.Text()
	if id != "" {
		t.MetadataID = id
	}
	idCol := t.Column(t.PrimaryID)
	idCol.SchemaName = d.SchemaName + "Id"
	idCol.Custom = true
	for _, c := range t.Columns {
		if c.Custom && c.MetadataID == "" {
			c.MetadataID = metadataID("column", logical, c.LogicalName)
		}
	}
	if dup := duplicateMetadataIDs(t, s); dup != "" {
		return nil, nil, &DefinitionError{Msg: fmt.Sprintf("The MetadataId %s is already used.", dup), Duplicate: true}
	}
	return t, AuditRelationships(t), nil
}

// duplicateMetadataIDs returns a MetadataId of t that is used twice or is
// already used in s.
func duplicateMetadataIDs(t *Table, s *Schema) string {
	seen := map[string]bool{t.MetadataID: true}
	for _, c := range t.Columns {
		if seen[c.MetadataID] || (c.Custom && s.hasMetadataID(c.MetadataID)) {
			return c.MetadataID
		}
		seen[c.MetadataID] = true
	}
	return ""
}

// ParseAttribute validates a POST EntityDefinitions(...)/Attributes body
// for the custom table t and converts it to a column.
func ParseAttribute(body []byte, t *Table, s *Schema) (*Column, error) {
	if !t.Custom {
		return nil, refuse("Columns can only be added to custom tables in dvs2s; '%s' is a system table.", t.LogicalName)
	}
	ad, c, e := parseAttribute(body, t.LogicalName)
	if e != nil {
		return nil, e
	}
	if ad.IsPrimaryName != nil && *ad.IsPrimaryName {
		return nil, refuse("The table '%s' already has a primary name attribute.", t.LogicalName)
	}
	if t.Column(c.LogicalName) != nil {
		return nil, &DefinitionError{Msg: fmt.Sprintf("The table '%s' already has a column named '%s'.", t.LogicalName, c.LogicalName), Duplicate: true}
	}
	if s.hasMetadataID(c.MetadataID) {
		return nil, &DefinitionError{Msg: fmt.Sprintf("The MetadataId %s is already used.", c.MetadataID), Duplicate: true}
	}
	if n := s.Nav(t, c.LogicalName); n != nil {
		return nil, &DefinitionError{Msg: fmt.Sprintf("The name '%s' is already used by a navigation property of '%s'.", c.LogicalName, t.LogicalName), Duplicate: true}
	}
	return c, nil
}

// parseAttribute converts one attribute definition (of the table with the
// logical name table) to a column.
func parseAttribute(raw []byte, table string) (*AttributeDefinition, *Column, *DefinitionError) {
	var ad AttributeDefinition
	if e := decodeStrict("attribute definition", raw, &ad); e != nil {
		return nil, nil, e
	}
	typ, e := attributeType(&ad)
	if e != nil {
		return nil, nil, e
	}
	if typ == Lookup {
		return nil, nil, refuse("Lookup columns are created with POST RelationshipDefinitions (a %sOneToManyRelationshipMetadata with its Lookup).", crmNS)
	}
	c, e := attributeColumn(&ad, typ, table)
	if e != nil {
		return nil, nil, e
	}
	return &ad, c, nil
}

// attributeType determines the column type from @odata.type and
// AttributeType, which must agree when both are given.
func attributeType(ad *AttributeDefinition) (Type, *DefinitionError) {
	var fromODT Type
	if ad.ODataType != "" {
		n := strings.TrimPrefix(strings.TrimPrefix(ad.ODataType, "#"), crmNS)
		t, ok := typeFromODataType[n]
		if !ok {
			return 0, refuse("The attribute type '%s' is not supported; supported are %s.", clip(ad.ODataType), supportedAttributeTypes())
		}
		fromODT = t
	}
	var fromCode Type
	if ad.AttributeType != "" {
		t, ok := ParseType(ad.AttributeType)
		if !ok || t == Owner || t == Customer || t == State || t == Status {
			return 0, refuse("The AttributeType '%s' is not supported for custom columns.", clip(ad.AttributeType))
		}
		fromCode = t
	}
	switch {
	case fromODT == 0 && fromCode == 0:
		return 0, refuse("The attribute needs an @odata.type such as %sStringAttributeMetadata.", crmNS)
	case fromODT != 0 && fromCode != 0 && fromODT != fromCode:
		return 0, refuse("The AttributeType '%s' does not match the @odata.type '%s'.", ad.AttributeType, clip(ad.ODataType))
	case fromODT != 0:
		return fromODT, nil
	}
	return fromCode, nil
}

func supportedAttributeTypes() string {
	return "String, Memo, Integer, BigInt, Decimal, Double, Money, Boolean, DateTime, Picklist and UniqueIdentifier (Lookup through RelationshipDefinitions)"
}

// attributeColumn builds the column of a custom attribute definition.
func attributeColumn(ad *AttributeDefinition, typ Type, table string) (*Column, *DefinitionError) {
	if e := checkSchemaName("attribute", ad.SchemaName); e != nil {
		return nil, e
	}
	logical := strings.ToLower(ad.SchemaName)
	if ad.LogicalName != "" && ad.LogicalName != logical {
		return nil, refuse("The LogicalName '%s' must be the SchemaName in lower case ('%s').", clip(ad.LogicalName), logical)
	}
	display, e := requiredLabel("DisplayName of the attribute "+logical, ad.DisplayName)
	if e != nil {
		return nil, e
	}
	id, e := checkMetadataID(ad.MetadataID)
	if e != nil {
		return nil, e
	}
	if id == "" {
		id = metadataID("column", table, logical)
	}
	c := col(logical, typ, display)
	c.SchemaName, c.Custom, c.MetadataID = ad.SchemaName, true, id
	if ad.RequiredLevel != nil {
		switch ad.RequiredLevel.Value {
		case "", "None":
		case "Recommended":
			c.Required = Recommended
		case "ApplicationRequired":
			c.Required = ApplicationRequired
		case "SystemRequired":
			return nil, refuse("The RequiredLevel SystemRequired is reserved for system columns.")
		default:
			return nil, refuse("The RequiredLevel '%s' is not an AttributeRequiredLevel member (None, Recommended, ApplicationRequired).", clip(ad.RequiredLevel.Value))
		}
	}
	if ad.MaxLength != nil && typ != String && typ != Memo {
		return nil, refuse("MaxLength applies to String and Memo attributes only.")
	}
	if ad.Precision != nil && typ != Decimal && typ != Double && typ != Money {
		return nil, refuse("Precision applies to Decimal, Double and Money attributes only.")
	}
	if (ad.MinValue != nil || ad.MaxValue != nil) && !(typ == Integer || typ == Decimal || typ == Double || typ == Money) {
		if typ != BigInt || (ad.MinValue != nil && *ad.MinValue != c.MinValue) || (ad.MaxValue != nil && *ad.MaxValue != c.MaxValue) {
			return nil, refuse("MinValue and MaxValue apply to Integer, Decimal, Double and Money attributes only.")
		}
	}
	if ad.OptionSet != nil && typ != Choice && typ != Boolean {
		return nil, refuse("OptionSet applies to Picklist and Boolean attributes only.")
	}
	switch typ {
	case String:
		if e := lengthIn(c, ad.MaxLength, maxStringLength); e != nil {
			return nil, e
		}
	case Memo:
		if e := lengthIn(c, ad.MaxLength, maxMemoLength); e != nil {
			return nil, e
		}
	case Integer:
		if e := rangeIn(c, ad, -2147483648, 2147483647, true); e != nil {
			return nil, e
		}
	case Decimal:
		c.Precision = 2
		if e := precisionIn(c, ad.Precision, 10); e != nil {
			return nil, e
		}
		if e := rangeIn(c, ad, -maxDecimalValue, maxDecimalValue, false); e != nil {
			return nil, e
		}
	case Double:
		c.Precision = 2
		if e := precisionIn(c, ad.Precision, 5); e != nil {
			return nil, e
		}
		if e := rangeIn(c, ad, -maxDecimalValue, maxDecimalValue, false); e != nil {
			return nil, e
		}
	case Money:
		c.Precision = 2
		if e := precisionIn(c, ad.Precision, 4); e != nil {
			return nil, e
		}
		if e := rangeIn(c, ad, -maxMoneyValue, maxMoneyValue, false); e != nil {
			return nil, e
		}
	case Boolean:
		c.Options = []Option{{Value: 0, Label: "No"}, {Value: 1, Label: "Yes"}}
		if os := ad.OptionSet; os != nil {
			if len(os.Options) > 0 {
				return nil, refuse("A Boolean attribute's OptionSet has a TrueOption and a FalseOption, not Options.")
			}
			for _, o := range []struct {
				opt  *OptionDefinition
				i, v int
			}{{os.FalseOption, 0, 0}, {os.TrueOption, 1, 1}} {
				if o.opt == nil {
					continue
				}
				if o.opt.Value != nil && *o.opt.Value != o.v {
					return nil, refuse("The Value of a Boolean attribute's %s must be %d.", map[int]string{0: "FalseOption", 1: "TrueOption"}[o.v], o.v)
				}
				if l := strings.TrimSpace(o.opt.Label.Text()); l != "" {
					c.Options[o.i].Label = l
				}
			}
		}
	case Choice:
		opts, e := choiceOptions(ad)
		if e != nil {
			return nil, e
		}
		c.Options = opts
	}
	return c, nil
}

func lengthIn(c *Column, n *int, max int) *DefinitionError {
	if n == nil {
		return nil
	}
	if *n < 1 || *n > max {
		return refuse("The MaxLength of a %s attribute must be between 1 and %d.", c.Type, max)
	}
	c.MaxLength = *n
	return nil
}

func precisionIn(c *Column, p *int, max int) *DefinitionError {
	if p == nil {
		return nil
	}
	if *p < 0 || *p > max {
		return refuse("The Precision of a %s attribute must be between 0 and %d.", c.Type, max)
	}
	c.Precision = *p
	return nil
}

func rangeIn(c *Column, ad *AttributeDefinition, lo, hi float64, integral bool) *DefinitionError {
	c.MinValue, c.MaxValue = lo, hi
	for _, v := range []*float64{ad.MinValue, ad.MaxValue} {
		if v == nil {
			continue
		}
		if math.IsNaN(*v) || *v < lo || *v > hi || (integral && *v != math.Trunc(*v)) {
			return refuse("MinValue and MaxValue of a %s attribute must be %sbetween %s and %s.", c.Type,
				map[bool]string{true: "whole numbers ", false: ""}[integral],
				strconv.FormatFloat(lo, 'f', -1, 64), strconv.FormatFloat(hi, 'f', -1, 64))
		}
	}
	if ad.MinValue != nil {
		c.MinValue = *ad.MinValue
	}
	if ad.MaxValue != nil {
		c.MaxValue = *ad.MaxValue
	}
	if c.MinValue > c.MaxValue {
		return refuse("The MinValue of a %s attribute cannot exceed its MaxValue.", c.Type)
	}
	return nil
}

// choiceOptions converts a local option set; options without a Value get
// the next free value from 100000000 (the default publisher's prefix).
func choiceOptions(ad *AttributeDefinition) ([]Option, *DefinitionError) {
	if ad.GlobalOptionSetBind != "" || (len(ad.GlobalOptionSet) > 0 && string(bytes.TrimSpace(ad.GlobalOptionSet)) != "null") {
		return nil, refuse("Global option sets are not supported; define the options in the attribute's OptionSet.")
	}
	os := ad.OptionSet
	if os == nil {
		return nil, refuse("A Picklist attribute needs an OptionSet with Options.")
	}
	if os.IsGlobal != nil && *os.IsGlobal {
		return nil, refuse("Global option sets are not supported; set IsGlobal false.")
	}
	if len(os.Options) > 1000 {
		return nil, refuse("Too many options (at most 1000).")
	}
	used := map[int]bool{}
	for _, o := range os.Options {
		if o.Value == nil {
			continue
		}
		if *o.Value < 0 || used[*o.Value] {
			return nil, refuse("The option value %d is negative or used twice.", *o.Value)
		}
		used[*o.Value] = true
	}
	next := firstOptionValue
	var out []Option
	for i, o := range os.Options {
		label := strings.TrimSpace(o.Label.Text())
		if label == "" {
			return nil, refuse("Option %d has no Label.", i)
		}
		v := 0
		if o.Value != nil {
			v = *o.Value
		} else {
			for used[next] {
				next++
			}
			v = next
			used[v] = true
		}
		out = append(out, Option{Value: v, Label: label})
	}
	return out, nil
}

// ParseOneToMany validates a POST RelationshipDefinitions body for a
// one-to-many relationship and converts it: the lookup column to add to
// the referencing (custom) table, and the relationship.
func ParseOneToMany(body []byte, s *Schema) (*Column, *Relationship, error) {
	var d RelationshipDefinition
	if e := decodeStrict("relationship definition", body, &d); e != nil {
		return nil, nil, e
	}
	switch n := strings.TrimPrefix(strings.TrimPrefix(d.ODataType, "#"), crmNS); n {
	case "OneToManyRelationshipMetadata":
	case "ManyToManyRelationshipMetadata":
		return nil, nil, refuse("Many-to-many relationships cannot be created in dvs2s yet.")
	default:
		return nil, nil, refuse("The @odata.type of a relationship must be %sOneToManyRelationshipMetadata.", crmNS)
	}
	if e := checkSchemaName("relationship", d.SchemaName); e != nil {
		return nil, nil, e
	}
	if s.relationshipNamed(d.SchemaName) {
		return nil, nil, &DefinitionError{Msg: fmt.Sprintf("A relationship named '%s' already exists.", d.SchemaName), Duplicate: true}
	}
	from, to := s.Table(d.ReferencingEntity), s.Table(d.ReferencedEntity)
	if to == nil {
		return nil, nil, refuse("The ReferencedEntity '%s' is not a table.", clip(d.ReferencedEntity))
	}
	if from == nil {
		return nil, nil, refuse("The ReferencingEntity '%s' is not a table.", clip(d.ReferencingEntity))
	}
	if !from.Custom {
		return nil, nil, refuse("Lookups can only be added to custom tables in dvs2s; '%s' is a system table.", from.LogicalName)
	}
	if d.ReferencedAttribute != "" && d.ReferencedAttribute != to.PrimaryID {
		return nil, nil, refuse("The ReferencedAttribute must be the primary id of '%s' ('%s').", to.LogicalName, to.PrimaryID)
	}
	if len(d.Lookup) == 0 || string(bytes.TrimSpace(d.Lookup)) == "null" {
		return nil, nil, refuse("The relationship needs its Lookup: a %sLookupAttributeMetadata.", crmNS)
	}
	var ad AttributeDefinition
	if e := decodeStrict("lookup definition", d.Lookup, &ad); e != nil {
		return nil, nil, e
	}
	if ad.ODataType == "" && ad.AttributeType == "" {
		ad.AttributeType = "Lookup"
	}
	typ, e := attributeType(&ad)
	if e != nil {
		return nil, nil, e
	}
	if typ != Lookup {
		return nil, nil, refuse("The Lookup of a relationship must be a %sLookupAttributeMetadata.", crmNS)
	}
	c, e := attributeColumn(&ad, Lookup, from.LogicalName)
	if e != nil {
		return nil, nil, e
	}
	c.Targets = []string{to.LogicalName}
	if from.Column(c.LogicalName) != nil {
		return nil, nil, &DefinitionError{Msg: fmt.Sprintf("The table '%s' already has a column named '%s'.", from.LogicalName, c.LogicalName), Duplicate: true}
	}
	if s.hasMetadataID(c.MetadataID) {
		return nil, nil, &DefinitionError{Msg: fmt.Sprintf("The MetadataId %s is already used.", c.MetadataID), Duplicate: true}
	}
	id, e := checkMetadataID(d.MetadataID)
	if e != nil {
		return nil, nil, e
	}
	if id == "" {
		id = metadataID("relationship", d.SchemaName)
	}
	if s.hasMetadataID(id) || id == c.MetadataID {
		return nil, nil, &DefinitionError{Msg: fmt.Sprintf("The MetadataId %s is already used.", id), Duplicate: true}
	}
	r := &Relationship{SchemaName: d.SchemaName, Referenced: to.LogicalName, Referencing: from.LogicalName,
		ReferencingAttribute: c.LogicalName, ReferencingNav: c.LogicalName, ReferencedNav: d.SchemaName, MetadataID: id}
	if n := d.ReferencingEntityNavigationPropertyName; n != "" {
		r.ReferencingNav = n
	}
	if n := d.ReferencedEntityNavigationPropertyName; n != "" {
		r.ReferencedNav = n
	}
	for _, nav := range []struct{ name, table string }{{r.ReferencingNav, from.LogicalName}, {r.ReferencedNav, to.LogicalName}} {
		if !navNameRE.MatchString(nav.name) || len(nav.name) > 100 {
			return nil, nil, refuse("The navigation property name '%s' is not valid: use letters, digits and underscores.", clip(nav.name))
		}
		t := s.Table(nav.table)
		if s.Nav(t, nav.name) != nil || (t.Column(nav.name) != nil && !t.Column(nav.name).Type.IsLookup()) {
			return nil, nil, &DefinitionError{Msg: fmt.Sprintf("The name '%s' is already used by a property of '%s'.", nav.name, nav.table), Duplicate: true}
		}
	}
	if r.ReferencingNav == r.ReferencedNav && from == to {
		return nil, nil, refuse("A self-referencing relationship needs two different navigation property names.")
	}
	return c, r, nil
}

func (s *Schema) relationshipNamed(name string) bool {
	for n := range s.relByName {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	for n := range s.m2mByName {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// hasMetadataID reports whether a table, column or relationship of s has
// the MetadataId.
func (s *Schema) hasMetadataID(id string) bool {
	for _, t := range s.tables {
		if t.MetadataID == id {
			return true
		}
		for _, c := range t.Columns {
			if c.MetadataID == id {
				return true
			}
		}
	}
	for _, r := range s.rels {
		if r.MetadataID == id {
			return true
		}
	}
	for _, m := range s.m2m {
		if m.MetadataID == id {
			return true
		}
	}
	return false
}

// nextObjectTypeCode is the next free custom object type code (10000 up).
func (s *Schema) nextObjectTypeCode() int {
	next := firstCustomOTC
	for _, t := range s.tables {
		if t.ObjectTypeCode >= next {
			next = t.ObjectTypeCode + 1
		}
	}
	return next
}

// WithColumn returns a copy of t with the column c added (the receiver is
// left unchanged: schemas in use are never modified).
func (t *Table) WithColumn(c *Column) *Table {
	nt := *t
	nt.Columns = append(append([]*Column{}, t.Columns...), c)
	nt.Keys = append([]Key{}, t.Keys...)
	nt.index()
	return &nt
}

// Replace returns a new schema in which the table with t's logical name is
// t, with extra relationships added.
func (s *Schema) Replace(t *Table, rels []*Relationship) (*Schema, error) {
	if s.tables[t.LogicalName] == nil {
		return nil, fmt.Errorf("schema: no table %s to replace", t.LogicalName)
	}
	tables := s.Tables()
	for i, old := range tables {
		if old.LogicalName == t.LogicalName {
			tables[i] = t
		}
	}
	r := append(append([]*Relationship{}, s.rels...), rels...)
	return New(tables, r, append([]*ManyToMany{}, s.m2m...))
}
