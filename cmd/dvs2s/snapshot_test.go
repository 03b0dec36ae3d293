package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/store/postgres/pgtest"
)

// newDataDir starts and stops a stack on a new data directory.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := stack.Start(context.Background(), stack.Config{DataDir: dir, Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSnapshotCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack")
	}
	t.Setenv("DVS2S_MASTER_KEY", "")
	data := newDataDir(t)
	file := filepath.Join(t.TempDir(), "snap.jsonl.gz")
	cli := func(args ...string) (int, string, string) {
		var so, se bytes.Buffer
		code := run(context.Background(), args, &so, &se)
		return code, so.String(), se.String()
	}
	code, out, errOut := cli("snapshot", "export", "--data", data, file)
	if code != 0 || !strings.Contains(out, "exported") || !strings.Contains(out, "key material") {
		t.Fatalf("export: %d %q %q", code, out, errOut)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(file); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Error(".gz: not gzip")
	}
	if code, _, errOut := cli("snapshot", "export", "--data", data, file); code != 1 || !strings.Contains(errOut, "--force") {
		t.Errorf("export over an existing file: %d %q", code, errOut)
	}
	if code, _, errOut := cli("snapshot", "export", "--data", data, "--force", file); code != 0 {
		t.Errorf("export --force: %d %q", code, errOut)
	}
	if code, _, _ := cli("snapshot", "export", "--data", data); code != 2 {
		t.Errorf("export without a file: %d, want 2", code)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	code, out, errOut = cli("snapshot", "import", file, "--data", restored)
	if code != 0 || !strings.Contains(out, "imported") || !strings.Contains(out, "dvs2s serve --data "+restored) {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cli("snapshot", "import", file, "--data", restored); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Errorf("import into a used directory: %d %q", code, errOut)
	}
	if code, _, errOut := cli("snapshot", "import", filepath.Join(t.TempDir(), "missing"), "--data", filepath.Join(t.TempDir(), "x")); code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("import of a missing file: %d %q", code, errOut)
	}
	s, err := stack.Start(context.Background(), stack.Config{DataDir: restored, Port: 0})
	if err != nil {
		t.Fatalf("start the restored directory: %v", err)
	}
	s.Close(context.Background())

	t.Run("PostgreSQL", func(t *testing.T) {
		url := pgtest.NewSchema(t)
		dir := filepath.Join(t.TempDir(), "pg")
		if code, out, errOut := cli("snapshot", "import", "--data", dir, "--database", url, file); code != 0 || !strings.Contains(out, "--database") {
			t.Fatalf("import --database: %d %q %q", code, out, errOut)
		}
		again := filepath.Join(t.TempDir(), "again.jsonl")
		if code, out, errOut := cli("snapshot", "export", "--data", dir, "--database", url, "--json", again); code != 0 || !strings.Contains(out, `"tenants":2`) {
			t.Errorf("export --database: %d %q %q", code, out, errOut)
		}
	})
}
