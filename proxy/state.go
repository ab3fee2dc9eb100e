package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// savedState is the state file's content: the table and the pause bound that
// came with it, so a restarted proxy holds paused connections as long as the
// one before it would have.
type savedState struct {
	Table      Table `json:"table"`
	MaxPauseMS int64 `json:"max_pause_ms,omitempty"`
}

// loadState reads path; a missing file (or no path) is an empty table, since a
// proxy that was never configured has nothing to restore.
func loadState(path string) (savedState, error) {
	if path == "" {
		return savedState{}, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return savedState{}, nil
	}
	if err != nil {
		return savedState{}, fmt.Errorf("read proxy state: %w", err)
	}
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		return savedState{}, fmt.Errorf("read proxy state %s: %w", path, err)
	}
	t, err := st.Table.normalized()
	if err != nil {
		return savedState{}, fmt.Errorf("read proxy state %s: %w", path, err)
	}
	st.Table = t
	return st, nil
}

// saveState writes st to path through a temporary file in the same directory
// and a rename, so a crash leaves either the old table or the new one, never a
// torn file.
func saveState(path string, st savedState) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode proxy state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write proxy state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write proxy state %s: %w", path, err)
	}
	// The rename is durable only once the directory entry is; without this a
	// power cut could bring back the previous table after an acknowledgement.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
