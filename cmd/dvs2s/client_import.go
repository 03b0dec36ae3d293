package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs2s/dvs2s/dataverse"
)

func init() {
	register(command{name: "import", summary: "import CSV or JSON lines into a table with $batch and parallel requests; rejected rows go to a file", run: clientImport})
}

// importConfig configures an import.
type importConfig struct {
	set       string
	format    string // csv or jsonl
	batchSize int    // rows per $batch; 1 = one request per row
	parallel  int    // concurrent requests; 0 = the server's x-ms-dop-hint
	upsertKey []string
	// noChangeSets sends rows as independent operations only (a
	// transaction per row on the server).
	noChangeSets bool
	rejected     string // path of the rejected-rows file
	progress     io.Writer
	warn         io.Writer // warnings (nil: discarded)
	total        int64     // input size in bytes, for the progress bar (0: unknown)
}

// importSummary is the outcome of an import.
type importSummary struct {
	Table       string  `json:"table"`
	Rows        int64   `json:"rows"`
	Imported    int64   `json:"imported"`
	Rejected    int64   `json:"rejected"`
	RejectedTo  string  `json:"rejected_file,omitempty"`
	Requests    int64   `json:"requests"`
	BatchSize   int     `json:"batch_size"`
	Parallel    int     `json:"parallel"`
	DOPHint     int     `json:"dop_hint"`
	Seconds     float64 `json:"seconds"`
	RowsPerSec  float64 `json:"rows_per_second"`
	Interrupted bool    `json:"interrupted,omitempty"`
}

// importRow is one input row.
type importRow struct {
	line int
	raw  any            // as read: CSV header→text, or the JSON object
	row  map[string]any // what is sent
	err  error          // a row that cannot be sent (conversion error)
}

// rejection is a line of the rejected-rows file.
type rejection struct {
	Line   int    `json:"line"`
	Row    any    `json:"row"`
	Status int    `json:"status,omitempty"`
	Code   string `json:"code,omitempty"`
	Error  string `json:"error"`
}

func clientImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var format, rejected, upsertKey, progress *string
	var batchSize, parallel *int
	var noChangeSets *bool
	return clientRun(ctx, args, stdout, stderr, "import",
		"<entity set> <file.csv | file.jsonl | -> [--batch-size 100] [--parallel n] [--upsert-key col,...] [--rejected file]",
		"import rows (CSV with a header of column names, or one JSON object per line) with $batch requests, as many in parallel as the server's x-ms-dop-hint; rows the server refuses are written with their errors to the rejected file, never dropped", 2, 2,
		func(fs *flag.FlagSet) {
			format = fs.String("format", "", "csv or jsonl (default: by the file's extension)")
			batchSize = fs.Int("batch-size", 100, "rows per $batch request (at most 1000); 1 sends one request per row")
			parallel = fs.Int("parallel", 0, "requests in flight (default: the server's x-ms-dop-hint)")
			upsertKey = fs.String("upsert-key", "", "upsert instead of create, by these key columns (the primary id column, or an alternate key)")
			rejected = fs.String("rejected", "", "where to write rejected rows as JSON lines (default: <file>.rejected.jsonl)")
			noChangeSets = fs.Bool("no-change-sets", false, "send each batch's rows as independent operations, not first as one change set (one transaction)")
			progress = fs.String("progress", "auto", "progress bar on stderr: auto (when it is a terminal), always or never")
		}, nil,
		func(c *adminCall, conn *clientConn, pos []string) error {
			set, file := pos[0], pos[1]
			cfg := importConfig{set: set, format: *format, batchSize: *batchSize, parallel: *parallel, upsertKey: splitList(*upsertKey),
				rejected: *rejected, warn: c.stderr, noChangeSets: *noChangeSets}
			if cfg.batchSize < 1 || cfg.batchSize > dataverse.MaxBatchSize {
				return c.usage("--batch-size must be between 1 and %d", dataverse.MaxBatchSize)
			}
			if cfg.parallel < 0 {
				return c.usage("--parallel must not be negative")
			}
			var in io.Reader
			if file == "-" {
				in = clientStdin
				if cfg.rejected == "" {
					cfg.rejected = "import.rejected.jsonl"
				}
			} else {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					cfg.total = st.Size()
				}
				in = f
				if cfg.rejected == "" {
					cfg.rejected = strings.TrimSuffix(file, filepath.Ext(file)) + ".rejected.jsonl"
				}
			}
			if cfg.format == "" {
				switch strings.ToLower(filepath.Ext(file)) {
				case ".csv":
					cfg.format = "csv"
				case ".jsonl", ".ndjson", ".json":
					cfg.format = "jsonl"
				default:
					return c.usage("cannot tell the format of %q: give --format csv or --format jsonl", file)
				}
			}
			if cfg.format != "csv" && cfg.format != "jsonl" {
				return c.usage("--format %q: use csv or jsonl", cfg.format)
			}
			switch *progress {
			case "always":
				cfg.progress = c.stderr
			case "auto":
				if isTerminal(c.stderr) {
					cfg.progress = c.stderr
				}
			case "never":
			default:
				return c.usage("--progress %q: use auto, always or never", *progress)
			}
			sum, err := importRows(c.ctx, conn, in, cfg)
			if sum != nil {
				if c.json {
					c.printJSON(sum)
				} else {
					printImportSummary(c.stdout, sum)
				}
			}
			if err != nil {
				return err
			}
			if sum.Rejected > 0 {
				return fmt.Errorf("%d of %d rows rejected: they are in %s with their errors", sum.Rejected, sum.Rows, sum.RejectedTo)
			}
			return nil
		})
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printImportSummary(w io.Writer, s *importSummary) {
	how := fmt.Sprintf("$batch of up to %d rows", s.BatchSize)
	if s.BatchSize == 1 {
		how = "one request per row"
	}
	fmt.Fprintf(w, "imported %s of %s rows into %s in %.1fs (%s rows/s); requests: %s, %s, %d in parallel (x-ms-dop-hint %d)\n",
		thousands(s.Imported), thousands(s.Rows), s.Table, s.Seconds, thousands(int64(s.RowsPerSec)), thousands(s.Requests), how, s.Parallel, s.DOPHint)
	if s.Rejected > 0 {
		fmt.Fprintf(w, "rejected %s rows: see %s\n", thousands(s.Rejected), s.RejectedTo)
	}
	if s.Interrupted {
		fmt.Fprintln(w, "interrupted: the rows not yet sent were neither imported nor rejected")
	}
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// tableInfo is what the import needs of a table's definition.
type tableInfo struct {
	primaryID string
	types     map[string]string // column logical name → AttributeType
}

// tableDefinition reads the table's column types from EntityDefinitions.
func tableDefinition(ctx context.Context, conn *clientConn, set string) (*tableInfo, error) {
	path := "EntityDefinitions?$filter=EntitySetName%20eq%20" + url.PathEscape(dataverse.Literal(set)) +
		"&$select=LogicalName,PrimaryIdAttribute&$expand=Attributes($select=LogicalName,AttributeType)"
	var out struct {
		Value []struct {
			PrimaryIDAttribute string `json:"PrimaryIdAttribute"`
			Attributes         []struct {
				LogicalName   string
				AttributeType string
			}
		} `json:"value"`
	}
	if _, err := conn.client.Do(ctx, "GET", path, nil, &out, conn.reqOpts...); err != nil {
		return nil, err
	}
	if len(out.Value) == 0 {
		return nil, fmt.Errorf("no table has the entity set name %q (names are case-sensitive)", set)
	}
	ti := &tableInfo{primaryID: out.Value[0].PrimaryIDAttribute, types: map[string]string{}}
	for _, a := range out.Value[0].Attributes {
		ti.types[a.LogicalName] = a.AttributeType
	}
	return ti, nil
}

// convert turns a CSV cell into the JSON value its column wants. Empty
// cells are left out (not set to null).
func convert(column, text, typ string) (any, bool, error) {
	if text == "" {
		return nil, false, nil
	}
	switch typ {
	case "Integer", "BigInt", "Picklist", "State", "Status":
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, false, fmt.Errorf("column %s (%s): %q is not a whole number", column, typ, text)
		}
		return n, true, nil
	case "Decimal", "Double", "Money":
		t := strings.TrimSpace(text)
		if _, err := strconv.ParseFloat(t, 64); err != nil {
			return nil, false, fmt.Errorf("column %s (%s): %q is not a number", column, typ, text)
		}
		return json.Number(t), true, nil
	case "Boolean":
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true", "1", "yes":
			return true, true, nil
		case "false", "0", "no":
			return false, true, nil
		}
		return nil, false, fmt.Errorf("column %s (Boolean): %q is not true or false", column, text)
	}
	return text, true, nil
}

