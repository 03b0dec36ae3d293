package snapshot

import (
	"bufio"
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
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store"
)

// ExportOptions configure Export.
type ExportOptions struct {
	// MasterKey (64 hex characters) is the master key when the server
	// takes it from DVS2S_MASTER_KEY rather than from <dir>/master.key.
	MasterKey string
	// Database is the stack's PostgreSQL URL (--database); empty means
	// the data directory's SQLite databases.
	Database string
	// Gzip compresses the snapshot.
	Gzip bool
	// Now is the clock (header time, which signing keys are retired);
	// nil means time.Now.
	Now func() time.Time
}

// pageSize is how many rows Export reads per query.
const pageSize = 1000

// Export writes a snapshot of the data directory dir to w. The server may
// be stopped or running; while it runs, the snapshot is consistent within
// each database but not across them (stop it for an exact copy).
func Export(ctx context.Context, dir string, w io.Writer, o ExportOptions) (Counts, error) {
	var n Counts
	if o.Database == "" {
		if _, err := os.Stat(filepath.Join(dir, "dvs2s.db")); err != nil {
			return n, fmt.Errorf("%s is not a dvs2s data directory (no dvs2s.db): %w", dir, err)
		}
	}
	master, err := readMaster(dir, o.MasterKey)
	if err != nil {
		return n, err
	}
	keys, err := secret.NewKeys(master)
	if err != nil {
		return n, err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	db, err := openStore(ctx, dir, o.Database)
	if err != nil {
		return n, err
	}
	defer db.Close()

	bw := bufio.NewWriterSize(w, 64<<10)
	var out io.Writer = bw
	var gz *gzip.Writer
	if o.Gzip {
		gz = gzip.NewWriter(bw)
		out = gz
	}
	e := &encoder{enc: json.NewEncoder(out)}
	e.enc.SetEscapeHTML(false)

	e.put(Header{Kind: KindHeader, Format: Format, Version: Version, CreatedAt: now().UTC(), Warning: Warning})
	e.put(MasterKey{Kind: KindMasterKey, Hex: hex.EncodeToString(master)})
	if err := exportFiles(dir, e, &n); err != nil {
		return n, err
	}
	if err := exportIdentity(ctx, db, keys, now(), e, &n); err != nil {
		return n, err
	}
	envs, err := db.ListEnvironments(ctx)
	if err != nil {
		return n, err
	}
	for _, v := range envs {
		e.put(Environment{Kind: KindEnvironment, ID: v.ID, Name: v.Name, TenantID: v.TenantID, URL: v.URL, Authority: v.Authority, CreatedAt: v.CreatedAt})
		n.Environments++
	}
	for _, v := range envs {
		if err := exportEnvironment(ctx, db, dir, v, e, &n); err != nil {
			return n, fmt.Errorf("environment %s: %w", v.Name, err)
		}
	}
	e.put(End{Kind: KindEnd, Lines: e.lines})
	if e.err != nil {
		return n, e.err
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return n, err
		}
	}
	return n, bw.Flush()
}

// readMaster returns the master key a server on dir uses: env (from
// DVS2S_MASTER_KEY) when set, else <dir>/master.key, which must exist.
func readMaster(dir, env string) ([]byte, error) {
	file := filepath.Join(dir, "master.key")
	if env == "" {
		if _, err := os.Stat(file); err != nil {
			return nil, fmt.Errorf("no master key: %w (set DVS2S_MASTER_KEY if the server takes it from the environment)", err)
		}
	}
	return secret.LoadOrCreateMaster(file, env)
}

// encoder writes JSON lines and remembers the first error.
type encoder struct {
	enc   *json.Encoder
	lines int
	err   error
}

func (e *encoder) put(v any) {
	if e.err != nil {
		return
	}
	if e.err = e.enc.Encode(v); e.err == nil {
		e.lines++
	}
}

