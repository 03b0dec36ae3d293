// Package pgtest gives tests a PostgreSQL database of their own.
//
// DVS2S_TEST_DATABASE is the URL of a database the tests may use, as a
// role allowed to create databases and schemas (.ci/postgres.sh starts a
// server and sets it). Without it, or when the server does not answer,
// tests that need PostgreSQL are skipped — unless CI=true, where they fail:
// CI must run them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable holding the test database's URL.
const Env = "DVS2S_TEST_DATABASE"

// BaseURL returns the test database's URL, after checking the server
// answers; it skips (or, under CI=true, fails) the test otherwise.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		unavailable(t, Env+" is not set (source .ci/postgres.sh to start a server)")
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		unavailable(t, "PostgreSQL at "+Env+" does not answer: "+err.Error())
		return ""
	}
	c.Close(ctx)
	return u
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must run the PostgreSQL tests", why)
	}
	t.Skip(why)
}

func randomName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "dvs2s_t_" + hex.EncodeToString(b)
}

func exec(t testing.TB, base, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// NewDatabase creates an empty database, returns its URL (the test
// database's with another name) and drops it when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	name := randomName()
	exec(t, base, `CREATE DATABASE "`+name+`"`)
	t.Cleanup(func() { exec(t, base, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", Env, err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewSchema creates an empty schema in the test database and returns a URL
// whose search_path is that schema; the schema, and the environment
// schemas a store made next to it (named after it), are dropped when the
// test ends. Cheaper than NewDatabase.
func NewSchema(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	name := randomName()
	exec(t, base, `CREATE SCHEMA "`+name+`"`)
	t.Cleanup(func() {
		exec(t, base, `DO $$ DECLARE s text; BEGIN
			FOR s IN SELECT nspname FROM pg_namespace WHERE nspname = '`+name+`' OR starts_with(nspname, '`+name+`_') LOOP
				EXECUTE 'DROP SCHEMA ' || quote_ident(s) || ' CASCADE';
			END LOOP; END $$`)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", Env, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Redact hides the password of a database URL, for logs.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "xxx")
	}
	return strings.Replace(p.String(), "xxx", "****", 1)
}
