package snapshot

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store"
)

// ImportOptions configure Import.
type ImportOptions struct {
	// MasterKey (64 hex characters) is DVS2S_MASTER_KEY of the servers
	// that will use the directory. When set it must equal the snapshot's
	// master key, and master.key is not written (those servers take the
	// key from the environment).
	MasterKey string
	// Database is the PostgreSQL URL (--database) of the stack to seed:
	// the identity model and the rows go there, and it must be empty
	// (no tenant, no environment); the data directory still gets the
	// master key and the files. Empty means SQLite in the data directory.
	// A failed import into PostgreSQL can leave part of the snapshot in
	// the database.
	Database string
}

// batchSize is how many rows (or links) Import writes per transaction.
const batchSize = 500

// Import seeds the data directory dir, which must not exist or be empty,
// from the snapshot r. The directory is assembled next to dir and renamed
// into place at the end, so a failed import leaves nothing behind. No
// server may be using dir.
func Import(ctx context.Context, r io.Reader, dir string, o ImportOptions) (Counts, error) {
	var n Counts
	abs, err := filepath.Abs(dir)
	if err != nil {
		return n, err
	}
	if err := checkEmpty(abs); err != nil {
		return n, err
	}
	if o.Database != "" {
		db, err := openStore(ctx, abs, o.Database)
		if err != nil {
			return n, err
		}
		err = checkEmptyStore(ctx, db)
		db.Close()
		if err != nil {
			return n, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return n, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".import-*")
	if err != nil {
		return n, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o700); err != nil {
		return n, err
	}
	im := &importer{dir: tmp, opts: o, envs: map[string]*envImport{}, n: &n}
	err = im.run(ctx, r)
	if cerr := im.close(); err == nil {
		err = cerr
	}
	if err != nil {
		if o.Database != "" && im.db != nil {
			err = fmt.Errorf("%w (the database may now hold part of the snapshot: empty it before importing again)", err)
		}
		return n, err
	}
	if err := checkEmpty(abs); err != nil { // someone else got there meanwhile
		return n, err
	}
	os.Remove(abs) // empty, or missing
	if err := os.Rename(tmp, abs); err != nil {
		return n, err
	}
	ok = true
	return n, nil
}

// checkEmpty accepts a missing or empty directory.
func checkEmpty(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("data directory %s is not empty: import seeds a new data directory (choose another --data, or remove this one)", dir)
	}
	return nil
}

// importer applies a snapshot's lines to a new data directory.
type importer struct {
	dir  string
	opts ImportOptions
	n    *Counts

	line      int // current line number (1-based)
	header    bool
	end       bool
	keys      *secret.Keys
	db        store.Store
	envs      map[string]*envImport
	files     map[string]bool
	lastEnvID string // environment of the last env_meta, row or link
}

// envImport is the state of one environment's import.
type envImport struct {
	rec    store.Environment
	data   store.Data
	schema *schema.Schema // set by the first row or link: no env_meta after it
	rows   []pendingRow
	links  [][3]string // relationship, id1, id2
	linked bool        // links came: no row may follow
}

type pendingRow struct {
	t *schema.Table
	r store.Row
}

func (im *importer) close() error {
	var errs []error
	for _, e := range im.envs {
		if e.data != nil {
			errs = append(errs, closeData(e.data))
		}
	}
	if im.db != nil {
		errs = append(errs, im.db.Close())
	}
	return errors.Join(errs...)
}

func (im *importer) run(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		defer gz.Close()
		br = bufio.NewReaderSize(gz, 64<<10)
	}
	for {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			im.line++
			if lerr := im.apply(ctx, b); lerr != nil {
				return fmt.Errorf("snapshot line %d: %w", im.line, lerr)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	if !im.header {
		return errors.New("snapshot: empty file, or not a dvs2s snapshot")
	}
	if !im.end {
		return fmt.Errorf("snapshot is truncated: no end line after line %d", im.line)
	}
	if im.files["ca.pem"] != im.files["ca-key.pem"] {
		return errors.New("snapshot: the local CA's certificate and key must come together")
	}
	return im.flushAll(ctx)
}

// decode unmarshals a line strictly: unknown fields are an error, so a
// newer writer's additions are not silently dropped.
func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	d.UseNumber()
	return d.Decode(v)
}

