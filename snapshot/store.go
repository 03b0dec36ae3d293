package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/postgres"
	"github.com/dvs2s/dvs2s/store/sqlite"
)

// openStore opens the store of a stack, as the stack does: the PostgreSQL
// database when database is a postgres:// URL, else <dir>/dvs2s.db.
func openStore(ctx context.Context, dir, database string) (store.Store, error) {
	if database == "" {
		return sqlite.Open(ctx, filepath.Join(dir, "dvs2s.db"))
	}
	if !postgres.IsURL(database) {
		return nil, errors.New("the database must be a postgres:// URL, or nothing for the data directory's SQLite database")
	}
	return postgres.Open(ctx, database)
}

// openData opens an environment's rows: in the store when it keeps them
// (PostgreSQL: a schema per environment), else in <dir>/env/<id>.db. With
// create false, a missing SQLite file is not created: ok is then false
// (an environment never opened, whose rows the next start provisions).
func openData(ctx context.Context, db store.Store, dir, envID string, create bool) (d store.Data, ok bool, err error) {
	if o, isOpener := db.(environment.DataOpener); isOpener {
		d, err := o.OpenData(ctx, envID)
		return d, err == nil, err
	}
	path := filepath.Join(dir, "env", envID+".db")
	if !create {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	sd, err := sqlite.OpenData(ctx, path)
	if err != nil {
		return nil, false, err
	}
	return sd, true, nil
}

// closeData closes an environment's rows if they hold resources of their
// own (an SQLite file does; a PostgreSQL schema shares the store's pool).
func closeData(d store.Data) error {
	if c, ok := d.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// checkEmptyStore accepts a store with no tenant and no environment.
func checkEmptyStore(ctx context.Context, db store.Store) error {
	ts, err := db.ListTenants(ctx)
	if err != nil {
		return err
	}
	es, err := db.ListEnvironments(ctx)
	if err != nil {
		return err
	}
	if len(ts) > 0 || len(es) > 0 {
		return fmt.Errorf("the database is not empty (%d tenants, %d environments): import seeds a new database", len(ts), len(es))
	}
	return nil
}
