package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// HTTP mode reads and writes HTTP/1.x heads itself rather than through
// net/http: a request then costs what splicing it would (one read and one
// write on each side, on the connection's own goroutine), where net/http's
// server and transport passed each request between four goroutines and
// allocated a header map twice. Only the fields that decide framing,
// connection reuse and routing are interpreted; every other header line goes
// through byte for byte.

// maxHeadBytes bounds a request's or a response's head, net/http's default
// for requests.
const maxHeadBytes = 1 << 20

// statusError is a request the proxy answers itself with code, closing the
// client connection afterwards.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return fmt.Sprintf("%d %s", e.code, e.msg) }

func badRequest(format string, a ...any) error {
	return &statusError{400, fmt.Sprintf(format, a...)}
}

// errHeadTooLarge is a head over maxHeadBytes.
var errHeadTooLarge = errors.New("head too large")

// readHead appends the lines of a head to buf, up to and without the empty
// line that ends it, each line without its line ending and followed by a
// single "\n". A line may end in CRLF or a bare LF.
func readHead(br *bufio.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		// Where this line starts: a long one is appended in pieces, and
		// only a line empty from its start ends the head.
		start := len(buf)
		line, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the reader's buffer: keep what came and
			// read on.
			if len(buf)+len(line) > maxHeadBytes {
				return nil, errHeadTooLarge
			}
			buf = append(buf, line...)
			line, err = br.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		if len(buf)+len(line) > maxHeadBytes {
			return nil, errHeadTooLarge
		}
		buf = append(buf, line...)
		buf = trimEOL(buf)
		if len(buf) == start {
			if start == 0 {
				// Empty lines before a request line are allowed
				// (RFC 9112 2.2).
				continue
			}
			return buf, nil
		}
		buf = append(buf, '\n')
	}
}

// trimEOL removes a trailing LF and the CR before it.
func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// field is one header line: slices of the head it was read from.
type field struct{ name, value []byte }

// message is what both heads share: their header fields, the framing of
// their body and what their Connection header asks.
type message struct {
	minor         int // HTTP/1.minor
	fields        []field
	contentLength int64 // -1: none given
	chunked       bool  // Transfer-Encoding ends in chunked
	otherCoding   bool  // Transfer-Encoding present but not chunked last
	close         bool  // Connection: close
	keepAlive     bool  // Connection: keep-alive (HTTP/1.0)
	upgrade       bool  // Connection: upgrade
	connTokens    [][]byte
}

// reqHead is a request from a client.
type reqHead struct {
	message
	method []byte
	target []byte // origin-form: what the backend is sent
	host   []byte // Host, or the authority of an absolute-form target
	head   []byte // what it was read into
}

// respHead is a response from a backend.
type respHead struct {
	message
	status     int
	statusLine []byte
}

// parseFields reads the header lines of head (after its first line) into m.
func parseFields(lines []byte, m *message) error {
	m.fields = m.fields[:0]
	m.connTokens = m.connTokens[:0]
	m.contentLength = -1
	m.chunked, m.otherCoding, m.close, m.keepAlive, m.upgrade = false, false, false, false, false
	sawTE := false
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		line := lines[:i]
		lines = lines[i+1:]
		if line[0] == ' ' || line[0] == '\t' {
			return badRequest("obsolete line folding in a header")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return badRequest("malformed header line %q", clip(line))
		}
		name := line[:colon]
		if !isToken(name) {
			return badRequest("invalid header name %q", clip(name))
		}
		value := bytes.Trim(line[colon+1:], " \t")
		if !validValue(value) {
			return badRequest("invalid value in header %q", name)
		}
		m.fields = append(m.fields, field{name, value})
		switch {
		case fold(name, "Content-Length"):
			n, ok := parseLength(value)
			if !ok || m.contentLength >= 0 && m.contentLength != n {
				return badRequest("invalid Content-Length %q", clip(value))
			}
			m.contentLength = n
		case fold(name, "Transfer-Encoding"):
			sawTE = true
			last := value
			if i := bytes.LastIndexByte(value, ','); i >= 0 {
				last = bytes.Trim(value[i+1:], " \t")
			}
			m.chunked = fold(last, "chunked")
			m.otherCoding = !m.chunked
		case fold(name, "Connection"):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				switch {
				case len(tok) == 0:
					continue
				case fold(tok, "close"):
					m.close = true
				case fold(tok, "keep-alive"):
					m.keepAlive = true
				case fold(tok, "upgrade"):
					m.upgrade = true
				}
				m.connTokens = append(m.connTokens, tok)
			}
		}
	}
	if sawTE && m.contentLength >= 0 {
		// Either framing could be believed by the next hop: the
		// request smuggling RFC 9112 6.1 warns of. A response's
		// Content-Length is dropped instead (see framing).
		m.contentLength = -2
	}
	return nil
}