func (im *importer) apply(ctx context.Context, b []byte) error {
	var k struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		if im.line == 1 {
			return errors.New("not a dvs2s snapshot (not JSON lines)")
		}
		return err
	}
	if im.end {
		return errors.New("data after the end line")
	}
	if !im.header {
		if k.Kind != KindHeader {
			return errors.New("not a dvs2s snapshot (the first line is not its header)")
		}
		var h Header
		if err := json.Unmarshal(b, &h); err != nil {
			return err
		}
		if h.Format != Format {
			return fmt.Errorf("not a dvs2s snapshot (format %q)", h.Format)
		}
		if h.Version != Version {
			return fmt.Errorf("snapshot format version %d is not supported by this dvs2s, which reads version %d only; use the dvs2s release that wrote it, or a newer one", h.Version, Version)
		}
		im.header = true
		return nil
	}
	if im.keys == nil && k.Kind != KindMasterKey {
		return fmt.Errorf("%s before the master key", k.Kind)
	}
	switch k.Kind {
	case KindHeader:
		return errors.New("a second header")
	case KindMasterKey:
		var m MasterKey
		if err := decode(b, &m); err != nil {
			return err
		}
		return im.masterKey(ctx, m)
	case KindFile:
		var f File
		if err := decode(b, &f); err != nil {
			return err
		}
		return im.file(f)
	case KindTenant:
		var t Tenant
		if err := decode(b, &t); err != nil {
			return err
		}
		im.n.Tenants++
		return im.db.CreateTenant(ctx, store.Tenant{ID: t.ID, Name: t.Name, Domain: t.Domain, CreatedAt: t.CreatedAt})
	case KindUser:
		var u User
		if err := decode(b, &u); err != nil {
			return err
		}
		im.n.Users++
		return im.db.CreateUser(ctx, store.User{ObjectID: u.ObjectID, TenantID: u.TenantID, UPN: u.UPN, DisplayName: u.DisplayName,
			PasswordHash: u.PasswordHash, Admin: u.Admin, Enabled: u.Enabled, CreatedAt: u.CreatedAt})
	case KindApp:
		var a App
		if err := decode(b, &a); err != nil {
			return err
		}
		im.n.Apps++
		return im.db.CreateApp(ctx, store.App{AppID: a.AppID, ObjectID: a.ObjectID, HomeTenantID: a.HomeTenantID, DisplayName: a.DisplayName,
			SignInAudience: a.SignInAudience, RedirectURIs: a.RedirectURIs, IdentifierURIs: a.IdentifierURIs,
			AccessTokenVersion: a.AccessTokenVersion, CreatedAt: a.CreatedAt})
	case KindSecret:
		var s Secret
		if err := decode(b, &s); err != nil {
			return err
		}
		im.n.Secrets++
		return im.db.AddPassword(ctx, store.PasswordCredential{KeyID: s.KeyID, AppID: s.AppID, DisplayName: s.DisplayName, Hint: s.Hint,
			Hash: s.Hash, Start: s.Start, End: s.End})
	case KindCertificate:
		var c Certificate
		if err := decode(b, &c); err != nil {
			return err
		}
		im.n.Certificates++
		return im.db.AddKey(ctx, store.KeyCredential{KeyID: c.KeyID, AppID: c.AppID, DisplayName: c.DisplayName, CertDER: c.CertDER,
			SHA1: c.SHA1, SHA256: c.SHA256, Start: c.Start, End: c.End})
	case KindServicePrincipal:
		var sp ServicePrincipal
		if err := decode(b, &sp); err != nil {
			return err
		}
		im.n.ServicePrincipals++
		return im.db.CreateServicePrincipal(ctx, store.ServicePrincipal{ObjectID: sp.ObjectID, TenantID: sp.TenantID, AppID: sp.AppID,
			Enabled: sp.Enabled, CreatedAt: sp.CreatedAt})
	case KindResource:
		var r Resource
		if err := decode(b, &r); err != nil {
			return err
		}
		im.n.Resources++
		return im.db.PutResource(ctx, store.Resource{TenantID: r.TenantID, URI: r.URI, AppID: r.AppID, DisplayName: r.DisplayName,
			TokenVersion: r.TokenVersion, CreatedAt: r.CreatedAt})
	case KindSigningKey:
		var s SigningKey
		if err := decode(b, &s); err != nil {
			return err
		}
		if _, err := im.keys.Open(s.SealedPrivateKey); err != nil {
			return fmt.Errorf("signing key %s does not unseal with the snapshot's master key (damaged snapshot?)", s.KID)
		}
		im.n.SigningKeys++
		// notBefore far ahead: no key was created after it, so every key
		// is added (the check serves instances racing to rotate).
		return im.db.AddSigningKey(ctx, store.SigningKey{KID: s.KID, PrivateKey: s.SealedPrivateKey, CertDER: s.CertDER,
			CreatedAt: s.CreatedAt, ActivateAt: s.ActivateAt, RetireAt: s.RetireAt}, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	case KindEnvironment:
		var e Environment
		if err := decode(b, &e); err != nil {
			return err
		}
		rec := store.Environment{ID: e.ID, Name: e.Name, TenantID: e.TenantID, URL: e.URL, Authority: e.Authority, CreatedAt: e.CreatedAt}
		if !validID(e.ID) {
			return fmt.Errorf("environment id %q is not a GUID", e.ID)
		}
		if err := im.db.CreateEnvironment(ctx, rec); err != nil {
			return err
		}
		im.envs[strings.ToLower(e.ID)] = &envImport{rec: rec}
		im.n.Environments++
		return nil
	case KindEnvMeta:
		var m EnvMeta
		if err := decode(b, &m); err != nil {
			return err
		}
		return im.envMeta(ctx, m)
	case KindRow:
		var r Row
		if err := decode(b, &r); err != nil {
			return err
		}
		return im.row(ctx, r)
	case KindLink:
		var l Link
		if err := decode(b, &l); err != nil {
			return err
		}
		return im.link(ctx, l)
	case KindEnd:
		var e End
		if err := decode(b, &e); err != nil {
			return err
		}
		if e.Lines != im.line-1 {
			return fmt.Errorf("the end line counts %d lines before it, the file has %d: damaged snapshot", e.Lines, im.line-1)
		}
		im.end = true
		return nil
	}
	return fmt.Errorf("unknown record kind %q (written by a newer dvs2s?)", k.Kind)
}

