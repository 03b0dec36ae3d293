package main

// dvs2s snapshot export and dvs2s snapshot import: a snapshot of a data
// directory's whole state (package snapshot documents the format), to seed
// a new stack. (A noun, as the administration commands: the top-level
// "import" is the client command that imports rows into a table.)

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dvs2s/dvs2s/snapshot"
)

func init() {
	registerNoun(adminNoun{name: "snapshot", summary: "export a data directory's whole state to a file, or seed a new one from it", verbs: []adminVerb{
		{name: "export", synopsis: "[--data dir] [--database url] [--gzip] [--force] <file>", run: snapshotExport,
			summary: "write a data directory's whole state, master key included, to a snapshot file (mode 0600; '-': standard output); stop the server for an exact copy"},
		{name: "import", synopsis: "[--data dir] [--database url] <file>", run: snapshotImport,
			summary: "seed a new (missing or empty) data directory from a snapshot file ('-': standard input); DVS2S_MASTER_KEY, if set, must be the snapshot's key"},
	}})
}

func snapshotExport(c *adminCall, args []string) error {
	ctx, stdout, stderr := c.ctx, c.stdout, c.stderr
	fs := c.flags()
	gz := fs.Bool("gzip", false, "compress the snapshot (default: when the file name ends in .gz)")
	force := fs.Bool("force", false, "replace the file if it exists")
	pos, err := c.parse(args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return c.usage("give the snapshot file to write")
	}
	file := pos[0]
	opts := snapshot.ExportOptions{MasterKey: os.Getenv("DVS2S_MASTER_KEY"), Database: c.database, Gzip: *gz || strings.HasSuffix(file, ".gz")}
	var n snapshot.Counts
	if file == "-" {
		if n, err = snapshot.Export(ctx, c.data, stdout, opts); err != nil {
			return err
		}
		stdout = stderr // the summary must not mix with the snapshot
	} else {
		if _, err := os.Stat(file); err == nil && !*force {
			return fmt.Errorf("%s exists (use --force to replace it)", file)
		}
		if n, err = writePrivate(file, func(w io.Writer) (snapshot.Counts, error) { return snapshot.Export(ctx, c.data, w, opts) }); err != nil {
			return err
		}
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(map[string]any{"file": file, "data": c.data, "counts": countsJSON(n), "warning": snapshot.Warning})
	}
	fmt.Fprintf(stdout, "exported %s to %s: %s\n", c.data, file, countsText(n))
	fmt.Fprintf(stdout, "warning: %s (file mode 0600); it can seed a stack that accepts tokens signed with these keys\n", snapshot.Warning)
	return nil
}

// writePrivate writes file (mode 0600) through a temporary file renamed
// into place, so a failed export leaves no partial snapshot.
func writePrivate(file string, write func(io.Writer) (snapshot.Counts, error)) (snapshot.Counts, error) {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*") // mode 0600
	if err != nil {
		return snapshot.Counts{}, err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	n, err := write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	return n, err
}

func snapshotImport(c *adminCall, args []string) error {
	ctx, stdout := c.ctx, c.stdout
	c.flags()
	pos, err := c.parse(args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return c.usage("give the snapshot file to read")
	}
	file := pos[0]
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("snapshot %s does not exist", file)
			}
			return err
		}
		defer f.Close()
		r = f
	}
	n, err := snapshot.Import(ctx, r, c.data, snapshot.ImportOptions{MasterKey: os.Getenv("DVS2S_MASTER_KEY"), Database: c.database})
	if err != nil {
		return err
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(map[string]any{"file": file, "data": c.data, "counts": countsJSON(n)})
	}
	fmt.Fprintf(stdout, "imported %s into %s: %s\n", file, c.data, countsText(n))
	if c.database != "" {
		fmt.Fprintf(stdout, "start it with: dvs2s serve --data %s --database <the same URL>\n", c.data)
	} else {
		fmt.Fprintf(stdout, "start it with: dvs2s serve --data %s\n", c.data)
	}
	return nil
}

func countsJSON(n snapshot.Counts) map[string]int {
	return map[string]int{"tenants": n.Tenants, "users": n.Users, "apps": n.Apps, "secrets": n.Secrets, "certificates": n.Certificates,
		"service_principals": n.ServicePrincipals, "resources": n.Resources, "signing_keys": n.SigningKeys,
		"environments": n.Environments, "rows": n.Rows, "links": n.Links, "files": n.Files}
}

func countsText(n snapshot.Counts) string {
	return fmt.Sprintf("%d tenants, %d users, %d apps (%d secrets, %d certificates), %d service principals, %d resources, %d signing keys, %d environments (%d rows, %d links), %d files",
		n.Tenants, n.Users, n.Apps, n.Secrets, n.Certificates, n.ServicePrincipals, n.Resources, n.SigningKeys, n.Environments, n.Rows, n.Links, n.Files)
}
