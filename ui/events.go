package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
)

// message is one line of a run, as the pages get it: Kind is start, event
// (a --progress json event, in Line), log (a message drover printed) or
// end (with Error when the verb refused or failed).
type message struct {
	Seq     int    `json:"seq"`
	Run     int    `json:"run"`
	Project string `json:"project"`
	Verb    string `json:"verb"`
	Service string `json:"service,omitempty"`
	Kind    string `json:"kind"`
	Line    string `json:"line,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (m message) with(kind, line string) message {
	m.Kind, m.Line = kind, line
	return m
}

// replay is how many recent messages a page that opens gets first, so
// that a second tab sees the run under way.
const replay = 400

// hub hands every message to every page listening.
type hub struct {
	mu     sync.Mutex
	seq    int
	recent []message
	subs   map[chan message]bool
}

func newHub() *hub { return &hub{subs: map[chan message]bool{}} }

func (h *hub) send(m message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	m.Seq = h.seq
	h.recent = append(h.recent, m)
	if len(h.recent) > replay {
		h.recent = h.recent[len(h.recent)-replay:]
	}
	for c := range h.subs {
		select {
		case c <- m:
		default: // a page too slow to read loses lines, never blocks a run
		}
	}
}

func (h *hub) subscribe() (chan message, []message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := make(chan message, 256)
	h.subs[c] = true
	return c, append([]message(nil), h.recent...)
}

func (h *hub) unsubscribe(c chan message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, c)
}

// events streams the runs' messages as server-sent events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if !getOnly(w, r) {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	c, past := s.hub.subscribe()
	defer s.hub.unsubscribe(c)
	w.Header().Set("Content-Type", "text/event-stream")
	write := func(m message) {
		data, _ := json.Marshal(m)
		fmt.Fprintf(w, "data: %s\n\n", data)
	}
	for _, m := range past {
		write(m)
	}
	fmt.Fprint(w, ": ready\n\n")
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case m := <-c:
			write(m)
			fl.Flush()
		}
	}
}