func (im *importer) masterKey(ctx context.Context, m MasterKey) error {
	if im.keys != nil {
		return errors.New("a second master key")
	}
	master, err := hex.DecodeString(m.Hex)
	if err != nil || len(master) != 32 {
		return errors.New("the master key is not 64 hexadecimal characters")
	}
	if im.opts.MasterKey != "" {
		env, err := secret.LoadOrCreateMaster("", im.opts.MasterKey)
		if err != nil {
			return fmt.Errorf("DVS2S_MASTER_KEY: %w", err)
		}
		if !bytes.Equal(env, master) {
			return errors.New("DVS2S_MASTER_KEY differs from the snapshot's master key: the snapshot's secret hashes and signing keys need its own key (unset DVS2S_MASTER_KEY to write it to master.key, or set it to the snapshot's)")
		}
	} else if err := os.WriteFile(filepath.Join(im.dir, "master.key"), []byte(hex.EncodeToString(master)+"\n"), 0o600); err != nil {
		return err
	}
	if im.keys, err = secret.NewKeys(master); err != nil {
		return err
	}
	if im.db, err = openStore(ctx, im.dir, im.opts.Database); err != nil {
		return err
	}
	if im.opts.Database != "" {
		return checkEmptyStore(ctx, im.db) // again: another import may have run since
	}
	return nil
}

