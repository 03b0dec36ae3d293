package e2e

import (
	"os"
	"sync"
	"testing"

	"github.com/dvs2s/dvs2s/store/postgres/pgtest"
)

// DVS2S_E2E_POSTGRES=1 runs every stack the e2e tests start on PostgreSQL
// (a new database per data directory, in DVS2S_TEST_DATABASE's server)
// instead of SQLite: the whole suite then checks the Web API and the
// identity service on the other engine. CI runs the suite on SQLite and
// the PostgreSQL-specific tests (postgres_*_test.go); run this by hand
// after changing store/postgres:
//
//	source .ci/postgres.sh && DVS2S_E2E_POSTGRES=1 go test ./e2e
const e2ePostgresEnv = "DVS2S_E2E_POSTGRES"

var pgDatabases sync.Map // data directory → database URL

// stackDatabase is the database URL of a stack started in dir: "" (SQLite)
// unless DVS2S_E2E_POSTGRES is set; the same database every time the same
// directory starts again.
func stackDatabase(t testing.TB, dir string) string {
	if os.Getenv(e2ePostgresEnv) == "" {
		return ""
	}
	if u, ok := pgDatabases.Load(dir); ok {
		return u.(string)
	}
	u := pgtest.NewDatabase(t)
	pgDatabases.Store(dir, u)
	return u
}

// sqliteOnly skips a test that inspects the SQLite files when the stacks
// run on PostgreSQL.
func sqliteOnly(t testing.TB) {
	if os.Getenv(e2ePostgresEnv) != "" {
		t.Skip("inspects the SQLite database files; the stacks run on PostgreSQL (" + e2ePostgresEnv + ")")
	}
}
