// Command hello is the tiny HTTP server drover's examples and tests run: it
// answers with its version, serves /healthz, and can be told to start slowly
// (SLOW_START), to fail its health check (FAIL_HEALTH) or to crash
// (CRASH_AFTER=1s); /slow?d=3s answers like /version after that long;
// /file?path=P answers with the container's file P. Built
// static, it runs in a FROM scratch image, where it is also its own health
// probe (hello -probe), since such an image has no shell and no curl.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set at build time: -ldflags "-X main.version=v2".
var version = "dev"

func main() {
	probe := flag.String("probe", "", "GET this URL and exit 0 if it answers 200 (a HEALTHCHECK command)")
	appendTo := flag.String("append", "", "append a line to this file saying whether this container's server answers, and exit (a lifecycle hook)")
	exit := flag.Int("exit", -1, "exit with this status at once (a failing hook)")
	get := flag.String("get", "", "GET this URL, print the body and exit 0 if it answers 200 (a client for networks the host cannot reach)")
	flag.Parse()
	switch {
	case *probe != "":
		os.Exit(runProbe(*probe))
	case *appendTo != "":
		os.Exit(runAppend(*appendTo))
	case *exit >= 0:
		fmt.Fprintf(os.Stderr, "hello %s: exiting with status %d (-exit, MARK=%s)\n", version, *exit, os.Getenv("MARK"))
		os.Exit(*exit)
	}
	if *get != "" {
		os.Exit(runGet(*get))
	}

	port := envOr("PORT", "80")
	if d, err := time.ParseDuration(os.Getenv("SLOW_START")); err == nil {
		log.Printf("hello %s: slow start, waiting %s", version, d)
		time.Sleep(d)
	}
	failHealth := os.Getenv("FAIL_HEALTH") != "" || version == "broken"
	if d, err := time.ParseDuration(os.Getenv("CRASH_AFTER")); err == nil {
		// A release that starts, serves, then dies: what a monitor period
		// exists to catch.
		time.AfterFunc(d, func() {
			log.Printf("hello %s: crashing after %s (CRASH_AFTER)", version, d)
			os.Exit(3)
		})
	}
	host, _ := os.Hostname()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s (%s)\n", version, host)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if failHealth {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, version)
	})
	// A file of the container, for tests of configs: /file?path=/app.conf.
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, r.URL.Query().Get("path"))
	})
	// A long request, for tests of what a drain waits for.
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, "slow: want d=DURATION, such as d=3s", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
			fmt.Fprintln(w, version)
		case <-r.Context().Done():
		}
	})

	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// As PID 1 in a container, a process without a SIGTERM handler is not
	// stopped by it: handle it, and finish the requests in flight.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("hello %s: listening on :%s", version, port)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	// ListenAndServe returns as soon as Shutdown begins: wait for the
	// requests in flight to finish.
	<-stopped
}

// runProbe GETs url and exits 0 on 200 (the health check: quick, silent).
func runProbe(url string) int { return fetch(url, 2*time.Second, io.Discard) }

// runGet GETs url, prints the body, and exits 0 on 200.
func runGet(url string) int { return fetch(url, 5*time.Second, os.Stdout) }

func fetch(url string, timeout time.Duration, body io.Writer) int {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(body, resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, resp.Status)
		return 1
	}
	return 0
}

// runAppend appends "VERSION HOSTNAME serving|down MARK" to a file: run as a
// hook, it records when it ran that the server still answered (or not yet),
// and that the hook's environment (MARK) reached it.
func runAppend(path string) int {
	host, _ := os.Hostname()
	state := "down"
	if runProbe("http://127.0.0.1:"+envOr("PORT", "80")+"/version") == 0 {
		state = "serving"
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = fmt.Fprintf(f, "%s %s %s %s\n", version, host, state, os.Getenv("MARK"))
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
