package engine

import (
	"archive/tar"
	"io"
	"testing"

	"github.com/drover/drover/reconcile"
)

func TestFileArchive(t *testing.T) {
	buf, err := fileArchive(reconcile.FileCopy{Path: "/etc/app/conf.txt", Content: []byte("x=1\n"), UID: "1000", GID: "2000", Mode: 0o440})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(buf)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(tr)
	if hdr.Name != "etc/app/conf.txt" || hdr.Uid != 1000 || hdr.Gid != 2000 || hdr.Mode != 0o440 || string(body) != "x=1\n" {
		t.Errorf("header %+v, body %q", hdr, body)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("more than one entry: %v", err)
	}
	if _, err := fileArchive(reconcile.FileCopy{Path: "/x", UID: "app"}); err == nil {
		t.Error("a uid that is not a number was accepted")
	}
}