// readRows reads the input and sends rows (with conversion errors marked)
// to out; it returns at EOF, on a read error or when ctx ends.
func readRows(ctx context.Context, in io.Reader, cfg importConfig, ti *tableInfo, out chan<- importRow) error {
	send := func(r importRow) bool {
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if cfg.format == "jsonl" {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		line := 0
		for sc.Scan() {
			line++
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 {
				continue
			}
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			var obj map[string]any
			r := importRow{line: line}
			if err := d.Decode(&obj); err != nil || obj == nil {
				r.raw, r.err = string(b), fmt.Errorf("not a JSON object: %v", err)
			} else {
				r.raw, r.row = obj, obj
			}
			if !send(r) {
				return ctx.Err()
			}
		}
		return sc.Err()
	}
	cr := csv.NewReader(in)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("CSV header: %w", err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := cr.FieldPos(0)
		r := importRow{line: line}
		var pe *csv.ParseError
		if err != nil {
			if errors.As(err, &pe) {
				r.line = pe.StartLine
			}
			r.raw, r.err = strings.Join(rec, ","), err
			if rec == nil && !errors.Is(err, csv.ErrFieldCount) && pe == nil {
				return err
			}
			if !send(r) {
				return ctx.Err()
			}
			continue
		}
		raw := make(map[string]string, len(header))
		row := make(map[string]any, len(header))
		for i, h := range header {
			raw[h] = rec[i]
			typ := ""
			if ti != nil {
				typ = ti.types[h]
			}
			v, ok, err := convert(h, rec[i], typ)
			if err != nil && r.err == nil {
				r.err = err
			}
			if ok {
				row[h] = v
			}
		}
		r.raw, r.row = raw, row
		if !send(r) {
			return ctx.Err()
		}
	}
}

// importRows runs an import: a reader, batches of rows, a pool of
// workers sending them, the rejected-rows file, progress and summary.
func importRows(ctx context.Context, conn *clientConn, in io.Reader, cfg importConfig) (*importSummary, error) {
	start := time.Now()
	cl := conn.client
	// WhoAmI first: it checks the credentials and brings the dop hint.
	if _, err := cl.WhoAmI(ctx, conn.reqOpts...); err != nil {
		return nil, err
	}
	parallel := cfg.parallel
	if parallel == 0 {
		parallel = max(cl.Parallelism(), 1)
		if cl.DOPHint() > 0 {
			parallel = cl.DOPHint()
		}
	}
	var ti *tableInfo
	if cfg.format == "csv" || len(cfg.upsertKey) > 0 {
		var err error
		if ti, err = tableDefinition(ctx, conn, cfg.set); err != nil {
			if dataverse.IsNotFound(err) || strings.Contains(err.Error(), "no table has") {
				return nil, err
			}
			if cfg.format == "csv" && cfg.warn != nil {
				fmt.Fprintf(cfg.warn, "warning: cannot read the column types of %s (%v): CSV values are sent as text\n", cfg.set, err)
			}
		}
	}
	sum := &importSummary{Table: cfg.set, BatchSize: cfg.batchSize, Parallel: parallel, DOPHint: cl.DOPHint(), RejectedTo: cfg.rejected}

	// The rejected-rows file, created on the first rejection.
	var rejMu sync.Mutex
	var rejFile *os.File
	var rejW *bufio.Writer
	var rejErr error
	var rejected, imported, requests, rows atomic.Int64
	reject := func(r importRow, err error) {
		rejected.Add(1)
		rec := rejection{Line: r.line, Row: r.raw, Error: err.Error()}
		if e := dataverse.AsError(err); e != nil {
			rec.Status, rec.Code = e.StatusCode, e.Code
			if e.Message != "" && e.Entra == nil {
				rec.Error = e.Message
			}
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(rec)
		b := buf.Bytes()
		rejMu.Lock()
		defer rejMu.Unlock()
		if rejFile == nil && rejErr == nil {
			rejFile, rejErr = os.Create(cfg.rejected)
			if rejErr == nil {
				rejW = bufio.NewWriter(rejFile)
			}
		}
		if rejW != nil {
			rejW.Write(b)
		}
	}

	// Progress.
	counting := &countingReader{r: in}
	stopProgress := func() {}
	if cfg.progress != nil {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					drawProgress(cfg.progress, counting.n.Load(), cfg.total, imported.Load(), rejected.Load(), start, true)
					return
				case <-t.C:
					drawProgress(cfg.progress, counting.n.Load(), cfg.total, imported.Load(), rejected.Load(), start, false)
				}
			}
		})
		stopProgress = func() { close(done); wg.Wait() }
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rowCh := make(chan importRow, cfg.batchSize*parallel)
	batches := make(chan []importRow, parallel)
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(rowCh)
		readErr = readRows(ctx, counting, cfg, ti, rowCh)
	})
	// Batcher: rows that cannot be sent are rejected at once.
	wg.Go(func() {
		defer close(batches)
		var cur []importRow
		for r := range rowCh {
			rows.Add(1)
			if r.err != nil {
				reject(r, r.err)
				continue
			}
			cur = append(cur, r)
			if len(cur) == cfg.batchSize {
				select {
				case batches <- cur:
				case <-ctx.Done():
					return
				}
				cur = nil
			}
		}
		if len(cur) > 0 {
			select {
			case batches <- cur:
			case <-ctx.Done():
			}
		}
	})
	var workers sync.WaitGroup
	for range parallel {
		workers.Go(func() {
			for b := range batches {
				requests.Add(1)
				n := sendBatch(ctx, conn, cfg, ti, b, reject)
				imported.Add(int64(n))
			}
		})
	}
	workers.Wait()
	wg.Wait()
	stopProgress()
	rejMu.Lock()
	if rejW != nil {
		rejW.Flush()
		rejFile.Close()
	}
	rejMu.Unlock()

	sum.Rows, sum.Imported, sum.Rejected, sum.Requests = rows.Load(), imported.Load(), rejected.Load(), requests.Load()
	sum.DOPHint = cl.DOPHint()
	sum.Seconds = time.Since(start).Seconds()
	if sum.Seconds > 0 {
		sum.RowsPerSec = float64(sum.Imported) / sum.Seconds
	}
	if sum.Rejected == 0 {
		sum.RejectedTo = ""
	}
	if rejErr != nil {
		return sum, fmt.Errorf("writing rejected rows to %s: %w", cfg.rejected, rejErr)
	}
	if ctx.Err() != nil {
		sum.Interrupted = true
		return sum, ctx.Err()
	}
	if readErr != nil {
		sum.Interrupted = true
		return sum, fmt.Errorf("reading the input: %w", readErr)
	}
	return sum, nil
}