// clip shortens what an error quotes.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// parseRequest parses a head read by readHead into r.
func parseRequest(head []byte, r *reqHead) error {
	r.head = head
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 {
		nl = len(head)
	}
	line := head[:nl]
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return badRequest("malformed request line %q", clip(line))
	}
	r.method, r.target = line[:sp1], line[sp1+1:sp2]
	proto := line[sp2+1:]
	if !isToken(r.method) {
		return badRequest("invalid method %q", clip(r.method))
	}
	switch {
	case bytes.Equal(proto, []byte("HTTP/1.1")):
		r.minor = 1
	case bytes.Equal(proto, []byte("HTTP/1.0")):
		r.minor = 0
	case bytes.HasPrefix(proto, []byte("HTTP/")):
		return &statusError{505, fmt.Sprintf("version %s not supported", clip(proto))}
	default:
		return badRequest("malformed request line %q", clip(line))
	}
	for _, c := range r.target {
		if c <= ' ' || c == 0x7f {
			return badRequest("invalid request target %q", clip(r.target))
		}
	}
	if bytes.Equal(r.method, []byte("CONNECT")) {
		return &statusError{405, "CONNECT is not served: this is a reverse proxy"}
	}
	var rest []byte
	if nl < len(head) {
		rest = head[nl+1:]
	}
	if err := parseFields(rest, &r.message); err != nil {
		return err
	}
	if r.contentLength == -2 {
		return badRequest("both Transfer-Encoding and Content-Length")
	}
	if r.otherCoding {
		return &statusError{501, "a Transfer-Encoding other than chunked"}
	}
	if r.chunked && r.minor == 0 {
		return badRequest("Transfer-Encoding in an HTTP/1.0 request")
	}
	if r.chunked && chunkedCodings(r.fields) > 1 {
		// A next hop may undo chunked once or twice: either way it
		// would not end the body where the proxy does (RFC 9112 6.1).
		return badRequest("chunked applied more than once")
	}
	r.host = nil
	hosts := 0
	for _, f := range r.fields {
		switch {
		case fold(f.name, "Host"):
			hosts++
			r.host = f.value
		case fold(f.name, "Expect"):
			if !fold(f.value, "100-continue") {
				return &statusError{417, fmt.Sprintf("Expect %q", clip(f.value))}
			}
		}
	}
	if hosts > 1 || hosts == 0 && r.minor == 1 {
		return badRequest("a request needs exactly one Host header, got %d", hosts)
	}
	switch {
	case len(r.target) > 0 && r.target[0] == '/':
	case bytes.Equal(r.target, []byte("*")):
	default:
		// Absolute form (RFC 9112 3.2.2): its authority replaces Host, and
		// the backend gets the origin form.
		u, err := url.Parse(string(r.target))
		if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
			return badRequest("invalid request target %q", clip(r.target))
		}
		r.host = []byte(u.Host)
		r.target = []byte(u.RequestURI())
	}
	if !validHost(r.host) {
		return badRequest("invalid Host %q", clip(r.host))
	}
	return nil
}

