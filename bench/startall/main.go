// Command startall starts the containers named on its command line, all at
// once (one API call each, in parallel), and returns when the engine has
// answered every call. bench/compare.sh times it as the engine's floor for a
// rollback: drover's rollback starts the same stopped containers, and cannot
// be faster than this.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: startall CONTAINER...")
		os.Exit(2)
	}
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Negotiate the API version before the clock matters to the calls.
	if _, err := c.Ping(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	errs := make([]error, len(os.Args)-1)
	var wg sync.WaitGroup
	for i, ref := range os.Args[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.ContainerStart(context.Background(), ref, container.StartOptions{})
		}()
	}
	wg.Wait()
	failed := false
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(os.Stderr, "start %s: %v\n", os.Args[i+1], err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
