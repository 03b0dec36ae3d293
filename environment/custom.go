package environment

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/dvs2s/dvs2s/schema"
)

// customMu serialises changes to custom table definitions (AddColumn reads
// the stored definition, changes it and writes it back).
var customMu sync.Mutex

// CustomTables returns the stored definitions of the custom tables, by
// logical name.
func (e *Env) CustomTables(ctx context.Context) (map[string]CustomTable, error) {
	docs, err := e.Data.Meta(ctx, customPrefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]CustomTable, len(docs))
	for k, b := range docs {
		var ct CustomTable
		if err := json.Unmarshal(b, &ct); err != nil || ct.Table == nil {
			return nil, fmt.Errorf("custom table %s: bad definition: %v", k, err)
		}
		out[ct.Table.LogicalName] = ct
	}
	return out, nil
}

// AddColumn adds a column to a custom table, with the relationships it
// takes part in when it is a lookup (stored with the table that has the
// column): the definition is stored, the SQL column created and the schema
// swapped. Columns of system tables cannot be added.
func (e *Env) AddColumn(ctx context.Context, table string, c *schema.Column, rels []*schema.Relationship) error {
	customMu.Lock()
	defer customMu.Unlock()
	cur := e.Schema()
	t := cur.Table(table)
	if t == nil || !t.Custom {
		return fmt.Errorf("%w: %s is not a custom table", ErrInvalid, table)
	}
	docs, err := e.CustomTables(ctx)
	if err != nil {
		return err
	}
	doc, ok := docs[table]
	if !ok {
		return fmt.Errorf("%w: custom table %s has no stored definition", ErrInvalid, table)
	}
	nt := t.WithColumn(c)
	next, err := cur.Replace(nt, rels)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	b, err := json.Marshal(CustomTable{Table: nt, Relationships: append(append([]*schema.Relationship{}, doc.Relationships...), rels...)})
	if err != nil {
		return err
	}
	if err := e.Data.Sync(ctx, next); err != nil {
		return err
	}
	if err := e.Data.SetMeta(ctx, customPrefix+table, b); err != nil {
		return err
	}
	if err := e.touchSchema(ctx); err != nil { // see schemasync.go
		return err
	}
	e.schema.Store(next)
	return nil
}
