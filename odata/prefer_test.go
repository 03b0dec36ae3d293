package odata

import (
	"reflect"
	"testing"
)

func TestParsePrefer(t *testing.T) {
	tests := []struct {
		in   []string
		want Prefer
	}{
		{nil, Prefer{}},
		{[]string{""}, Prefer{}},
		{[]string{"return=representation"}, Prefer{ReturnRepresentation: true}},
		{[]string{"return=minimal"}, Prefer{ReturnMinimal: true}},
		{[]string{"Return = Representation"}, Prefer{ReturnRepresentation: true}},
		{[]string{"return=representation,return=minimal"}, Prefer{ReturnRepresentation: true}},
		{[]string{"odata.maxpagesize=2"}, Prefer{MaxPageSize: 2}},
		{[]string{"odata.maxpagesize = 10 "}, Prefer{MaxPageSize: 10}},
		{[]string{`odata.maxpagesize="25"`}, Prefer{MaxPageSize: 25}},
		{[]string{"maxpagesize=3"}, Prefer{MaxPageSize: 3}},
		{[]string{"odata.maxpagesize=10000"}, Prefer{MaxPageSize: 5000}},
		{[]string{"odata.maxpagesize=99999999999999999999999"}, Prefer{MaxPageSize: 5000}},
		{[]string{"odata.maxpagesize=0"}, Prefer{}},
		{[]string{"odata.maxpagesize=-5"}, Prefer{}},
		{[]string{"odata.maxpagesize=abc"}, Prefer{}},
		{[]string{`odata.include-annotations="*"`}, Prefer{IncludeAnnotations: AnnotationFilter{"*"}}},
		{[]string{`odata.include-annotations=*`}, Prefer{IncludeAnnotations: AnnotationFilter{"*"}}},
		{[]string{`respond-async,odata.include-annotations="*"`}, Prefer{RespondAsync: true, IncludeAnnotations: AnnotationFilter{"*"}}},
		{[]string{`odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.PowerApps.CDS.ErrorDetails*", return=representation`},
			Prefer{ReturnRepresentation: true, IncludeAnnotations: AnnotationFilter{"OData.Community.Display.V1.FormattedValue", "Microsoft.PowerApps.CDS.ErrorDetails*"}}},
		{[]string{"odata.maxpagesize=2", `odata.include-annotations="OData.Community.Display.V1.FormattedValue"`},
			Prefer{MaxPageSize: 2, IncludeAnnotations: AnnotationFilter{"OData.Community.Display.V1.FormattedValue"}}},
		{[]string{"odata.continue-on-error"}, Prefer{ContinueOnError: true}},
		{[]string{"odata.continue-on-error=true"}, Prefer{ContinueOnError: true}},
		{[]string{"odata.continue-on-error=false"}, Prefer{}},
		{[]string{"continue-on-error"}, Prefer{ContinueOnError: true}},
		{[]string{"odata.track-changes"}, Prefer{TrackChanges: true}},
		{[]string{"ODATA.TRACK-CHANGES; foo=bar"}, Prefer{TrackChanges: true}},
		{[]string{"wait=10, handling=lenient, x"}, Prefer{}},
		{[]string{`odata.include-annotations="a\"b,c"`}, Prefer{IncludeAnnotations: AnnotationFilter{`a"b`, "c"}}},
		{[]string{`odata.include-annotations="x;y";p=1,return=representation`}, Prefer{ReturnRepresentation: true, IncludeAnnotations: AnnotationFilter{"x;y"}}},
		{[]string{`odata.include-annotations=""`}, Prefer{}},
		{[]string{",,, ,return=representation,,"}, Prefer{ReturnRepresentation: true}},
	}
	for _, tt := range tests {
		got := ParsePrefer(tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParsePrefer(%q)\n got  %+v\n want %+v", tt.in, got, tt.want)
		}
	}
}

func TestAnnotationFilterMatch(t *testing.T) {
	const fv = "OData.Community.Display.V1.FormattedValue"
	tests := []struct {
		f    AnnotationFilter
		term string
		want bool
	}{
		{nil, fv, false},
		{AnnotationFilter{"*"}, fv, true},
		{AnnotationFilter{fv}, fv, true},
		{AnnotationFilter{fv}, "Microsoft.Dynamics.CRM.lookuplogicalname", false},
		{AnnotationFilter{"Microsoft.Dynamics.CRM.*"}, "Microsoft.Dynamics.CRM.lookuplogicalname", true},
		{AnnotationFilter{"Microsoft.Dynamics.CRM.*"}, fv, false},
		{AnnotationFilter{"Microsoft.PowerApps.CDS.ErrorDetails*"}, "Microsoft.PowerApps.CDS.ErrorDetails.OperationStatus", true},
		{AnnotationFilter{"*", "-" + fv}, fv, false},
		{AnnotationFilter{"*", "-" + fv}, "Microsoft.Dynamics.CRM.lookuplogicalname", true},
		{AnnotationFilter{"-Microsoft.Dynamics.CRM.*", "Microsoft.Dynamics.CRM.lookuplogicalname"}, "Microsoft.Dynamics.CRM.lookuplogicalname", true},
		{AnnotationFilter{"-Microsoft.Dynamics.CRM.*", "Microsoft.Dynamics.CRM.lookuplogicalname"}, "Microsoft.Dynamics.CRM.associatednavigationproperty", false},
		{AnnotationFilter{"*", "-*"}, fv, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(tt.term); got != tt.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tt.f, tt.term, got, tt.want)
		}
	}
}
