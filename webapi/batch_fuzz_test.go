package webapi

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// batchSeeds are well-formed and broken batch bodies (boundary "b").
var batchSeeds = []string{
	"--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET WhoAmI HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n--b--\r\n",
	// dynamics-web-api's shape: a leading CRLF, GET parts without the blank line.
	"\r\n--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET https://h/api/data/v9.2/accounts HTTP/1.1\r\nAccept: application/json\r\n--b--\r\n",
	"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nPOST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"name\":\"a\"}\r\n--c\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nPATCH $1 HTTP/1.1\r\n\r\n{\"name\":\"b\"}\r\n--c--\r\n--b--\r\n",
	"--b\nContent-Type: application/http\n\nGET WhoAmI HTTP/1.1\n\n--b--\n",
	"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: multipart/mixed; boundary=d\r\n\r\n--d--\r\n--c--\r\n--b--\r\n",
	"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n",
	"--b\r\nContent-Type: application/http\r\n\r\nGET\r\n--b--\r\n",
	"--b\r\nContent-Type: application/http\r\n\r\nGET x HTTP/1.1\r\nbad header\r\n\r\n--b--\r\n",
	"--b--\r\n",
	"",
	"--b",
	"--bb\r\n--b\r\n",
}

// FuzzParseBatch: any body, under any boundary, parses or is refused with
// a Dataverse-shaped 4xx; never a panic.
func FuzzParseBatch(f *testing.F) {
	for _, s := range batchSeeds {
		f.Add(s, "b")
	}
	f.Add("--x y\r\n\r\n--x y--", "x y")
	f.Fuzz(func(t *testing.T, body, boundary string) {
		if boundary == "" || len(boundary) > 70 {
			return // batchBoundary refuses these before parsing
		}
		items, e := parseBatch([]byte(body), boundary)
		if e != nil {
			checkBatchError(t, e)
			return
		}
		n := 0
		for _, it := range items {
			if it.isSet {
				n += len(it.changeSet)
				for _, p := range it.changeSet {
					if p.method == http.MethodGet {
						t.Fatal("a GET in a change set was accepted")
					}
				}
			} else {
				n++
			}
		}
		if n == 0 || n > maxBatchRequests {
			t.Fatalf("%d requests accepted", n)
		}
	})
}

// FuzzBatchBoundary: any Content-Type header yields a boundary or a 400.
func FuzzBatchBoundary(f *testing.F) {
	for _, s := range []string{"multipart/mixed; boundary=batch_1", `multipart/mixed;boundary="a b"`, "multipart/mixed", "application/json", "", "multipart/mixed; boundary=" + strings.Repeat("x", 71)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		b, e := batchBoundary(ct)
		if e != nil {
			checkBatchError(t, e)
			return
		}
		if b == "" || len(b) > 70 {
			t.Fatalf("boundary %q accepted", b)
		}
	})
}

// FuzzPartResponse: whatever a handler writes, the batch answer is a
// multipart body that a MIME reader reads back part by part.
func FuzzPartResponse(f *testing.F) {
	f.Add(204, "OData-EntityId", "https://h/api/data/v9.2/accounts(1)", []byte(""), "1")
	f.Add(400, "X", "a\r\nb", []byte(`{"error":{}}`), "")
	f.Add(200, "Content-Type", "application/json", []byte("--batchresponse_x--\r\n"), "7")
	f.Fuzz(func(t *testing.T, status int, hk, hv string, body []byte, cid string) {
		if status < 100 || status > 999 || strings.ContainsAny(cid, "\r\n") || !validHeaderName(hk) {
			return
		}
		w := newBatchWriter()
		r := &partResponse{header: http.Header{}, contentID: cid}
		r.header.Set(hk, hv)
		r.WriteHeader(status)
		r.Write(body)
		w.response(r)
		w.changeSet([]*partResponse{r})
		out := w.finish()
		if bytes.Contains(body, []byte("--"+w.boundary)) {
			return // a body may not contain the boundary; ours is a fresh uuid
		}
		mr := multipart.NewReader(bytes.NewReader(out), w.boundary)
		for i := 0; i < 2; i++ {
			if _, err := mr.NextRawPart(); err != nil {
				t.Fatalf("part %d: %v\n%q", i, err, out)
			}
		}
	})
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(":()<>@,;\\\"/[]?={}", c) {
			return false
		}
	}
	return true
}

func checkBatchError(t *testing.T, e *Error) {
	t.Helper()
	if e.Status < 400 || e.Status > 499 {
		t.Fatalf("status %d: %v", e.Status, e)
	}
	if !strings.HasPrefix(e.Code, "0x") || e.Message == "" {
		t.Fatalf("not a Dataverse error: %+v", e)
	}
}
