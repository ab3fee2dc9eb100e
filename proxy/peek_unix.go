//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// closedByPeer reports whether the peer of an idle connection closed it (or
// sent something unasked, which leaves it as unusable), by a peek that does
// not wait. A read with a past deadline would not tell: Go returns the
// deadline error without asking the kernel.
func closedByPeer(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n > 0 || n == 0 && err == nil || err != nil && err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
		return true
	})
	return err != nil || closed
}