// chunkedCodings counts chunked among the codings of all Transfer-Encoding
// fields.
func chunkedCodings(fields []field) int {
	n := 0
	for _, f := range fields {
		if !fold(f.name, "Transfer-Encoding") {
			continue
		}
		for tok := range bytes.SplitSeq(f.value, []byte(",")) {
			if fold(bytes.Trim(tok, " \t"), "chunked") {
				n++
			}
		}
	}
	return n
}

// hasBody reports whether a body follows the request's head.
func (r *reqHead) hasBody() bool { return r.chunked || r.contentLength > 0 }

// path is the target's path, unescaped, which load-balancer rules match.
func (r *reqHead) path() (string, error) {
	p := r.target
	if i := bytes.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if bytes.IndexByte(p, '%') < 0 {
		return string(p), nil
	}
	s, err := url.PathUnescape(string(p))
	if err != nil {
		return "", badRequest("invalid escape in path %q", clip(p))
	}
	return s, nil
}

// wantsKeepAlive reports whether the client lets the connection stay open
// after this request.
func (r *reqHead) wantsKeepAlive() bool {
	if r.minor == 0 {
		return r.keepAlive && !r.close
	}
	return !r.close
}

// replayable reports whether the request may be sent again after a backend
// connection failed with the request possibly seen: a method defined as
// idempotent, or one marked with an idempotency key, and no body (RFC 9110
// 9.2.2; net/http's transport follows the same rule).
func (r *reqHead) replayable() bool {
	if r.hasBody() {
		return false
	}
	switch string(r.method) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	for _, f := range r.fields {
		if fold(f.name, "Idempotency-Key") || fold(f.name, "X-Idempotency-Key") {
			return true
		}
	}
	return false
}

