package engine

import (
	"strings"
	"testing"

	"github.com/drover/drover/reconcile"
)

// A pull's stream, as the engine sends it (trimmed): two layers, one
// already here.
const pullStream = `{"status":"Pulling from p/web","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Already exists","progressDetail":{},"id":"bbb"}
{"status":"Downloading","progressDetail":{"current":500,"total":2000},"progress":"[==> ]","id":"aaa"}
{"status":"Downloading","progressDetail":{"current":1500,"total":2000},"progress":"[====> ]","id":"aaa"}
{"status":"Download complete","progressDetail":{},"id":"aaa"}
{"status":"Extracting","progressDetail":{"current":100,"total":9000},"id":"aaa"}
{"status":"Pull complete","progressDetail":{},"id":"aaa"}
{"status":"Digest: sha256:0000"}
{"status":"Status: Downloaded newer image for 127.0.0.1:5000/p/web:latest"}
`

const pushStream = `{"status":"The push refers to repository [127.0.0.1:5000/p/web]"}
{"status":"Preparing","progressDetail":{},"id":"ccc"}
{"status":"Pushing","progressDetail":{"current":4000,"total":8000},"progress":"[==> ]","id":"ccc"}
{"status":"Pushed","progressDetail":{},"id":"ccc"}
{"status":"latest: digest: sha256:1111 size: 528"}
`

func TestFollowProgress(t *testing.T) {
	for _, tc := range []struct {
		name, stream string
		want         reconcile.Progress
		err          string
	}{
		{name: "pull", stream: pullStream, want: reconcile.Progress{Layers: 2, LayersDone: 2, Bytes: 2000, BytesDone: 2000}},
		{name: "push", stream: pushStream, want: reconcile.Progress{Layers: 1, LayersDone: 1, Bytes: 8000, BytesDone: 8000}},
		{name: "error", stream: `{"status":"Pulling fs layer","id":"aaa"}` + "\n" + `{"errorDetail":{"message":"unauthorized"},"error":"unauthorized"}`, err: "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var last reconcile.Progress
			var reports int
			err := followProgress(strings.NewReader(tc.stream), func(p reconcile.Progress) { last = p; reports++ })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || last != tc.want || reports < 2 {
				t.Fatalf("last progress %+v (%d reports), %v; want %+v, each finished layer reported", last, reports, err, tc.want)
			}
		})
	}
}

func TestRegistryErrorNamesTheRegistryNotThePassword(t *testing.T) {
	err := registryError("127.0.0.1:5000/p/web:latest", "drover", errString("Error response from daemon: Get \"http://127.0.0.1:5000/v2/p/web/manifests/latest\": unauthorized: authentication required"))
	want := `the registry 127.0.0.1:5000 refused the login of "drover"`
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("%v; want %q", err, want)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
