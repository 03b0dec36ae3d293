package environment

import "github.com/dvs2s/dvs2s/store"

// WithData returns a view of the environment whose Data is d, typically a
// transaction (a Web API $batch change set): everything read or written
// through the view — by the Web API or by the environment's own helpers —
// sees the transaction's uncommitted rows. The view shares the
// environment's schema as it is now.
func (e *Env) WithData(d store.Data) *Env {
	v := &Env{Environment: e.Environment, Data: d, RootBU: e.RootBU, System: e.System, m: e.m}
	v.schema.Store(e.schema.Load())
	return v
}
