package fingerprint

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/droverhq/drover/structs"
)

// DefaultCoreMHz is the frequency assumed per core when the host reports
// none.
const DefaultCoreMHz = 1000

const (
	cpuInfoPath = "/proc/cpuinfo"
	maxFreqPath = "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"
)

// CPU fingerprints the processor: cpu.numcores (the cores this process may
// use), cpu.frequency (MHz per core), cpu.totalcompute (MHz in all),
// cpu.modelname, and the node's cpu_mhz. The frequency is /proc/cpuinfo's
// "cpu MHz", else cpufreq's cpuinfo_max_freq, else DefaultCoreMHz.
func CPU() Fingerprinter { return cpuFingerprint{} }

type cpuFingerprint struct{}

func (cpuFingerprint) Name() string { return "cpu" }

func (cpuFingerprint) Fingerprint(context.Context) (*Result, error) {
	var errs []error
	var cpuinfo io.Reader
	if f, err := os.Open(cpuInfoPath); err == nil {
		defer f.Close()
		cpuinfo = f
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	maxFreq, err := os.ReadFile(maxFreqPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return cpuFacts(runtime.NumCPU(), cpuinfo, string(maxFreq)), errors.Join(errs...)
}

// cpuFacts derives the cpu fingerprint from the number of cores, the
// contents of /proc/cpuinfo (nil if unavailable) and of cpuinfo_max_freq in
// kHz ("" if unavailable).
func cpuFacts(cores int, cpuinfo io.Reader, maxFreqKHz string) *Result {
	if cores < 1 {
		cores = 1
	}
	var model string
	var mhz float64
	if cpuinfo != nil {
		model, mhz = parseCPUInfo(cpuinfo)
	}
	if mhz <= 0 {
		if khz, err := strconv.ParseFloat(strings.TrimSpace(maxFreqKHz), 64); err == nil && khz > 0 {
			mhz = khz / 1000
		}
	}
	perCore := int64(math.Round(mhz))
	if perCore <= 0 || math.IsNaN(mhz) || math.IsInf(mhz, 0) {
		perCore = DefaultCoreMHz
	}
	total := int64(cores) * perCore
	attrs := map[string]string{
		"cpu.numcores":     strconv.Itoa(cores),
		"cpu.frequency":    strconv.FormatInt(perCore, 10),
		"cpu.totalcompute": strconv.FormatInt(total, 10),
	}
	if model != "" {
		attrs["cpu.modelname"] = model
	}
	return &Result{Attributes: attrs, Resources: &structs.Resources{CpuMhz: total}}
}

// parseCPUInfo reads the model name and MHz of the first processor that
// reports them in /proc/cpuinfo's format. Either may be missing (arm hosts
// often report neither): "" and 0.
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
			if mhz <= 0 {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
					mhz = f
				}
			}
		}
	}
	return model, mhz
}
