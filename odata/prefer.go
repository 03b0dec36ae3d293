package odata

import (
	"strconv"
	"strings"
)

// Prefer holds the preferences of the Prefer request headers that the Web
// API acts on (RFC 7240; OData Version 4.0 Part 1 §8.2.8; reference
// dataverse.md §4.2, §4.10, §4.13). Unknown or malformed preferences are
// ignored, as RFC 7240 asks; when one is given twice, the first counts.
type Prefer struct {
	// ReturnRepresentation is return=representation: POST answers 201
	// and PATCH 200 with the record (§8.2.8.7).
	ReturnRepresentation bool
	// ReturnMinimal is return=minimal.
	ReturnMinimal bool
	// MaxPageSize is odata.maxpagesize (§8.2.8.3), 0 when not given or
	// not a positive integer. Larger values are capped at MaxPageSize
	// (5000): "You can't request a page size larger than 5,000" (page
	// results doc) — we assume Dataverse caps rather than fails, and the
	// Web API should echo the capped value in Preference-Applied.
	MaxPageSize int
	// IncludeAnnotations is odata.include-annotations (§8.2.8.4).
	IncludeAnnotations AnnotationFilter
	// ContinueOnError is odata.continue-on-error (§8.2.8.5): a $batch
	// goes on after a failed request.
	ContinueOnError bool
	// TrackChanges is odata.track-changes (§8.2.8.6).
	TrackChanges bool
	// RespondAsync is respond-async (§8.2.8.8).
	RespondAsync bool
}

// AnnotationFilter is the list of patterns of odata.include-annotations
// (OData Part 1 §8.2.8.4): "*", a term name, Namespace.* or any prefix
// ending in * (Dataverse documents
// "Microsoft.PowerApps.CDS.ErrorDetails*"), each optionally prefixed by "-"
// to exclude.
type AnnotationFilter []string

// Match reports whether the annotation term (e.g.
// "OData.Community.Display.V1.FormattedValue") is requested. The most
// specific matching pattern decides (an exact name over a longer prefix over
// a shorter one over "*"); on a tie, exclusion wins.
func (f AnnotationFilter) Match(term string) bool {
	best, result := -1, false
	for _, p := range f {
		exclude := strings.HasPrefix(p, "-")
		p = strings.TrimPrefix(p, "-")
		score := -1
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(term, prefix) {
				score = len(prefix)
			}
		} else if p == term {
			score = 1 << 30
		}
		if score < 0 {
			continue
		}
		if score > best || score == best && exclude {
			best, result = score, !exclude
		}
	}
	return result
}

// ParsePrefer parses the values of all Prefer headers of a request
// (r.Header.Values("Prefer")). Preferences are separated by commas, within
// a header and across headers; names are case-insensitive; values may be
// quoted; parameters after ';' are ignored.
func ParsePrefer(values []string) Prefer {
	var p Prefer
	seen := map[string]bool{}
	for _, v := range values {
		for _, pref := range splitPreferences(v) {
			name, value := parsePreference(pref)
			name = strings.TrimPrefix(name, "odata.")
			if name == "" || seen[name] {
				continue
			}
			seen[name] = true
			switch name {
			case "return":
				switch strings.ToLower(value) {
				case "representation":
					p.ReturnRepresentation = true
				case "minimal":
					p.ReturnMinimal = true
				}
			case "maxpagesize":
				if n, err := strconv.Atoi(value); err == nil && n > 0 {
					p.MaxPageSize = min(n, MaxPageSize)
				} else if err != nil && len(value) > 0 && strings.Trim(value, "0123456789") == "" {
					p.MaxPageSize = MaxPageSize // too large for an int
				}
			case "include-annotations":
				for _, a := range strings.Split(value, ",") {
					if a = strings.TrimSpace(a); a != "" {
						p.IncludeAnnotations = append(p.IncludeAnnotations, a)
					}
				}
			case "continue-on-error":
				p.ContinueOnError = value == "" || strings.EqualFold(value, "true")
			case "track-changes":
				p.TrackChanges = true
			case "respond-async":
				p.RespondAsync = true
			}
		}
	}
	return p
}

// splitPreferences splits a header value at commas outside quoted strings.
func splitPreferences(v string) []string {
	var out []string
	start, inQuote := 0, false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

// parsePreference splits token [ "=" word ] *( ";" parameter ) into the
// lowercased name and the unquoted value.
func parsePreference(pref string) (name, value string) {
	// Cut at the first ';' outside quotes.
	inQuote := false
	for i := 0; i < len(pref); i++ {
		if pref[i] == '\\' && inQuote {
			i++
			continue
		}
		if pref[i] == '"' {
			inQuote = !inQuote
		}
		if pref[i] == ';' && !inQuote {
			pref = pref[:i]
			break
		}
	}
	name, value, _ = strings.Cut(pref, "=")
	name = strings.ToLower(strings.TrimSpace(name))
	value = strings.TrimSpace(value)
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(value)-1; i++ {
			if value[i] == '\\' && i+1 < len(value)-1 {
				i++
			}
			b.WriteByte(value[i])
		}
		value = b.String()
	}
	return name, value
}
