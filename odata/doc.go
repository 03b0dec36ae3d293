// Package odata is the pure parsing layer of the Dataverse-compatible Web API
// (reference dataverse.md §4): resource paths, system query options, the
// $filter/$orderby expression language and the Prefer header.
//
// It knows nothing about tables, columns, SQL or HTTP handlers. Its output is
// a small syntax tree that the Web API and the SQL compiler type-check against
// table metadata. Every function here accepts untrusted input: bad input
// yields an *Error (4xx, Dataverse's code and message where known), never a
// panic. Recursion and output size are bounded (see the limits below).
//
// The grammar is the OData Version 4.0 Part 2: URL Conventions ABNF subset
// that Dataverse supports (OData 4.0 only, not 4.01). Error messages follow
// Microsoft.OData.Core (ODL), which is what Dataverse itself runs, so
// positions and wording match the real service in the common cases:
//
//	There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''.
//	Syntax error at position 8 in 'name eqq 'x''.
//
// Positions count characters (runes) of the decoded option value, as ODL
// counts UTF-16 code units; the two agree for the Basic Multilingual Plane.
//
// Entry points: ParsePath, ParseQuery, ParseFilter, ParseOrderBy and
// ParsePrefer.
package odata
