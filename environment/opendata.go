package environment

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/sqlite"
)

// DataOpener is a store that also keeps the environments' rows (the
// PostgreSQL store: one schema per environment in the same database).
type DataOpener interface {
	OpenData(ctx context.Context, envID string) (store.Data, error)
}

// openData opens an environment's rows: with m.OpenData if set, else with
// the store's OpenData if it has one, else in the SQLite file
// <Root>/<id>.db.
func (m *Manager) openData(ctx context.Context, envID string) (store.Data, error) {
	if m.OpenData != nil {
		return m.OpenData(ctx, envID)
	}
	if o, ok := m.Store.(DataOpener); ok {
		return o.OpenData(ctx, envID)
	}
	if err := os.MkdirAll(m.Root, 0o700); err != nil {
		return nil, err
	}
	d, err := sqlite.OpenData(ctx, filepath.Join(m.Root, envID+".db"))
	if err != nil {
		return nil, err
	}
	if m.ReadCache != 0 {
		if err := d.SetReadCache(ctx, m.ReadCache); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// closeData closes an environment's rows if they hold resources of their
// own (an SQLite file does; a PostgreSQL schema shares the store's pool).
func closeData(d store.Data) error {
	if c, ok := d.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
