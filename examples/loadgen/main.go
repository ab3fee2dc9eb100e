// Command loadgen sends HTTP requests to one URL from several workers, each
// on a new connection, until it is stopped (SIGINT or SIGTERM) or its
// duration ends, then prints how many failed. The demo and the benchmark use
// it to measure what an upgrade costs the clients of a service.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8991/", "URL to request")
	workers := flag.Int("c", 4, "concurrent workers")
	duration := flag.Duration("d", 0, "stop after this long (0: until signalled)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A new connection per request, as browsers and most clients
			// of a restarted service see it.
			// A generous timeout: a client held while the proxy switches
			// sees latency, which is not a failure.
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for ctx.Err() == nil {
				resp, err := client.Get(*url)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if ctx.Err() != nil {
					return
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	total := ok.Load() + failed.Load()
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(failed.Load()) / float64(total)
	}
	fmt.Fprintf(os.Stdout, "requests: %d, failed: %d (%.2f%%)\n", total, failed.Load(), pct)
}
