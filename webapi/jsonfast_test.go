package webapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// stdJSON is what writeJSON wrote before appendJSON: encoding/json without
// HTML escaping, without the trailing newline.
func stdJSON(t testing.TB, v any) (string, bool) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", false
	}
	return strings.TrimSuffix(buf.String(), "\n"), true
}

func checkSameJSON(t testing.TB, v any) {
	t.Helper()
	want, wantOK := stdJSON(t, v)
	got, ok := appendJSON(nil, v)
	if !ok {
		return // falls back to encoding/json: same bytes by construction
	}
	if !wantOK {
		t.Fatalf("appendJSON(%#v) = %s, encoding/json fails", v, got)
	}
	if string(got) != want {
		t.Fatalf("appendJSON(%#v)\n got %s\nwant %s", v, got, want)
	}
}

// TestAppendJSON: the fast encoder writes exactly encoding/json's bytes
// for the Web API's response shapes, and declines what it does not know.
func TestAppendJSON(t *testing.T) {
	strs := []string{"", "plain", `quote " backslash \ slash /`, "<html>&amp;</html>", "\b\f\n\r\t\x00\x01\x1f\x7f",
		"é ü 漢字 😀", "bad \xff utf-8 \xc3", "line\u2028para\u2029", "\ufffd", "trailing \xe2\x80"}
	for _, s := range strs {
		checkSameJSON(t, s)
		checkSameJSON(t, map[string]any{s: s})
	}
	row := map[string]any{
		"@odata.etag": `W/"1234"`, "accountid": "5f0c2b9e-0000-4000-8000-000000000001", "name": "Fabrikam 000123",
		"revenue": json.Number("5000000.25"), "numberofemployees": int64(12), "creditonhold": false, "description": nil,
		"_ownerid_value": "b1a2c3d4-0000-4000-8000-00000000a001", "statecode": 0, "createdon": "2026-01-02T03:04:05Z",
		"tags": []string{"a", "b\n"}, "nested": []any{1, "x", nil, true, map[string]any{"z": 1, "a": 2}},
	}
	checkSameJSON(t, row)
	checkSameJSON(t, map[string]any{"@odata.context": "https://x/$metadata#accounts(name)", "value": []map[string]any{row, row, {}}})
	checkSameJSON(t, map[string]any{"value": []map[string]any{}})
	checkSameJSON(t, map[string]any{"value": []map[string]any(nil), "m": map[string]any(nil), "a": []any(nil), "s": []string(nil)})
	for _, n := range []string{"0", "-0", "1", "-12.5", "1e10", "1E+2", "2.5e-3", "", "01", "1.", ".5", "+1", "1e", "1e+", "--1", "0x10", "NaN"} {
		checkSameJSON(t, json.Number(n))
		checkSameJSON(t, map[string]any{"n": json.Number(n)})
	}
	for _, v := range []any{3.5, float32(1), uint(1), struct{}{}, []int{1}, map[string]string{"a": "b"}} {
		if _, ok := appendJSON(nil, v); ok {
			t.Errorf("appendJSON(%#v) claims a type it does not encode", v)
		}
	}
	if _, ok := appendJSON(nil, map[string]any{"a": 1, "b": 3.5}); ok {
		t.Error("appendJSON accepted a map holding a float64")
	}

	// Key sets sharing a fingerprint slot (sortedKeys), one after another
	// and again: each map is written with its own keys.
	for range 2 {
		for _, m := range []map[string]any{
			{"ab": 1, "cd": 2}, {"ad": 1, "cb": 2}, {"ab": 1, "cd": 2, "": 3}, {"cd": 1, "ab": 2},
			{"b": 1, "a": 2}, {"a": 1, "b": 2, "c": 3}, {"a": 1, "c": 2},
		} {
			checkSameJSON(t, m)
		}
	}

	// Random keys and strings, with bytes of every kind.
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "Z", "0", " ", "\"", "\\", "/", "<", "&", "\n", "\x00", "\x1f", "\x7f", "é", "漢", "😀", "\xff", "\xc3", "\u2028", "\u2029", "\ufffd"}
	randStr := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 2000 {
		m := map[string]any{}
		for range rng.IntN(8) {
			m[randStr()] = randStr()
		}
		m[randStr()] = int64(rng.Int64() - rng.Int64())
		checkSameJSON(t, m)
	}
}

// FuzzAppendJSON compares the two encoders on arbitrary strings.
func FuzzAppendJSON(f *testing.F) {
	f.Add("plain", "key")
	f.Add("bad \xff", "\u2028")
	f.Fuzz(func(t *testing.T, s, k string) {
		checkSameJSON(t, map[string]any{k: s, "v": []any{s, json.Number(s)}})
	})
}
