package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func parseReq(raw string) (*reqHead, error) {
	head, err := readHead(bufio.NewReader(strings.NewReader(raw)), nil)
	if err != nil {
		return nil, err
	}
	r := &reqHead{}
	return r, parseRequest(head, r)
}

// TestParseRequestRefuses: what the proxy answers itself, and with which
// code, rather than pass on.
func TestParseRequestRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		code      int
	}{
		{"no version", "GET /\r\nHost: a\r\n\r\n", 400},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"two lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
		{"signed length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400},
		{"gzip coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"chunked in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"folded line", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400},
		{"CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405},
		{"other expectation", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n", 417},
		{"chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"chunked in two fields", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"ftp target", "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseReq(tc.raw)
			var se *statusError
			if !errors.As(err, &se) || se.code != tc.code {
				t.Errorf("got %v, want a %d", err, tc.code)
			}
		})
	}
}

// TestReadHeadLongLines: a header line longer than the reader's buffer is
// read whole, whatever its length, and the head ends at its empty line only
// (a line of exactly the buffer's size once ended the head early).
func TestReadHeadLongLines(t *testing.T) {
	for n := 4090; n <= 4100; n++ {
		for _, eol := range []string{"\r\n", "\n"} {
			value := strings.Repeat("v", n-len("X-A: "))
			raw := "GET / HTTP/1.1" + eol + "X-A: " + value + eol + "Host: a" + eol + eol + "BODY"
			br := bufio.NewReader(strings.NewReader(raw))
			head, err := readHead(br, nil)
			if err != nil {
				t.Fatalf("line of %d: %v", n, err)
			}
			var r reqHead
			if err := parseRequest(head, &r); err != nil {
				t.Fatalf("line of %d: %v", n, err)
			}
			if len(r.fields) != 2 || string(r.fields[0].value) != value || string(r.host) != "a" {
				t.Errorf("line of %d ending %q: fields %d, host %q", n, eol, len(r.fields), r.host)
			}
			if rest, _ := io.ReadAll(br); string(rest) != "BODY" {
				t.Errorf("line of %d ending %q: left %.20q", n, eol, rest)
			}
		}
	}
}

// TestBackendRequest: the head a backend is sent, byte for byte.
func TestBackendRequest(t *testing.T) {
	for _, tc := range []struct{ name, raw, want string }{
		{
			"hop-by-hop and forwarded fields",
			"GET /a?b=1 HTTP/1.1\r\nhost: app.example\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: x\r\nAccept: */*\r\nTE: trailers\r\n\r\n",
			"GET /a?b=1 HTTP/1.1\r\nHost: app.example\r\nAccept: */*\r\nTE: trailers\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: app.example\r\n\r\n",
		},
		{
			"absolute form",
			"GET http://b.example:8080/x HTTP/1.1\r\nHost: ignored\r\n\r\n",
			"GET /x HTTP/1.1\r\nHost: b.example:8080\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: b.example:8080\r\n\r\n",
		},
		{
			"HTTP/1.0 keep-alive stays 1.0",
			"GET / HTTP/1.0\nConnection: Keep-Alive\n\n",
			"GET / HTTP/1.0\r\nConnection: keep-alive\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n\r\n",
		},
		{
			"upgrade",
			"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n\r\n",
		},
		{
			// Connection may name any field, but dropping the framing
			// would let the backend read the body as a request of its own.
			"framing fields named in Connection stay",
			"POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, Transfer-Encoding, Host\r\nContent-Length: 3\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n\r\n",
		},
		{
			"empty Host stays",
			"OPTIONS * HTTP/1.1\r\nHost:\r\n\r\n",
			"OPTIONS * HTTP/1.1\r\nHost: \r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n\r\n",
		},
		{
			"chunked body keeps its framing",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n\r\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseReq(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(appendBackendRequest(nil, r, []byte("10.0.0.9"))); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestResponseFraming: how a response's end is found, what the client is
// sent, and whether the backend connection can be used again.
func TestResponseFraming(t *testing.T) {
	for _, tc := range []struct {
		name, method, raw string
		kind              bodyKind
		reusable          bool
		want              string // the client's head with Connection: close
	}{
		{"length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\n", bodyLength, true,
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"},
		{"chunked beats length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", bodyChunked, true,
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"},
		{"to close", "GET", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", bodyToClose, true,
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"},
		{"head", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", bodyNone, true,
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"},
		{"no content", "GET", "HTTP/1.1 204 No Content\r\n\r\n", bodyNone, true,
			"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"},
		{"not modified", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", bodyNone, true,
			"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"},
		{"backend closes", "GET", "HTTP/1.1 200 OK\r\nConnection: close, X-A\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n", bodyNone, false,
			"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
		{"length named in Connection", "GET", "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\n", bodyLength, true,
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"},
		{"1.0 without keep-alive", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", bodyLength, false,
			"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n"},
		{"no reason", "GET", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", bodyLength, true,
			"HTTP/1.1 200\r\nContent-Length: 1\r\nConnection: close\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := parseReq(tc.method + " / HTTP/1.1\r\nHost: a\r\n\r\n")
			if err != nil {
				t.Fatal(err)
			}
			head, err := readHead(bufio.NewReader(strings.NewReader(tc.raw)), nil)
			if err != nil {
				t.Fatal(err)
			}
			var r respHead
			if err := parseResponse(head, &r); err != nil {
				t.Fatal(err)
			}
			if got := responseBody(req, &r); got != tc.kind {
				t.Errorf("body kind %d, want %d", got, tc.kind)
			}
			if got := r.reusable(); got != tc.reusable {
				t.Errorf("reusable %v, want %v", got, tc.reusable)
			}
			if got := string(appendClientResponse(nil, &r, false, "close")); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"HTTP/2 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 abc OK", "ICY 200 OK", "HTTP/1.1 200OK"} {
		var r respHead
		if err := parseResponse([]byte(bad), &r); err == nil {
			t.Errorf("status line %q accepted", bad)
		}
	}
}

// TestCopyChunked: a chunked body passes through byte for byte, extensions
// and trailers included, and nothing after it is read.
func TestCopyChunked(t *testing.T) {
	body := "5;ext=1\r\nhello\r\nB\r\n, world, 12\r\n0\r\nX-Sum: 7\r\n\r\n"
	src := bufio.NewReader(strings.NewReader(body + "NEXT"))
	var out bytes.Buffer
	dst := bufio.NewWriter(&out)
	if err := copyBody(dst, src, bodyChunked, 0); err != nil {
		t.Fatal(err)
	}
	if out.String() != body {
		t.Errorf("copied %q", out.String())
	}
	if rest, _ := io.ReadAll(src); string(rest) != "NEXT" {
		t.Errorf("left %q", rest)
	}
	for _, bad := range []string{"x\r\n", "5\r\nhel", "5\r\nhelloX\r\n0\r\n\r\n", "fffffffffffffffff\r\n",
		"2;\nxx\r\n0\r\n\r\n", "2;a\rb\r\nxx\r\n0\r\n\r\n", "2\r\nxx\n0\r\n\r\n", "0\r\nX: a\rb\r\n\r\n", "0\r\n\n"} {
		out.Reset()
		err := copyBody(bufio.NewWriter(&out), bufio.NewReader(strings.NewReader(bad)), bodyChunked, 0)
		var re *readError
		if !errors.As(err, &re) {
			t.Errorf("%q: got %v, want a read error", bad, err)
		}
	}
}

// TestCopyLongBodies: bodies longer than the read buffer (read in bulk,
// straight from the source) pass through byte for byte whatever sizes the
// source's reads come in, nothing after a sized body is read, a body that
// ends early is a read error, and a body to the close ends at the close.
func TestCopyLongBodies(t *testing.T) {
	body := make([]byte, 300<<10+17)
	for i := range body {
		body[i] = byte(i * 7)
	}
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	for _, tc := range []struct {
		name   string
		kind   bodyKind
		n      int64
		in     string
		want   string
		err    bool
		reader func(io.Reader) io.Reader
	}{
		{"sized", bodyLength, int64(len(body)), string(body) + "NEXT", string(body), false, nil},
		{"sized, reads of a few bytes", bodyLength, int64(len(body)), string(body) + "NEXT", string(body), false, iotest.HalfReader},
		{"sized, ends early", bodyLength, int64(len(body)) + 1, string(body), string(body), true, nil},
		{"to the close", bodyToClose, 0, string(body), string(body), false, iotest.DataErrReader},
		{"chunked", bodyChunked, 0, chunked + "NEXT", chunked, false, iotest.HalfReader},
	} {
		var r io.Reader = strings.NewReader(tc.in)
		if tc.reader != nil {
			r = tc.reader(r)
		}
		src := bufio.NewReaderSize(r, 4<<10)
		var out bytes.Buffer
		err := copyBody(bufio.NewWriterSize(&out, 4<<10), src, tc.kind, tc.n)
		var re *readError
		if tc.err != errors.As(err, &re) || !tc.err && err != nil {
			t.Errorf("%s: error %v, want a read error: %v", tc.name, err, tc.err)
		}
		if !tc.err && out.String() != tc.want {
			t.Errorf("%s: copied %d bytes, want %d, the same", tc.name, out.Len(), len(tc.want))
		}
		if rest, _ := io.ReadAll(src); strings.HasSuffix(tc.in, "NEXT") && string(rest) != "NEXT" {
			t.Errorf("%s: left %q", tc.name, rest)
		}
	}
}

// TestCopyLongBodyPassesOnWhatCame: bytes of a long body that one read
// brought reach the destination before the copy waits for more (a stream
// is not held back on the bulk path either).
func TestCopyLongBodyPassesOnWhatCame(t *testing.T) {
	pr, pw := io.Pipe()
	got := make(chan int, 64)
	dst := bufio.NewWriterSize(writerFunc(func(p []byte) (int, error) {
		select {
		case got <- len(p):
		default:
		}
		return len(p), nil
	}), 4<<10)
	done := make(chan error, 1)
	go func() { done <- copyBody(dst, bufio.NewReaderSize(pr, 4<<10), bodyLength, 100<<10) }()
	pw.Write(make([]byte, 100))
	select {
	case n := <-got:
		if n != 100 {
			t.Errorf("the first write passed on %d bytes, want the 100 sent", n)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("100 bytes of a 100 KiB body were held while the copy waited for more")
	}
	pw.Write(make([]byte, 100<<10-100))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// FuzzParseRequest: no input makes the parser panic, and a request it
// accepts is forwarded as a head it accepts again, with the same method,
// target, host and body framing (what the backend is told is what the proxy
// understood).
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\nabc",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET http://h:1/p?q HTTP/1.0\nConnection: keep-alive\n\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := parseReq(raw)
		if err != nil {
			return
		}
		out := appendBackendRequest(nil, r, []byte("10.0.0.9"))
		again, err := parseReq(string(out))
		if err != nil {
			t.Fatalf("forwarded head refused: %v\n%q", err, out)
		}
		if !bytes.Equal(again.method, r.method) || !bytes.Equal(again.target, r.target) || !bytes.Equal(again.host, r.host) ||
			again.chunked != r.chunked || again.contentLength != r.contentLength || again.minor != r.minor {
			t.Fatalf("forwarded head differs:\n%q\nfrom\n%q", out, raw)
		}
	})
}

// FuzzCopyChunked: whatever the input, a chunked copy either fails or
// copies exactly the bytes it consumed.
func FuzzCopyChunked(f *testing.F) {
	f.Add("5\r\nhello\r\n0\r\n\r\n")
	f.Add("1;a=b\r\nx\r\n0\r\nT: 1\r\n\r\nrest")
	f.Fuzz(func(t *testing.T, in string) {
		src := bufio.NewReader(strings.NewReader(in))
		var out bytes.Buffer
		if err := copyBody(bufio.NewWriter(&out), src, bodyChunked, 0); err != nil {
			return
		}
		rest, _ := io.ReadAll(src)
		if out.String()+string(rest) != in {
			t.Fatalf("copied %q and left %q of %q", out.String(), rest, in)
		}
	})
}
