package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Bodies are passed on in the framing they came in, chunks included, and
// nothing is held back: whatever one read brought is written before the next
// read can block, so a streamed response (server-sent events, a long
// download) reaches the client as the backend sends it.

// readError is a body's source failing or ending early; writeError its
// destination failing. The proxy's answer depends on which side it was.
type readError struct{ err error }

func (e *readError) Error() string { return "read: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

type writeError struct{ err error }

func (e *writeError) Error() string { return "write: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

var errBadChunk = errors.New("malformed chunked encoding")

// copyBody copies one body of the given kind (n bytes for bodyLength) from
// src to dst, and flushes dst.
func copyBody(dst *bufio.Writer, src *bufio.Reader, kind bodyKind, n int64) error {
	var err error
	switch kind {
	case bodyLength:
		err = copyN(dst, src, n)
	case bodyChunked:
		err = copyChunked(dst, src)
	case bodyToClose:
		err = copyN(dst, src, -1)
	}
	if err != nil {
		return err
	}
	if err := dst.Flush(); err != nil {
		return &writeError{err}
	}
	return nil
}

// await makes sure src has a byte buffered, flushing dst first if src must
// read for it: bytes already read are never held while the proxy waits.
func await(dst *bufio.Writer, src *bufio.Reader) error {
	if src.Buffered() > 0 {
		return nil
	}
	if err := dst.Flush(); err != nil {
		return &writeError{err}
	}
	if _, err := src.Peek(1); err != nil {
		return &readError{err}
	}
	return nil
}

// bulkSize is the longest read of a body the proxy makes at once. With
// nothing buffered and more than a buffer's worth to come, a body is read
// straight into a slice this long (bufio.Reader reads directly into one
// longer than its own buffer) and written straight out, so that a large
// body costs a read and a write per 64 KiB rather than per 4 KiB; what one
// read brought is still written before the next read.
const bulkSize = 64 << 10

var bulkBuffers = sync.Pool{New: func() any { b := make([]byte, bulkSize); return &b }}

// copyN copies n bytes, or everything up to the end of src when n < 0.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	var bulk *[]byte
	defer func() {
		if bulk != nil {
			bulkBuffers.Put(bulk)
		}
	}()
	for n != 0 {
		if src.Buffered() == 0 && (n < 0 || n > int64(src.Size())) {
			if bulk == nil {
				bulk = bulkBuffers.Get().(*[]byte)
			}
			done, err := copyBulk(dst, src, *bulk, &n)
			if done || err != nil {
				return err
			}
			continue
		}
		if err := await(dst, src); err != nil {
			var re *readError
			if n < 0 && errors.As(err, &re) && errors.Is(re.err, io.EOF) {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return &readError{io.ErrUnexpectedEOF}
			}
			return err
		}
		k := src.Buffered()
		if n > 0 && int64(k) > n {
			k = int(n)
		}
		p, _ := src.Peek(k)
		if _, err := dst.Write(p); err != nil {
			return &writeError{err}
		}
		src.Discard(k)
		if n > 0 {
			n -= int64(k)
		}
	}
	return nil
}

// copyBulk is one read of up to len(buf) (and *n) bytes straight from
// src's connection, and its write to dst; it flushes dst first, since the
// read may block. done reports the end of a body that lasts to the close.
func copyBulk(dst *bufio.Writer, src *bufio.Reader, buf []byte, n *int64) (done bool, err error) {
	if err := dst.Flush(); err != nil {
		return false, &writeError{err}
	}
	if *n > 0 && int64(len(buf)) > *n {
		buf = buf[:*n]
	}
	k, rerr := src.Read(buf)
	if k > 0 {
		if _, err := dst.Write(buf[:k]); err != nil {
			return false, &writeError{err}
		}
		if *n > 0 {
			*n -= int64(k)
		}
	}
	switch {
	case rerr == nil:
		return false, nil
	case *n < 0 && errors.Is(rerr, io.EOF):
		return true, nil
	case errors.Is(rerr, io.EOF):
		return false, &readError{io.ErrUnexpectedEOF}
	}
	return false, &readError{rerr}
}

// copyChunked copies a chunked body through its last chunk and trailer
// section (RFC 9112 7.1), reading the chunk sizes to know where it ends.
func copyChunked(dst *bufio.Writer, src *bufio.Reader) error {
	for {
		line, err := copyLine(dst, src)
		if err != nil {
			return err
		}
		size, err := chunkSize(line)
		if err != nil {
			return &readError{err}
		}
		if size == 0 {
			for {
				line, err := copyLine(dst, src)
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if err := copyN(dst, src, size); err != nil {
			return err
		}
		line, err = copyLine(dst, src)
		if err != nil {
			return err
		}
		if len(line) != 0 {
			return &readError{errBadChunk}
		}
	}
}

// copyLine copies one line, which must fit src's buffer, and returns it
// without its CRLF (valid until src is read again). Unlike in a head, a bare
// LF or CR is refused, as is any other control character but tab: the body
// goes on as it came, and a next hop that ends these lines elsewhere would
// read another body than the proxy did (a request smuggled past it).
func copyLine(dst *bufio.Writer, src *bufio.Reader) ([]byte, error) {
	if err := await(dst, src); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &readError{io.ErrUnexpectedEOF}
		}
		return nil, err
	}
	line, err := src.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			err = errBadChunk
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, &readError{err}
	}
	content, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok || !validValue(content) {
		return nil, &readError{fmt.Errorf("%w: line %q", errBadChunk, clip(line))}
	}
	if _, err := dst.Write(line); err != nil {
		return nil, &writeError{err}
	}
	return content, nil
}

// chunkSize parses a chunk's size line: hex digits, then optional
// extensions after ';'.
func chunkSize(line []byte) (int64, error) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.Trim(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, fmt.Errorf("%w: chunk size %q", errBadChunk, clip(line))
	}
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, fmt.Errorf("%w: chunk size %q", errBadChunk, clip(line))
		}
		n = n<<4 | int64(d)
	}
	return n, nil
}
