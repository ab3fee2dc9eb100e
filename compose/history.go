package compose

import (
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
)

// DefaultHistory is how many revisions of a service its containers
// record, its current one included.
const DefaultHistory = 5

// maxHistory bounds x-drover.history: every container carries the whole
// history in a label.
const maxHistory = 50

// historyLimit reads x-drover.history: how many revisions of the service
// its containers record (DefaultHistory when unset).
func historyLimit(cfg types.ServiceConfig) (int, error) {
	ext, ok := cfg.Extensions["x-drover"].(map[string]any)
	if !ok {
		return DefaultHistory, nil
	}
	v, ok := ext["history"]
	if !ok {
		return DefaultHistory, nil
	}
	n := -1
	switch x := v.(type) {
	case int:
		n = x
	case int64:
		n = int(x)
	case uint64:
		n = int(x)
	case float64:
		if x == float64(int(x)) {
			n = int(x)
		}
	}
	if n < 2 || n > maxHistory {
		return 0, fmt.Errorf("x-drover.history: expected a whole number of revisions from 2 to %d (the current one and at least one to go back to), got %v", maxHistory, v)
	}
	return n, nil
}