// file writes one of the files a snapshot may carry, and no other.
func (im *importer) file(f File) error {
	p := f.Path
	if !(p == "ca.pem" || p == "ca-key.pem" || (strings.HasPrefix(p, "demo/") && validFileName(strings.TrimPrefix(p, "demo/")))) {
		return fmt.Errorf("file %q: a snapshot carries ca.pem, ca-key.pem and demo/<name> only", p)
	}
	if im.files == nil {
		im.files = map[string]bool{}
	}
	if im.files[p] {
		return fmt.Errorf("file %q twice", p)
	}
	im.files[p] = true
	full := filepath.Join(im.dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
		return err
	}
	im.n.Files++
	return os.WriteFile(full, f.Data, 0o600)
}

// env returns the state of an environment's import, opening its database
// on first use; an environment's lines must not be interleaved with
// another's.
func (im *importer) env(ctx context.Context, id string) (*envImport, error) {
	e, ok := im.envs[strings.ToLower(id)]
	if !ok {
		return nil, fmt.Errorf("environment %q: no environment line before it", id)
	}
	if im.lastEnvID != "" && !strings.EqualFold(im.lastEnvID, id) {
		prev := im.envs[strings.ToLower(im.lastEnvID)]
		if err := im.flush(ctx, prev); err != nil {
			return nil, err
		}
		closeData(prev.data)
		prev.data = nil
		prev.schema = nil
	}
	im.lastEnvID = id
	if e.data == nil {
		if e.schema != nil || e.rows != nil {
			return nil, fmt.Errorf("environment %s: its lines are not together", e.rec.Name)
		}
		d, _, err := openData(ctx, im.db, im.dir, e.rec.ID, true)
		if err != nil {
			return nil, err
		}
		e.data = d
		e.rows = []pendingRow{}
	}
	return e, nil
}

func (im *importer) envMeta(ctx context.Context, m EnvMeta) error {
	e, err := im.env(ctx, m.EnvironmentID)
	if err != nil {
		return err
	}
	if e.schema != nil {
		return fmt.Errorf("environment %s: metadata after its rows", e.rec.Name)
	}
	v := []byte(m.Base64)
	if m.JSON != nil {
		v = m.JSON
	}
	return e.data.SetMeta(ctx, m.Key, v)
}

// ready loads the environment's schema (system tables and the custom ones
// of its metadata, all of which came before) and creates its tables.
func (im *importer) ready(ctx context.Context, e *envImport) error {
	if e.schema != nil {
		return nil
	}
	s, err := environment.SchemaOf(ctx, e.data)
	if err != nil {
		return err
	}
	if err := e.data.Sync(ctx, s); err != nil {
		return err
	}
	e.schema = s
	return nil
}

func (im *importer) row(ctx context.Context, r Row) error {
	e, err := im.env(ctx, r.EnvironmentID)
	if err != nil {
		return err
	}
	if err := im.ready(ctx, e); err != nil {
		return err
	}
	if e.linked {
		return fmt.Errorf("environment %s: a row after its links", e.rec.Name)
	}
	t := e.schema.Table(r.Table)
	if t == nil {
		return fmt.Errorf("environment %s: unknown table %q", e.rec.Name, r.Table)
	}
	row, err := decodeRow(t, r.Values)
	if err != nil {
		return fmt.Errorf("environment %s: %w", e.rec.Name, err)
	}
	if _, ok := row[t.PrimaryID].(string); !ok {
		return fmt.Errorf("environment %s: a row of %s without %s", e.rec.Name, t.LogicalName, t.PrimaryID)
	}
	e.rows = append(e.rows, pendingRow{t: t, r: row})
	im.n.Rows++
	if len(e.rows) >= batchSize {
		return im.flush(ctx, e)
	}
	return nil
}

