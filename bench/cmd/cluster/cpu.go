package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"google.golang.org/protobuf/encoding/protowire"
)

// cpuByLabel runs a CPU profile for the whole run and, at the end, sums
// the CPU time of its samples by the value of one pprof label: every
// server's goroutines carry server=<name>, so the leader's share of the
// process's CPU can be told apart from the simulated clients'.
type cpuByLabel struct {
	buf bytes.Buffer
	on  bool
	// file, when set, receives the profile as well (for go tool pprof).
	file string
}

func (c *cpuByLabel) start() error {
	if err := pprof.StartCPUProfile(&c.buf); err != nil {
		return err
	}
	c.on = true
	return nil
}

// stop ends the profile and returns CPU seconds per value of label
// (samples without it under "").
func (c *cpuByLabel) stop(label string) (map[string]float64, error) {
	if !c.on {
		return nil, nil
	}
	pprof.StopCPUProfile()
	c.on = false
	if c.file != "" {
		if err := os.WriteFile(c.file, c.buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	zr, err := gzip.NewReader(&c.buf)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	return sumByLabel(raw, label)
}

// sumByLabel decodes the fields of a pprof Profile message it needs
// (sample = 2: value = 2, label = 3 {key = 1, str = 2}; string_table = 6)
// and sums the samples' last value (CPU nanoseconds) by label value.
func sumByLabel(raw []byte, label string) (map[string]float64, error) {
	var samples []decodedSample
	var strs []string
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return nil, fmt.Errorf("profile: bad tag")
		}
		raw = raw[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, raw)
			if n < 0 {
				return nil, fmt.Errorf("profile: bad field %d", num)
			}
			raw = raw[n:]
			continue
		}
		b, n := protowire.ConsumeBytes(raw)
		if n < 0 {
			return nil, fmt.Errorf("profile: bad field %d", num)
		}
		raw = raw[n:]
		switch num {
		case 2:
			s, err := decodeSample(b)
			if err != nil {
				return nil, err
			}
			samples = append(samples, s)
		case 6:
			strs = append(strs, string(b))
		}
	}
	out := map[string]float64{}
	for _, s := range samples {
		key := ""
		for k, v := range s.labels {
			if int(k) < len(strs) && strs[k] == label && int(v) < len(strs) {
				key = strs[v]
			}
		}
		out[key] += float64(s.value) / 1e9
	}
	return out, nil
}

type decodedSample struct {
	value  int64
	labels map[int64]int64
}

func decodeSample(b []byte) (decodedSample, error) {
	s := decodedSample{labels: map[int64]int64{}}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return s, fmt.Errorf("profile: bad sample")
		}
		b = b[n:]
		switch {
		case num == 2 && typ == protowire.BytesType:
			packed, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return s, fmt.Errorf("profile: bad sample values")
			}
			b = b[n:]
			for len(packed) > 0 {
				v, m := protowire.ConsumeVarint(packed)
				if m < 0 {
					return s, fmt.Errorf("profile: bad sample value")
				}
				packed = packed[m:]
				s.value = int64(v) // the last value is CPU nanoseconds
			}
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return s, fmt.Errorf("profile: bad sample value")
			}
			b = b[n:]
			s.value = int64(v)
		case num == 3 && typ == protowire.BytesType:
			lb, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return s, fmt.Errorf("profile: bad label")
			}
			b = b[n:]
			var key, str int64
			for len(lb) > 0 {
				ln, lt, m := protowire.ConsumeTag(lb)
				if m < 0 {
					return s, fmt.Errorf("profile: bad label")
				}
				lb = lb[m:]
				if lt != protowire.VarintType {
					m = protowire.ConsumeFieldValue(ln, lt, lb)
					if m < 0 {
						return s, fmt.Errorf("profile: bad label")
					}
					lb = lb[m:]
					continue
				}
				v, m := protowire.ConsumeVarint(lb)
				if m < 0 {
					return s, fmt.Errorf("profile: bad label")
				}
				lb = lb[m:]
				switch ln {
				case 1:
					key = int64(v)
				case 2:
					str = int64(v)
				}
			}
			s.labels[key] = str
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return s, fmt.Errorf("profile: bad sample field")
			}
			b = b[n:]
		}
	}
	return s, nil
}
