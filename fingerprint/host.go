package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// osReleasePaths are where os-release(5) may be, in order.
var osReleasePaths = []string{"/etc/os-release", "/usr/lib/os-release"}

// Host fingerprints the operating system: kernel.name (runtime.GOOS),
// kernel.version (the kernel release), os.name and os.version (ID and
// VERSION_ID of os-release, when there is one) and unique.hostname.
func Host() Fingerprinter { return hostFingerprint{} }

type hostFingerprint struct{}

func (hostFingerprint) Name() string { return "host" }

func (hostFingerprint) Fingerprint(context.Context) (*Result, error) {
	attrs := map[string]string{"kernel.name": runtime.GOOS}
	var errs []error
	if h, err := os.Hostname(); err != nil {
		errs = append(errs, fmt.Errorf("hostname: %w", err))
	} else if h != "" {
		attrs["unique.hostname"] = h
	}
	if rel, err := kernelRelease(); err != nil {
		errs = append(errs, fmt.Errorf("kernel release: %w", err))
	} else if rel != "" {
		attrs["kernel.version"] = rel
	}
	for _, p := range osReleasePaths {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			break
		}
		rel := parseOSRelease(string(data))
		if id := rel["ID"]; id != "" {
			attrs["os.name"] = id
		}
		if v := rel["VERSION_ID"]; v != "" {
			attrs["os.version"] = v
		}
		break
	}
	return &Result{Attributes: attrs}, errors.Join(errs...)
}

// parseOSRelease reads the variables of os-release(5)'s format: KEY=value
// lines, values optionally quoted, "#" comments.
func parseOSRelease(s string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			continue
		}
		vars[k] = unquoteShell(v)
	}
	return vars
}

// unquoteShell undoes the shell-like quoting os-release allows: single
// quotes, or double quotes with backslash escapes.
func unquoteShell(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}
