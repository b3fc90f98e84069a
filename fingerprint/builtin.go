package fingerprint

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/droverhq/drover/structs"
)

// defaultCoreMHz is assumed per core when the host does not report a
// frequency (some virtual machines), so a node never offers 0 MHz.
const defaultCoreMHz = 1000

type cpuFingerprint struct{}

func (cpuFingerprint) Name() string { return "cpu" }

func (cpuFingerprint) Fingerprint(context.Context) (*Result, error) {
	cores := runtime.NumCPU()
	model, mhz := "", 0.0
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		model, mhz = parseCPUInfo(f)
		f.Close()
	}
	if mhz <= 0 {
		if data, err := os.ReadFile("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"); err == nil {
			if khz, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 64); err == nil {
				mhz = khz / 1000
			}
		}
	}
	if mhz <= 0 {
		mhz = defaultCoreMHz
	}
	total := int64(float64(cores) * mhz)
	attrs := map[string]string{
		"cpu.numcores":     strconv.Itoa(cores),
		"cpu.frequency":    strconv.Itoa(int(mhz)),
		"cpu.totalcompute": strconv.FormatInt(total, 10),
	}
	if model != "" {
		attrs["cpu.modelname"] = model
	}
	return &Result{Attributes: attrs, Resources: &structs.Resources{CpuMhz: total}}, nil
}

// parseCPUInfo reads the model name and MHz of the first processor in
// /proc/cpuinfo's format.
func parseCPUInfo(r io.Reader) (model string, mhz float64) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			if model == "" {
				model = v
			}
		case "cpu MHz":
			if mhz == 0 {
				mhz, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return model, mhz
}

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
		return nil, err
	}
	return &Result{
		Attributes: map[string]string{"memory.totalbytes": strconv.FormatInt(bytes, 10)},
		Resources:  &structs.Resources{MemoryMb: bytes / (1 << 20)},
	}, nil
}

// parseMemInfo reads MemTotal from /proc/meminfo's format, in bytes.
func parseMemInfo(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("MemTotal: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("MemTotal not found")
}

type hostFingerprint struct{}

func (hostFingerprint) Name() string { return "host" }

func (hostFingerprint) Fingerprint(context.Context) (*Result, error) {
	attrs := map[string]string{"kernel.name": runtime.GOOS}
	if h, err := os.Hostname(); err == nil {
		attrs["unique.hostname"] = h
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		id, version := parseOSRelease(string(data))
		if id != "" {
			attrs["os.name"] = id
		}
		if version != "" {
			attrs["os.version"] = version
		}
	}
	if rel, err := kernelRelease(); err == nil && rel != "" {
		attrs["kernel.version"] = rel
	}
	return &Result{Attributes: attrs}, nil
}

// parseOSRelease reads ID and VERSION_ID from /etc/os-release's format.
func parseOSRelease(s string) (id, version string) {
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			id = v
		case "VERSION_ID":
			version = v
		}
	}
	return id, version
}

type archFingerprint struct{}

func (archFingerprint) Name() string { return "arch" }

func (archFingerprint) Fingerprint(context.Context) (*Result, error) {
	attrs := map[string]string{"cpu.arch": runtime.GOARCH}
	if m, err := machine(); err == nil && m != "" {
		attrs["kernel.arch"] = m
	}
	return &Result{Attributes: attrs}, nil
}
