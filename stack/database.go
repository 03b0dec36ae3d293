package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/postgres"
	"github.com/dvs2s/dvs2s/store/sqlite"
)

// OpenStore opens the store a stack (or an administration command) with
// data directory dataDir and database URL database uses: PostgreSQL when
// database is a postgres:// URL — identity tables in the URL's database,
// each environment in a schema of its own, shared by every instance
// pointed at it — else the embedded SQLite database <dataDir>/dvs2s.db
// (environments in <dataDir>/env/<id>.db).
//
// Several instances sharing one PostgreSQL database must share the master
// key (Config.MasterKey, DVS2S_MASTER_KEY) — signing keys and secrets are
// sealed with it — and, behind a load balancer, the public URL: the same
// --host and --port, and a TLS certificate the clients trust.
func OpenStore(ctx context.Context, dataDir, database string) (store.Store, error) {
	switch {
	case database == "":
		db, err := sqlite.Open(ctx, filepath.Join(dataDir, "dvs2s.db"))
		if err != nil {
			return nil, err
		}
		return db, nil
	case postgres.IsURL(database):
		db, err := postgres.Open(ctx, database)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	return nil, fmt.Errorf("database %q: use a postgres:// URL, or nothing for the embedded SQLite database", redactURL(database))
}

func openStore(ctx context.Context, c Config) (store.Store, error) {
	return OpenStore(ctx, c.DataDir, c.Database)
}

// redactURL hides a password in a URL-like string.
func redactURL(s string) string {
	if i, j := strings.Index(s, "://"), strings.LastIndex(s, "@"); i >= 0 && j > i {
		return s[:i+3] + "…" + s[j:]
	}
	return s
}
