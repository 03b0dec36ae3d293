package identity

import "testing"

// FuzzParseJWS checks the client-assertion parser never panics and that
// whatever it accepts can be queried safely.
func FuzzParseJWS(f *testing.F) {
	f.Add("eyJhbGciOiJQUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln")
	f.Add("a.b.c")
	f.Add("..")
	f.Add("eyJ4NXQjUzI1NiI6WzFdfQ.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		j, err := parseJWS(s)
		if err != nil {
			return
		}
		j.str("iss")
		j.num("exp")
		j.aud()
		decodeThumbprint(j.header.X5tS256)
	})
}