// appendBackendRequest appends the head sent to a backend: the request line
// with the origin-form target, Host first, the client's fields without
// hop-by-hop ones and without Forwarded and X-Forwarded-*, then fresh
// X-Forwarded-* (xff is the client's address): this proxy is the edge, so
// what a client claims there is not to be trusted. An HTTP/1.0 request
// stays one, so that the backend frames its answer for an HTTP/1.0 client.
func appendBackendRequest(dst []byte, r *reqHead, xff []byte) []byte {
	dst = append(dst, r.method...)
	dst = append(dst, ' ')
	dst = append(dst, r.target...)
	if r.minor == 0 {
		dst = append(dst, " HTTP/1.0\r\n"...)
	} else {
		dst = append(dst, " HTTP/1.1\r\n"...)
	}
	if r.host != nil || r.minor == 1 {
		// HTTP/1.1 needs the field even when empty (RFC 9112 3.2).
		dst = appendField(dst, "Host", r.host)
	}
	for _, f := range r.fields {
		if fold(f.name, "Host") || isHopByHop(f.name, &r.message, r.upgrade) ||
			fold(f.name, "X-Forwarded-For") || fold(f.name, "X-Forwarded-Proto") || fold(f.name, "X-Forwarded-Host") ||
			fold(f.name, "Forwarded") {
			continue
		}
		dst = appendField(dst, string(f.name), f.value)
	}
	switch {
	case r.upgrade:
		dst = append(dst, "Connection: Upgrade\r\n"...)
	case r.minor == 0 && r.wantsKeepAlive():
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	dst = appendField(dst, "X-Forwarded-For", xff)
	dst = append(dst, "X-Forwarded-Proto: http\r\n"...)
	if r.host != nil {
		dst = appendField(dst, "X-Forwarded-Host", r.host)
	}
	return append(dst, "\r\n"...)
}

// isHopByHop reports whether a field concerns only one connection (RFC 9110
// 7.6.1) and so is not passed on. Transfer-Encoding and Content-Length are
// passed on even when Connection names them, because the body is passed on
// as framed: a next hop without its framing would read the body as the next
// message (a request smuggled past the proxy). Upgrade and TE: trailers go
// through as net/http's reverse proxy let them.
func isHopByHop(name []byte, m *message, upgrading bool) bool {
	switch {
	case fold(name, "Connection"), fold(name, "Keep-Alive"), fold(name, "Proxy-Connection"),
		fold(name, "Proxy-Authenticate"), fold(name, "Proxy-Authorization"):
		return true
	case fold(name, "Upgrade"):
		return !upgrading
	case fold(name, "TE"), fold(name, "Transfer-Encoding"), fold(name, "Trailer"), fold(name, "Content-Length"):
		return false
	}
	for _, tok := range m.connTokens {
		if bytes.EqualFold(tok, name) {
			return true
		}
	}
	return false
}

func appendField(dst []byte, name string, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// parseResponse parses a head read by readHead into r.
func parseResponse(head []byte, r *respHead) error {
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 {
		nl = len(head)
	}
	line := head[:nl]
	r.statusLine = line
	// "HTTP/1.1 200 OK", the reason optional.
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return fmt.Errorf("malformed status line %q", clip(line))
	}
	switch line[7] {
	case '0':
		r.minor = 0
	case '1':
		r.minor = 1
	default:
		return fmt.Errorf("unsupported version in %q", clip(line))
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 {
		return fmt.Errorf("malformed status in %q", clip(line))
	}
	r.status = code
	var rest []byte
	if nl < len(head) {
		rest = head[nl+1:]
	}
	if err := parseFields(rest, &r.message); err != nil {
		var se *statusError
		if errors.As(err, &se) {
			return errors.New(se.msg)
		}
		return err
	}
	return nil
}

// reusable reports whether the backend lets its connection serve another
// request after this response.
func (r *respHead) reusable() bool {
	if r.minor == 0 {
		return r.keepAlive && !r.close
	}
	return !r.close
}

// bodyKind is how a message's body ends.
type bodyKind int

const (
	bodyNone    bodyKind = iota
	bodyLength           // after Content-Length bytes
	bodyChunked          // after the last chunk and the trailers
	bodyToClose          // when the sender closes the connection
)

// responseBody returns how the response to req ends (RFC 9112 6.3).
func responseBody(req *reqHead, r *respHead) bodyKind {
	switch {
	case bytes.Equal(req.method, []byte("HEAD")), r.status < 200, r.status == 204, r.status == 304:
		return bodyNone
	case r.chunked:
		return bodyChunked
	case r.otherCoding:
		return bodyToClose
	case r.contentLength == 0:
		return bodyNone
	case r.contentLength > 0:
		return bodyLength
	}
	return bodyToClose
}

// appendClientResponse appends the head sent to the client: the backend's
// status and fields without hop-by-hop ones, and the proxy's own
// Connection header. A Content-Length beside Transfer-Encoding is dropped
// (RFC 9112 6.3).
func appendClientResponse(dst []byte, r *respHead, upgrading bool, connection string) []byte {
	// The version is the proxy's own (RFC 9110 6.2): an HTTP/1.0 backend's
	// would make a 1.1 client give up its keep-alive connection.
	dst = append(dst, "HTTP/1.1"...)
	dst = append(dst, r.statusLine[len("HTTP/1.x"):]...)
	dst = append(dst, "\r\n"...)
	for _, f := range r.fields {
		if isHopByHop(f.name, &r.message, upgrading) ||
			r.contentLength == -2 && fold(f.name, "Content-Length") {
			continue
		}
		dst = appendField(dst, string(f.name), f.value)
	}
	if connection != "" {
		dst = append(dst, "Connection: "...)
		dst = append(dst, connection...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// parseLength parses a Content-Length: digits only, no sign, no overflow.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// fold reports whether b equals s, ignoring ASCII case.
func fold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isToken reports whether b is a token of RFC 9110 5.6.2.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validValue reports whether a field value has no control characters other
// than tab: a CR or NUL inside one is how headers get injected downstream.
func validValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost rejects a Host no server would accept, with characters that
// could change the meaning of what the proxy forwards.
func validHost(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c == 0x7f || c == '/' || c == '\\' || c == '@' || c == '?' || c == '#' {
			return false
		}
	}
	return true
}
