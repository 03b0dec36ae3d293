package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/dataverse"
)

// clientStdin is where --body - reads from (tests replace it).
var clientStdin io.Reader = os.Stdin

func init() {
	register(command{name: "whoami", summary: "call WhoAmI on an environment with S2S credentials (client commands: whoami get query create update delete import)", run: clientWhoAmI})
	register(command{name: "get", summary: "retrieve one row of a table by id or alternate key", run: clientGet})
	register(command{name: "query", summary: "query a table ($select, $filter, $orderby, $top, $expand), all pages", run: clientQuery})
	register(command{name: "create", summary: "create a row from JSON; prints its id", run: clientCreate})
	register(command{name: "update", summary: "update a row from JSON (never creates; --upsert to create when missing)", run: clientUpdate})
	register(command{name: "delete", summary: "delete a row", run: clientDelete})
}

// clientRun parses a client command's flags and positional arguments
// (between min and max of them), connects, and runs fn with a context
// bounded by --timeout.
func clientRun(ctx context.Context, args []string, stdout, stderr io.Writer, name, synopsis, summary string, min, max int,
	extra func(fs *flag.FlagSet), opts *dataverse.Options, fn func(c *adminCall, conn *clientConn, pos []string) error) error {
	var f clientFlags
	c := newClientCall(ctx, name, synopsis, summary, stdout, stderr, &f)
	if extra != nil {
		extra(c.fs)
	}
	pos, err := c.parse(args, max)
	if err != nil {
		return err
	}
	if len(pos) < min {
		return c.usage("missing arguments: %s", synopsis)
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	c.ctx = ctx
	conn, err := f.connect(ctx, c, opts)
	if err != nil {
		return err
	}
	return clientHint(fn(c, conn, pos), conn)
}

func clientWhoAmI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return clientRun(ctx, args, stdout, stderr, "whoami", "[flags]", "call WhoAmI: which application user (or impersonated user) the credentials act as", 0, 0, nil, nil,
		func(c *adminCall, conn *clientConn, _ []string) error {
			start := time.Now()
			w, err := conn.client.WhoAmI(c.ctx, conn.reqOpts...)
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(map[string]any{"user_id": w.UserID, "business_unit_id": w.BusinessUnitID, "organization_id": w.OrganizationID,
					"environment_url": conn.envURL, "tenant_id": conn.tenant, "client_id": conn.clientID, "authority_host": conn.authHost,
					"dop_hint": conn.client.DOPHint()})
			}
			tw := newAdminTabWriter(c.stdout)
			for _, kv := range [][2]string{
				{"UserId", w.UserID},
				{"BusinessUnitId", w.BusinessUnitID},
				{"OrganizationId", w.OrganizationID},
				{"Environment", conn.envURL},
				{"Tenant", conn.tenant},
				{"Client id", conn.clientID},
				{"Authority", conn.authHost},
				{"DOP hint", fmt.Sprint(conn.client.DOPHint())},
				{"Took", time.Since(start).Round(time.Millisecond).String()},
			} {
				fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
			}
			return tw.Flush()
		})
}

func clientGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var sel, expand *string
	var formatted *bool
	return clientRun(ctx, args, stdout, stderr, "get", "<entity set> <id | alternate key such as accountnumber='A-1'> [--select a,b] [--expand nav(...)]",
		"retrieve one row as JSON", 2, 2,
		func(fs *flag.FlagSet) {
			sel = fs.String("select", "", "comma-separated columns ($select)")
			expand = fs.String("expand", "", "navigation properties to expand, as in $expand")
			formatted = fs.Bool("formatted", false, "include formatted values (choice labels, lookup names, ...)")
		}, nil,
		func(c *adminCall, conn *clientConn, pos []string) error {
			q := dataverse.NewQuery()
			if *sel != "" {
				q.Select(splitList(*sel)...)
			}
			opts := conn.reqOpts
			if *formatted {
				opts = append(opts, dataverse.WithFormattedValues())
			}
			path := dataverse.QueryPath(pos[0]+"("+escapeKey(pos[1])+")", q)
			if *expand != "" {
				path += sepFor(path) + "$expand=" + escapeQuery(*expand)
			}
			var row dataverse.Row
			if _, err := conn.client.Do(c.ctx, "GET", path, nil, &row, opts...); err != nil {
				return err
			}
			delete(row, "@odata.context")
			return c.printJSON(row)
		})
}

func clientQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var sel, filter, orderby, expand, format *string
	var top, pageSize, max *int
	var count, formatted *bool
	return clientRun(ctx, args, stdout, stderr, "query",
		"<entity set> [--select a,b] [--filter expr] [--orderby a desc] [--top n] [--expand ...] [--format jsonl|json|table|csv]  |  '<set>?<raw OData query>'",
		"query a table: every page (following @odata.nextLink), one JSON object per line by default", 1, 1,
		func(fs *flag.FlagSet) {
			sel = fs.String("select", "", "comma-separated columns ($select)")
			filter = fs.String("filter", "", "$filter expression, e.g. \"revenue gt 1000000 and contains(name,'coffee')\"")
			orderby = fs.String("orderby", "", "$orderby, e.g. \"revenue desc,name\"")
			expand = fs.String("expand", "", "$expand, e.g. \"primarycontactid($select=fullname)\"")
			top = fs.Int("top", 0, "at most this many rows ($top)")
			count = fs.Bool("count", false, "print the number of matching rows (@odata.count) to stderr")
			pageSize = fs.Int("page-size", 0, "rows per page (Prefer: odata.maxpagesize; default the server's, 5,000)")
			max = fs.Int("max", 0, "stop after this many rows (0: all)")
			format = fs.String("format", "jsonl", "output: jsonl (a JSON object per line), json (one array), table or csv (the --select columns)")
			formatted = fs.Bool("formatted", false, "include formatted values (choice labels, lookup names, ...)")
		}, nil,
		func(c *adminCall, conn *clientConn, pos []string) error {
			switch *format {
			case "jsonl", "json", "table", "csv":
			default:
				return c.usage("--format %q: use jsonl, json, table or csv", *format)
			}
			path := pos[0]
			if !strings.Contains(path, "?") {
				q := dataverse.NewQuery()
				if *sel != "" {
					q.Select(splitList(*sel)...)
				}
				if *filter != "" {
					q.Filter(*filter)
				}
				if *orderby != "" {
					q.OrderBy(splitList(*orderby)...)
				}
				if *top > 0 {
					q.Top(*top)
				}
				if *count {
					q.Count()
				}
				path = dataverse.QueryPath(path, q)
				if *expand != "" {
					path += sepFor(path) + "$expand=" + escapeQuery(*expand)
				}
			} else if *sel != "" || *filter != "" || *orderby != "" || *expand != "" || *top > 0 || *count {
				return c.usage("give either a raw query ('%s') or --select/--filter/... flags, not both", path)
			}
			opts := conn.reqOpts
			if *pageSize > 0 {
				opts = append(opts, dataverse.WithPageSize(*pageSize))
			}
			if *formatted {
				opts = append(opts, dataverse.WithFormattedValues())
			}
			out := newRowWriter(c.stdout, *format, splitList(*sel))
			n := 0
			next := path
			for next != "" {
				p, err := dataverse.QueryPage[dataverse.Row](c.ctx, conn.client, next, opts...)
				if err != nil {
					out.close()
					return err
				}
				if n == 0 && p.Count >= 0 {
					fmt.Fprintf(c.stderr, "%d matching rows\n", p.Count)
				}
				for _, r := range p.Rows {
					if *max > 0 && n >= *max {
						return out.close()
					}
					if err := out.write(r); err != nil {
						return err
					}
					n++
				}
				next = p.NextLink
			}
			return out.close()
		})
}

func clientCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var body *string
	var show *bool
	return clientRun(ctx, args, stdout, stderr, "create", "<entity set> --body '{\"name\":\"...\"}' | --body @file.json | --body - (stdin)",
		"create a row and print its id", 1, 1,
		func(fs *flag.FlagSet) {
			body = fs.String("body", "-", "the row as JSON: inline, @file, or - for stdin")
			show = fs.Bool("show", false, "print the created row (return=representation) instead of its id")
		}, nil,
		func(c *adminCall, conn *clientConn, pos []string) error {
			b, err := readBody(c, *body)
			if err != nil {
				return err
			}
			opts := conn.reqOpts
			var row dataverse.Row
			if *show {
				opts = append(opts, dataverse.WithReturnRepresentation(&row))
			}
			id, err := conn.client.Create(c.ctx, pos[0], json.RawMessage(b), opts...)
			if err != nil {
				return err
			}
			if *show {
				delete(row, "@odata.context")
				return c.printJSON(row)
			}
			if c.json {
				return c.printJSON(map[string]string{"id": id})
			}
			_, err = fmt.Fprintln(c.stdout, id)
			return err
		})
}

func clientUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var body, ifMatch *string
	var upsert *bool
	return clientRun(ctx, args, stdout, stderr, "update", "<entity set> <id | alternate key> --body '{...}' [--if-match etag] [--upsert]",
		"update columns of a row (with --upsert: create it if missing)", 2, 2,
		func(fs *flag.FlagSet) {
			body = fs.String("body", "-", "the changed columns as JSON: inline, @file, or - for stdin")
			ifMatch = fs.String("if-match", "", `only if the row's ETag still is this (W/"123")`)
			upsert = fs.Bool("upsert", false, "create the row (with this id or key) when it does not exist")
		}, nil,
		func(c *adminCall, conn *clientConn, pos []string) error {
			b, err := readBody(c, *body)
			if err != nil {
				return err
			}
			opts := conn.reqOpts
			if *ifMatch != "" {
				opts = append(opts, dataverse.WithIfMatch(*ifMatch))
			}
			if *upsert {
				id, err := conn.client.Upsert(c.ctx, pos[0], pos[1], json.RawMessage(b), opts...)
				if err == nil && id != "" {
					fmt.Fprintln(c.stdout, id)
				}
				return err
			}
			return conn.client.Update(c.ctx, pos[0], pos[1], json.RawMessage(b), opts...)
		})
}

func clientDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var ifMatch *string
	return clientRun(ctx, args, stdout, stderr, "delete", "<entity set> <id | alternate key> [--if-match etag]", "delete a row", 2, 2,
		func(fs *flag.FlagSet) {
			ifMatch = fs.String("if-match", "", `only if the row's ETag still is this (W/"123")`)
		}, nil,
		func(c *adminCall, conn *clientConn, pos []string) error {
			opts := conn.reqOpts
			if *ifMatch != "" {
				opts = append(opts, dataverse.WithIfMatch(*ifMatch))
			}
			return conn.client.Delete(c.ctx, pos[0], pos[1], opts...)
		})
}

// readBody reads a JSON body given inline, as @file or - (stdin), and
// checks it is a JSON object.
func readBody(c *adminCall, spec string) ([]byte, error) {
	var b []byte
	var err error
	switch {
	case spec == "-":
		b, err = io.ReadAll(clientStdin)
	case strings.HasPrefix(spec, "@"):
		b, err = os.ReadFile(spec[1:])
	default:
		b = []byte(spec)
	}
	if err != nil {
		return nil, fmt.Errorf("--body: %w", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, c.usage("--body is not a JSON object: %v", err)
	}
	return bytes.TrimSpace(b), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sepFor(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// escapeQuery percent-encodes a query option value the way the SDK does.
func escapeQuery(s string) string {
	return strings.TrimPrefix(dataverse.NewQuery().Param("x", s).Encode(), "x=")
}

// escapeKey percent-encodes a key (GUID or alternate key) for the path.
func escapeKey(s string) string {
	p := dataverse.Bind("x", s) // "/x(<escaped>)"
	return strings.TrimSuffix(strings.TrimPrefix(p, "/x("), ")")
}

// rowWriter prints rows as JSON lines, a JSON array, a table or CSV.
type rowWriter struct {
	w      io.Writer
	format string
	cols   []string
	n      int
	rows   [][]string
	csv    *csv.Writer
}

func newRowWriter(w io.Writer, format string, cols []string) *rowWriter {
	rw := &rowWriter{w: w, format: format, cols: cols}
	if format == "csv" {
		rw.csv = csv.NewWriter(w)
	}
	return rw
}

func (rw *rowWriter) columns(r dataverse.Row) []string {
	if len(rw.cols) > 0 {
		return rw.cols
	}
	var cols []string
	for k := range r {
		if !strings.Contains(k, "@") {
			cols = append(cols, k)
		}
	}
	sort.Strings(cols)
	rw.cols = cols
	return cols
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func (rw *rowWriter) write(r dataverse.Row) error {
	delete(r, "@odata.context")
	defer func() { rw.n++ }()
	switch rw.format {
	case "json":
		sep := ",\n"
		if rw.n == 0 {
			sep = "[\n"
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(rw.w, "%s  %s", sep, b)
		return err
	case "table", "csv":
		cols := rw.columns(r)
		line := make([]string, len(cols))
		for i, c := range cols {
			line[i] = cell(r[c])
		}
		if rw.format == "csv" {
			if rw.n == 0 {
				rw.csv.Write(cols)
			}
			return rw.csv.Write(line)
		}
		rw.rows = append(rw.rows, line)
		return nil
	default:
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(rw.w, "%s\n", b)
		return err
	}
}

func (rw *rowWriter) close() error {
	switch rw.format {
	case "json":
		if rw.n == 0 {
			_, err := fmt.Fprintln(rw.w, "[]")
			return err
		}
		_, err := fmt.Fprintln(rw.w, "\n]")
		return err
	case "csv":
		rw.csv.Flush()
		return rw.csv.Error()
	case "table":
		if len(rw.cols) == 0 {
			_, err := fmt.Fprintln(rw.w, "no rows")
			return err
		}
		return adminTable(rw.w, "", rw.cols, rw.rows)
	}
	return nil
}
