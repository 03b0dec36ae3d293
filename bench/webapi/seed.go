package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/store"
)

// database is -database: a PostgreSQL URL, or "" for SQLite in the data
// directory.
var database string

// nameWords are the first words of the generated account names: row i is
// named "<nameWords[i%20]> <i as 6 digits>", so a name prefix such as
// "Fabrikam 01" selects 1/20 × 1/10 of the rows below 100,000 (500 rows of
// 100,000), through the index on account.name.
var nameWords = []string{
	"Contoso", "Fabrikam", "Northwind", "Litware", "Adventure", "Tailspin", "Wingtip", "Proseware",
	"Coho", "Margie", "Lucerne", "Woodgrove", "Alpine", "Blue Yonder", "Fourth Coffee", "Trey",
	"Wide World", "Humongous", "Graphic", "Relecloud",
}

var cities = []string{"Redmond", "Seattle", "Dallas", "Santa Cruz", "London", "Paris", "Berlin", "Madrid", "Oslo", "Tokyo"}

// seedAccounts inserts accounts until the demo environment holds n of them
// (the demo's few rows count), owned by the portal's application user, as
// the server would insert them (environment.Env.Insert stamps the
// platform columns and takes a version number per row). The server must
// be stopped: this opens the environment database directly, which is much
// faster for 100,000 rows than POST accounts. Generated values are
// deterministic (fixed random seed).
func seedAccounts(ctx context.Context, dataDir string, n int) (int, error) {
	db, err := stack.OpenStore(ctx, dataDir, database)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	m := &environment.Manager{Root: filepath.Join(dataDir, "env"), Store: db}
	defer m.Close()
	env, err := m.Open(ctx, "contoso")
	if err != nil {
		return 0, err
	}
	accounts := env.Schema().Table(schema.TableAccount)
	have, err := env.Data.Count(ctx, accounts, nil)
	if err != nil || have >= n {
		return have, err
	}
	c := environment.Caller{UserID: demo.PortalAppUserID, BU: env.RootBU}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	const batch = 5000
	for i := have; i < n; {
		end := min(i+batch, n)
		err := env.Data.InTx(ctx, func(d store.Data) error {
			for ; i < end; i++ {
				w := nameWords[i%len(nameWords)]
				r := store.Row{
					"name":                fmt.Sprintf("%s %06d", w, i),
					"accountnumber":       fmt.Sprintf("AC-%07d", i),
					"telephone1":          fmt.Sprintf("+1 425 555 %04d", i%10000),
					"emailaddress1":       fmt.Sprintf("info%d@example.com", i),
					"websiteurl":          fmt.Sprintf("https://www.example.com/%d", i),
					"address1_city":       cities[rng.IntN(len(cities))],
					"revenue":             float64(rng.IntN(10_000_000)),
					"numberofemployees":   int64(rng.IntN(5000)),
					"creditonhold":        rng.IntN(10) == 0,
					"accountcategorycode": int64(1 + rng.IntN(2)),
					"industrycode":        int64(1 + rng.IntN(8)),
				}
				if _, err := env.Insert(ctx, d, accounts, r, c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(os.Stderr, "\rseeding accounts: %d/%d (%.0fs)", i, n, time.Since(start).Seconds())
	}
	fmt.Fprintln(os.Stderr)
	return env.Data.Count(ctx, accounts, nil)
}
