// Command proxyload requests one URL from workers that open a new connection
// per request (-c) and workers that keep theirs alive (-k), for -d or until
// SIGINT/SIGTERM, then prints one line: requests, failed, answered requests
// per second and the p50/p99 latency of the answered ones. bench/proxy.sh
// uses it for throughput through drover's front proxy against a port
// published directly, and to count the requests an upgrade fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8991/", "URL to request")
	fresh := flag.Int("c", 4, "workers opening a new connection per request")
	keep := flag.Int("k", 0, "workers keeping their connection alive")
	duration := flag.Duration("d", 0, "stop after this long (0: until signalled)")
	freePorts := flag.Int("free-ports", 0, "print this many loopback ports nobody listens on, and exit")
	flag.Parse()
	if *freePorts > 0 {
		printFreePorts(*freePorts)
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	began := time.Now()
	for i := 0; i < *fresh+*keep; i++ {
		// A long timeout: a client the proxy holds during a switch sees
		// latency, which is not a failure.
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: i < *fresh, MaxIdleConnsPerHost: 1}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				t0 := time.Now()
				resp, err := client.Get(*url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if ctx.Err() != nil {
					return // cut by the end of the run: not counted
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	fmt.Fprintf(os.Stdout, "requests %d failed %d rps %.0f p50_ms %.3f p99_ms %.3f\n",
		int64(len(lat))+failed.Load(), failed.Load(), float64(len(lat))/elapsed.Seconds(), pct(0.50), pct(0.99))
}

// printFreePorts prints n distinct free loopback ports, one a line (all held
// open until printed, so they differ).
func printFreePorts(n int) {
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer l.Close()
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
}
