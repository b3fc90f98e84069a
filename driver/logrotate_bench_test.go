package driver

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLogRotation measures one rotation of a full 10 MB log file
// (Nomad's default size): shifting the copies, copying the live file and
// truncating it.
func BenchmarkLogRotation(b *testing.B) {
	path := filepath.Join(b.TempDir(), "task.stdout.0")
	chunk := make([]byte, DefaultMaxLogFileSizeMB<<20+1)
	r := NewLogRotator(path, DefaultMaxLogFiles, 0)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		b.StopTimer()
		if err := os.WriteFile(path, chunk, 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if rotated, err := r.Rotate(); err != nil || !rotated {
			b.Fatal(rotated, err)
		}
	}
}

// BenchmarkLogRotationCheck measures the check a rotator makes every
// interval when the file is under its limit.
func BenchmarkLogRotationCheck(b *testing.B) {
	path := filepath.Join(b.TempDir(), "task.stdout.0")
	if err := os.WriteFile(path, []byte("small\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	r := NewLogRotator(path, DefaultMaxLogFiles, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Rotate(); err != nil {
			b.Fatal(err)
		}
	}
}