// exportFiles writes the local CA and the demo's files.
func exportFiles(dir string, e *encoder, n *Counts) error {
	paths := []string{"ca.pem", "ca-key.pem"}
	ents, err := os.ReadDir(filepath.Join(dir, "demo"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, d := range ents {
		if d.Type().IsRegular() && validFileName(d.Name()) {
			paths = append(paths, "demo/"+d.Name())
		}
	}
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		e.put(File{Kind: KindFile, Path: p, Data: b})
		n.Files++
	}
	return nil
}

// exportIdentity writes the identity model.
func exportIdentity(ctx context.Context, db store.Store, keys *secret.Keys, now time.Time, e *encoder, n *Counts) error {
	tenants, err := db.ListTenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range tenants {
		e.put(Tenant{Kind: KindTenant, ID: t.ID, Name: t.Name, Domain: t.Domain, CreatedAt: t.CreatedAt})
		n.Tenants++
	}
	for _, t := range tenants {
		users, err := db.ListUsers(ctx, t.ID)
		if err != nil {
			return err
		}
		for _, u := range users {
			e.put(User{Kind: KindUser, ObjectID: u.ObjectID, TenantID: u.TenantID, UPN: u.UPN, DisplayName: u.DisplayName,
				PasswordHash: u.PasswordHash, Admin: u.Admin, Enabled: u.Enabled, CreatedAt: u.CreatedAt})
			n.Users++
		}
	}
	apps, err := db.ListApps(ctx, "")
	if err != nil {
		return err
	}
	for _, a := range apps {
		e.put(App{Kind: KindApp, AppID: a.AppID, ObjectID: a.ObjectID, HomeTenantID: a.HomeTenantID, DisplayName: a.DisplayName,
			SignInAudience: a.SignInAudience, RedirectURIs: a.RedirectURIs, IdentifierURIs: a.IdentifierURIs,
			AccessTokenVersion: a.AccessTokenVersion, CreatedAt: a.CreatedAt})
		n.Apps++
	}
	for _, a := range apps {
		ps, err := db.Passwords(ctx, a.AppID)
		if err != nil {
			return err
		}
		for _, p := range ps {
			e.put(Secret{Kind: KindSecret, KeyID: p.KeyID, AppID: p.AppID, DisplayName: p.DisplayName, Hint: p.Hint, Hash: p.Hash, Start: p.Start, End: p.End})
			n.Secrets++
		}
	}
	for _, a := range apps {
		ks, err := db.Keys(ctx, a.AppID)
		if err != nil {
			return err
		}
		for _, k := range ks {
			e.put(Certificate{Kind: KindCertificate, KeyID: k.KeyID, AppID: k.AppID, DisplayName: k.DisplayName, CertDER: k.CertDER,
				SHA1: k.SHA1, SHA256: k.SHA256, Start: k.Start, End: k.End})
			n.Certificates++
		}
	}
	sps, err := db.ListServicePrincipals(ctx, "")
	if err != nil {
		return err
	}
	for _, sp := range sps {
		e.put(ServicePrincipal{Kind: KindServicePrincipal, ObjectID: sp.ObjectID, TenantID: sp.TenantID, AppID: sp.AppID, Enabled: sp.Enabled, CreatedAt: sp.CreatedAt})
		n.ServicePrincipals++
	}
	rs, err := db.ListResources(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range rs {
		e.put(Resource{Kind: KindResource, TenantID: r.TenantID, URI: r.URI, AppID: r.AppID, DisplayName: r.DisplayName, TokenVersion: r.TokenVersion, CreatedAt: r.CreatedAt})
		n.Resources++
	}
	sks, err := db.SigningKeys(ctx, now)
	if err != nil {
		return err
	}
	slices.Reverse(sks) // oldest first, as they were created
	for _, k := range sks {
		if _, err := keys.Open(k.PrivateKey); err != nil {
			return fmt.Errorf("signing key %s does not unseal with this master key: give the server's (DVS2S_MASTER_KEY)", k.KID)
		}
		e.put(SigningKey{Kind: KindSigningKey, KID: k.KID, SealedPrivateKey: k.PrivateKey, CertDER: k.CertDER,
			CreatedAt: k.CreatedAt, ActivateAt: k.ActivateAt, RetireAt: k.RetireAt})
		n.SigningKeys++
	}
	return e.err
}

// exportEnvironment writes an environment's metadata, rows and links. An
// environment never opened has no SQLite database yet, and nothing to
// write: the restored stack provisions it.
func exportEnvironment(ctx context.Context, db store.Store, dir string, env store.Environment, e *encoder, n *Counts) error {
	d, ok, err := openData(ctx, db, dir, env.ID, false)
	if err != nil || !ok {
		return err
	}
	defer closeData(d)
	meta, err := d.Meta(ctx, "")
	if err != nil {
		return err
	}
	mkeys := make([]string, 0, len(meta))
	for k := range meta {
		mkeys = append(mkeys, k)
	}
	sort.Strings(mkeys)
	for _, k := range mkeys {
		m := EnvMeta{Kind: KindEnvMeta, EnvironmentID: env.ID, Key: k}
		if json.Valid(meta[k]) {
			m.JSON = json.RawMessage(meta[k])
		} else {
			m.Base64 = meta[k]
		}
		e.put(m)
	}
	s, err := environment.SchemaOf(ctx, d)
	if err != nil {
		return err
	}
	// What a server opening the environment does first; it creates the
	// tables and columns an older database lacks, so every query below
	// has its table.
	if err := d.Sync(ctx, s); err != nil {
		return err
	}
	tables := s.Tables()
	sort.Slice(tables, func(i, j int) bool { return tables[i].LogicalName < tables[j].LogicalName })
	for _, t := range tables {
		for off := 0; ; off += pageSize {
			rows, err := d.Query(ctx, t, store.Query{OrderBy: []store.Order{{Column: t.PrimaryID}}, Limit: pageSize, Offset: off})
			if err != nil {
				return fmt.Errorf("table %s: %w", t.LogicalName, err)
			}
			for _, r := range rows {
				vals, err := encodeRow(t, r)
				if err != nil {
					return err
				}
				e.put(Row{Kind: KindRow, EnvironmentID: env.ID, Table: t.LogicalName, Values: vals})
				n.Rows++
			}
			if len(rows) < pageSize {
				break
			}
		}
	}
	for _, m := range s.ManyToManys() {
		t1, t2 := s.Table(m.Entity1), s.Table(m.Entity2)
		if t1 == nil || t2 == nil {
			return fmt.Errorf("relationship %s: unknown table", m.SchemaName)
		}
		// For every row on the Entity2 side (roles, teams: the few), the
		// Entity1 rows linked to it.
		seconds, err := d.Query(ctx, t2, store.Query{Columns: []string{t2.PrimaryID}, OrderBy: []store.Order{{Column: t2.PrimaryID}}})
		if err != nil {
			return err
		}
		for _, r2 := range seconds {
			id2, _ := r2[t2.PrimaryID].(string)
			firsts, err := d.Query(ctx, t1, store.Query{Columns: []string{t1.PrimaryID}, OrderBy: []store.Order{{Column: t1.PrimaryID}},
				Where: store.Linked{Intersect: m.Intersect, ThisCol: m.Entity1Col, OtherCol: m.Entity2Col, Target: t2,
					Where: store.Compare{Column: t2.PrimaryID, Op: "eq", Value: id2}}})
			if err != nil {
				return fmt.Errorf("relationship %s: %w", m.SchemaName, err)
			}
			for _, r1 := range firsts {
				id1, _ := r1[t1.PrimaryID].(string)
				e.put(Link{Kind: KindLink, EnvironmentID: env.ID, Relationship: m.SchemaName, ID1: id1, ID2: id2})
				n.Links++
			}
		}
	}
	return e.err
}

// encodeRow encodes a row's non-null values as the format says.
func encodeRow(t *schema.Table, r store.Row) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(r))
	for k, v := range r {
		if v == nil {
			continue
		}
		var b []byte
		var err error
		switch x := v.(type) {
		case store.Ref:
			b, err = json.Marshal(refValue{ID: x.ID, Table: x.Table})
		case time.Time:
			b, err = json.Marshal(x.UTC().Format(timeFormat))
		case string, int64, float64, bool, int:
			b, err = json.Marshal(x)
		default:
			err = fmt.Errorf("unsupported value type %T", v)
		}
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", t.LogicalName, k, err)
		}
		out[k] = b
	}
	return out, nil
}

// validFileName accepts the plain file names a snapshot may carry in demo/.
func validFileName(s string) bool {
	if s == "" || s[0] == '.' || len(s) > 100 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}
