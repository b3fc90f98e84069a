//go:build unix && !linux

package proc

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/droverhq/drover/driver"
)

// usageSample is unused off Linux.
type usageSample struct {
	mu  sync.Mutex
	cpu float64
	at  time.Time
}

// TaskStats implements driver.StatsDriver: off Linux there is no /proc
// to measure tasks with.
func (d *Driver) TaskStats(context.Context, string) (*driver.TaskUsage, error) {
	return nil, fmt.Errorf("%s: task stats: %w", d.name, driver.ErrNotSupported)
}
