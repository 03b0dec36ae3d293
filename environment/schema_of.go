package environment

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dvs2s/dvs2s/schema"
)

// SchemaOf returns the schema of the environment whose metadata d holds:
// the system tables plus the custom tables stored there, as Open loads it
// (loadSchema), without provisioning anything. Snapshots use it to read and
// write an environment's rows.
func SchemaOf(ctx context.Context, d interface {
	Meta(ctx context.Context, prefix string) (map[string][]byte, error)
}) (*schema.Schema, error) {
	docs, err := d.Meta(ctx, customPrefix)
	if err != nil {
		return nil, err
	}
	sys := schema.System()
	if len(docs) == 0 {
		return sys, nil
	}
	var tables []*schema.Table
	var rels []*schema.Relationship
	for k, b := range docs {
		var ct CustomTable
		if err := json.Unmarshal(b, &ct); err != nil || ct.Table == nil {
			return nil, fmt.Errorf("custom table %s: bad definition: %v", k, err)
		}
		tables = append(tables, ct.Table)
		rels = append(rels, ct.Relationships...)
	}
	return sys.With(tables, rels, nil)
}