func (im *importer) link(ctx context.Context, l Link) error {
	e, err := im.env(ctx, l.EnvironmentID)
	if err != nil {
		return err
	}
	if err := im.ready(ctx, e); err != nil {
		return err
	}
	if m2m(e.schema, l.Relationship) == nil {
		return fmt.Errorf("environment %s: unknown relationship %q", e.rec.Name, l.Relationship)
	}
	if err := im.flushRows(ctx, e); err != nil {
		return err
	}
	e.linked = true
	e.links = append(e.links, [3]string{l.Relationship, l.ID1, l.ID2})
	im.n.Links++
	if len(e.links) >= batchSize {
		return im.flush(ctx, e)
	}
	return nil
}

func m2m(s *schema.Schema, name string) *schema.ManyToMany {
	for _, m := range s.ManyToManys() {
		if m.SchemaName == name {
			return m
		}
	}
	return nil
}

func (im *importer) flushAll(ctx context.Context) error {
	for _, e := range im.envs {
		if err := im.flush(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// flush writes the environment's pending rows, then its pending links,
// each batch in one transaction.
func (im *importer) flush(ctx context.Context, e *envImport) error {
	if err := im.flushRows(ctx, e); err != nil {
		return err
	}
	if len(e.links) == 0 {
		return nil
	}
	links := e.links
	err := e.data.InTx(ctx, func(d store.Data) error {
		for _, l := range links {
			if err := d.Associate(ctx, m2m(e.schema, l[0]), l[1], l[2]); err != nil {
				return fmt.Errorf("link %s %s–%s: %w", l[0], l[1], l[2], err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("environment %s: %w", e.rec.Name, err)
	}
	e.links = e.links[:0]
	return nil
}

func (im *importer) flushRows(ctx context.Context, e *envImport) error {
	if len(e.rows) == 0 {
		return nil
	}
	rows := e.rows
	err := e.data.InTx(ctx, func(d store.Data) error {
		for _, p := range rows {
			if _, err := d.Insert(ctx, p.t, p.r); err != nil {
				return fmt.Errorf("row %s %v: %w", p.t.LogicalName, p.r[p.t.PrimaryID], err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("environment %s: %w", e.rec.Name, err)
	}
	e.rows = e.rows[:0]
	return nil
}

// decodeRow decodes a row's values by their columns' types.
func decodeRow(t *schema.Table, vals map[string]json.RawMessage) (store.Row, error) {
	r := make(store.Row, len(vals))
	for k, raw := range vals {
		c := t.Column(k)
		if c == nil {
			return nil, fmt.Errorf("table %s has no column %q in this dvs2s version", t.LogicalName, k)
		}
		v, err := decodeValue(c, raw)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", t.LogicalName, k, err)
		}
		r[k] = v
	}
	return r, nil
}

func decodeValue(c *schema.Column, raw json.RawMessage) (any, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	d.DisallowUnknownFields()
	switch c.Type {
	case schema.Integer, schema.BigInt, schema.Choice, schema.State, schema.Status:
		var n json.Number
		if err := d.Decode(&n); err != nil {
			return nil, err
		}
		return n.Int64()
	case schema.Decimal, schema.Double, schema.Money:
		var n json.Number
		if err := d.Decode(&n); err != nil {
			return nil, err
		}
		return n.Float64()
	case schema.Boolean:
		var b bool
		err := d.Decode(&b)
		return b, err
	case schema.DateTime:
		var s string
		if err := d.Decode(&s); err != nil {
			return nil, err
		}
		tm, err := time.Parse(time.RFC3339, s)
		return tm.UTC(), err
	case schema.Lookup, schema.Owner, schema.Customer:
		var ref refValue
		if err := d.Decode(&ref); err != nil {
			return nil, err
		}
		return store.Ref{ID: ref.ID, Table: ref.Table}, nil
	}
	var s string
	err := d.Decode(&s)
	return s, err
}

// validID accepts a GUID (an environment id names its database file).
func validID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}
