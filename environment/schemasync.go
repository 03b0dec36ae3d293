package environment

import (
	"context"
	"crypto/rand"
	"sync"
	"time"
)

// Several processes may serve one environment: instances sharing a
// PostgreSQL database, or an administration command next to the server
// on the same SQLite files. A process that changes the custom schema
// (AddTable, AddColumn) stamps the environment's metadata; the others
// compare the stamp when Open is called, at most once per second per
// environment, and reload the schema when it moved.

// schemaStampKey is the metadata key of the schema stamp.
const schemaStampKey = "schema/stamp"

// stamps holds, per open environment, the stamp its schema was loaded at
// and when it was last compared.
var stamps sync.Map // *Env → stampSeen

type stampSeen struct {
	stamp   string
	checked time.Time
}

// stampCheckEvery is how often refreshSchema reads the stamp.
const stampCheckEvery = time.Second

// touchSchema records a change of e's custom schema for the other
// processes.
func (e *Env) touchSchema(ctx context.Context) error {
	b := make([]byte, 16)
	rand.Read(b)
	if err := e.Data.SetMeta(ctx, schemaStampKey, b); err != nil {
		return err
	}
	stamps.Store(e, stampSeen{string(b), time.Now()})
	return nil
}

// refreshSchema reloads e's schema (and creates any table or column it
// lacks) if another process changed it since e last loaded it.
func (e *Env) refreshSchema(ctx context.Context) error {
	now := time.Now()
	v, seen := stamps.Load(e)
	if seen && now.Sub(v.(stampSeen).checked) < stampCheckEvery && now.After(v.(stampSeen).checked) {
		return nil
	}
	m, err := e.Data.Meta(ctx, schemaStampKey)
	if err != nil {
		return err
	}
	cur := string(m[schemaStampKey])
	if seen && v.(stampSeen).stamp == cur {
		stamps.Store(e, stampSeen{cur, now})
		return nil
	}
	s, err := e.loadSchema(ctx)
	if err != nil {
		return err
	}
	if err := e.Data.Sync(ctx, s); err != nil {
		return err
	}
	e.schema.Store(s)
	stamps.Store(e, stampSeen{cur, now})
	return nil
}
