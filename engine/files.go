package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/drover/drover/reconcile"
)

// copyFiles puts files into a created container, one archive per file
// (each may ask for its own owner), as docker compose copies configs of
// content: and environment:.
func (d *Docker) copyFiles(ctx context.Context, id string, files []reconcile.FileCopy) error {
	for _, f := range files {
		archive, err := fileArchive(f)
		if err != nil {
			return err
		}
		err = d.c.CopyToContainer(ctx, id, "/", archive, container.CopyToContainerOptions{CopyUIDGID: f.UID != "" || f.GID != ""})
		if err != nil {
			return fmt.Errorf("copying %s into the container: %w", f.Path, err)
		}
	}
	return nil
}

// fileArchive is a tar archive of one file at its path under /; the engine
// makes the directories on the way.
func fileArchive(f reconcile.FileCopy) (*bytes.Buffer, error) {
	uid, gid := 0, 0
	var err error
	if f.UID != "" {
		if uid, err = strconv.Atoi(f.UID); err != nil {
			return nil, fmt.Errorf("%s: uid %q: %w", f.Path, f.UID, err)
		}
	}
	if f.GID != "" {
		if gid, err = strconv.Atoi(f.GID); err != nil {
			return nil, fmt.Errorf("%s: gid %q: %w", f.Path, f.GID, err)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Size: int64(len(f.Content)), Mode: f.Mode,
		ModTime: time.Now(), Uid: uid, Gid: gid, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(f.Content); err != nil {
		return nil, err
	}
	return &buf, tw.Close()
}
