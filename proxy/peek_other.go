//go:build !unix

package proxy

import "net"

// closedByPeer cannot tell here; a closed connection is found when used.
func closedByPeer(net.Conn) bool { return false }