// sendBatch sends rows (one request, or a $batch) and returns how many
// were imported; the others are rejected with their errors.
func sendBatch(ctx context.Context, conn *clientConn, cfg importConfig, ti *tableInfo, rows []importRow, reject func(importRow, error)) int {
	key := func(r importRow) (string, error) {
		if len(cfg.upsertKey) == 1 && ti != nil && cfg.upsertKey[0] == ti.primaryID {
			id, _ := r.row[ti.primaryID].(string)
			if id == "" {
				return "", fmt.Errorf("no value for the key column %s", ti.primaryID)
			}
			return id, nil
		}
		k := dataverse.AltKey{}
		for _, c := range cfg.upsertKey {
			v, ok := r.row[c]
			if !ok {
				return "", fmt.Errorf("no value for the key column %s", c)
			}
			if n, isNum := v.(json.Number); isNum {
				if i, err := n.Int64(); err == nil {
					v = i
				} else if f, err := n.Float64(); err == nil {
					v = f
				}
			}
			k[c] = v
		}
		return k.String(), nil
	}
	if len(rows) == 1 && cfg.batchSize == 1 {
		r := rows[0]
		var err error
		if len(cfg.upsertKey) > 0 {
			var k string
			if k, err = key(r); err == nil {
				_, err = conn.client.Upsert(ctx, cfg.set, k, r.row, conn.reqOpts...)
			}
		} else {
			_, err = conn.client.Create(ctx, cfg.set, r.row, conn.reqOpts...)
		}
		if err != nil {
			reject(r, err)
			return 0
		}
		return 1
	}
	var sent []importRow
	keys := make([]string, 0, len(rows))
	for _, r := range rows {
		k := ""
		if len(cfg.upsertKey) > 0 {
			var err error
			if k, err = key(r); err != nil {
				reject(r, err)
				continue
			}
		}
		keys = append(keys, k)
		sent = append(sent, r)
	}
	if len(sent) == 0 {
		return 0
	}
	build := func(atomic bool) *dataverse.Batch {
		b := dataverse.NewBatch()
		var add interface {
			Create(string, any, ...dataverse.RequestOption) *dataverse.BatchOp
			Upsert(string, string, any, ...dataverse.RequestOption) *dataverse.BatchOp
		} = b
		if atomic {
			add = b.ChangeSet()
		}
		for i, r := range sent {
			if keys[i] != "" {
				add.Upsert(cfg.set, keys[i], r.row)
			} else {
				add.Create(cfg.set, r.row)
			}
		}
		return b
	}
	if !cfg.noChangeSets && len(sent) > 1 {
		// One change set first: one transaction on the server, much
		// faster than a transaction per row. If any row fails, the change
		// set rolls back, and the rows go again one by one (below) so the
		// good ones are imported and only the bad ones rejected.
		res, err := conn.client.ExecuteBatch(ctx, build(true), conn.reqOpts...)
		if err == nil && res.Err() == nil && len(res.Results) == len(sent) {
			return len(sent)
		}
		if err != nil && !dataverse.IsThrottled(err) && dataverse.AsError(err) != nil && dataverse.AsError(err).StatusCode == 0 {
			// A transport failure: the change set may or may not have
			// been applied; sending the rows again could duplicate them.
			for _, r := range sent {
				reject(r, fmt.Errorf("outcome unknown (the change set may have been applied): %w", err))
			}
			return 0
		}
	}
	res, err := conn.client.ExecuteBatch(ctx, build(false), append(conn.reqOpts, dataverse.WithContinueOnError())...)
	if err != nil {
		// The whole batch failed: every row is rejected with the reason.
		// (After a network failure the server may have run part of it:
		// the error says so.)
		for _, r := range sent {
			reject(r, err)
		}
		return 0
	}
	n := 0
	for i, r := range sent {
		if i >= len(res.Results) {
			reject(r, errors.New("the $batch answer has no result for this row"))
			continue
		}
		if e := res.Results[i].Err; e != nil {
			reject(r, e)
			continue
		}
		n++
	}
	return n
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// drawProgress draws a one-line progress bar.
func drawProgress(w io.Writer, read, total, imported, rejected int64, start time.Time, final bool) {
	el := time.Since(start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(imported) / el
	}
	bar := ""
	if total > 0 {
		const width = 30
		f := min(float64(read)/float64(total), 1)
		filled := int(f * width)
		bar = fmt.Sprintf("[%s%s] %3.0f%%  ", strings.Repeat("#", filled), strings.Repeat(".", width-filled), f*100)
	}
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(w, "\r%s%s imported  %s rejected  %s rows/s  %s%s", bar, thousands(imported), thousands(rejected), thousands(int64(rate)),
		time.Duration(el*float64(time.Second)).Round(time.Second), end)
}
