package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/stack"
)

// openDatabase is open for --database (DVS2S_DATABASE): the store is the
// PostgreSQL database the servers share; the data directory (or
// DVS2S_MASTER_KEY) still holds the master key. A database without
// tenants counts as new: with create, a missing master key is then
// created; otherwise a missing key is an error, since a new key would not
// open the secrets already stored.
func (c *adminCall) openDatabase(create, keys bool) (*directory.Directory, func(), error) {
	db, err := stack.OpenStore(c.ctx, c.data, c.database)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*directory.Directory, func(), error) {
		db.Close()
		return nil, nil, err
	}
	tenants, err := db.ListTenants(c.ctx)
	if err != nil {
		return fail(err)
	}
	fresh := len(tenants) == 0
	if fresh && !create {
		return fail(errors.New("the database has no tenants yet: start the server on it ('dvs2s serve --database ...') or create a tenant first"))
	}
	d := &directory.Directory{Store: db}
	if fresh || keys {
		keyFile := filepath.Join(c.data, "master.key")
		envKey := os.Getenv("DVS2S_MASTER_KEY")
		if _, err := os.Stat(keyFile); envKey == "" && errors.Is(err, os.ErrNotExist) {
			if !fresh {
				return fail(fmt.Errorf("%s does not exist: set DVS2S_MASTER_KEY to the master key the servers use, or point --data at a directory holding it; refusing to create a new key, which would not match the secrets already stored", keyFile))
			}
			if err := os.MkdirAll(c.data, 0o700); err != nil {
				return fail(fmt.Errorf("data directory: %w", err))
			}
		}
		master, err := secret.LoadOrCreateMaster(keyFile, envKey)
		if err != nil {
			return fail(err)
		}
		if d.Keys, err = secret.NewKeys(master); err != nil {
			return fail(err)
		}
	}
	return d, func() { db.Close() }, nil
}
