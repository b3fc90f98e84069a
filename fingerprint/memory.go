package fingerprint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/droverhq/drover/structs"
)

// Memory fingerprints the host's memory from /proc/meminfo:
// memory.totalbytes and the node's memory_mb.
func Memory() Fingerprinter { return memoryFingerprint{} }

type memoryFingerprint struct{}

func (memoryFingerprint) Name() string { return "memory" }

func (memoryFingerprint) Fingerprint(context.Context) (*Result, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bytes, err := parseMemInfo(f)
	if err != nil {
		return nil, fmt.Errorf("/proc/meminfo: %w", err)
	}
	return &Result{
		Attributes: map[string]string{"memory.totalbytes": strconv.FormatInt(bytes, 10)},
		Resources:  &structs.Resources{MemoryMb: bytes >> 20},
	}, nil
}

// parseMemInfo reads MemTotal, in bytes, from /proc/meminfo's format.
func parseMemInfo(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "MemTotal:" {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("MemTotal: %w", err)
		}
		if len(fields) > 2 && fields[2] != "kB" {
			return 0, fmt.Errorf("MemTotal: unknown unit %q", fields[2])
		}
		if kb <= 0 || kb > (1<<63-1)/1024 {
			return 0, fmt.Errorf("MemTotal: implausible %d kB", kb)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no MemTotal")
}
