package proxy

import (
	"context"
	"net"
	"testing"
)

// A remembered address that no longer answers (the container came back
// elsewhere) is looked up again before the dial gives up.
func TestAddrCacheLooksUpAgainWhenTheAddressMoved(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	var c addrCache
	c.put("localhost", []string{"127.0.0.2"}) // where it used to be: nothing listens there
	conn, err := c.dial(context.Background(), net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("dial after the address moved: %v", err)
	}
	conn.Close()
	if ips, ok := c.get("localhost"); !ok || ips[0] == "127.0.0.2" {
		t.Errorf("cache after the new lookup: %v %v", ips, ok)
	}
}
