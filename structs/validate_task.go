package structs

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
)

// maxUserLen bounds a task's user field.
const maxUserLen = 256

// checksumSizes are the checksum types artifacts accept, with their sizes.
var checksumSizes = map[string]int{"sha256": 32, "sha512": 64}

// validateClientParts checks what a client needs of a task beyond its
// driver: artifacts and log limits.
func (t *Task) validateClientParts(p *problems, prefix string) {
	for i, a := range t.Artifacts {
		ap := fmt.Sprintf("%sartifact %d: ", prefix, i)
		if a == nil {
			p.addf(ap, "is missing")
			continue
		}
		validateArtifact(p, ap, a)
	}
	if u := t.User; u != "" && (len(u) > maxUserLen || strings.ContainsAny(u, "\x00\n/ ")) {
		p.addf(prefix, "user %s must be a user name or id (uid or uid:gid)", Quote(u))
	}
	if l := t.Logs; l != nil {
		if l.MaxFiles < 0 {
			p.addf(prefix, "logs: max_files must be >= 1, got %d", l.MaxFiles)
		}
		if l.MaxFileSizeMb < 0 {
			p.addf(prefix, "logs: max_file_size must be >= 1 MB, got %d", l.MaxFileSizeMb)
		}
	}
}

func validateArtifact(p *problems, prefix string, a *Artifact) {
	switch {
	case a.Source == "":
		p.addf(prefix, "source is required")
	case strings.HasPrefix(a.Source, "/"), strings.Contains(a.Source, "${"):
		// Interpolated on the client, which checks the result.
	default:
		u, err := url.Parse(a.Source)
		if err != nil {
			p.addf(prefix, "source %s: %s", Quote(a.Source), clipErr(err))
		} else if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file" {
			p.addf(prefix, "source %s: scheme must be http, https or file, or the source an absolute path", Quote(a.Source))
		}
	}
	if why := checkRelativePath(a.Destination); why != "" && !strings.Contains(a.Destination, "${") {
		p.addf(prefix, "destination %s %s", Quote(a.Destination), why)
	}
	for k, v := range a.Options {
		switch k {
		case "checksum":
			kind, sum, ok := strings.Cut(v, ":")
			size, known := checksumSizes[kind]
			b, err := hex.DecodeString(sum)
			switch {
			case !ok || !known:
				p.addf(prefix, "checksum %s must be sha256:<hex> or sha512:<hex>", Quote(v))
			case err != nil || len(b) != size:
				p.addf(prefix, "checksum %s: want %d hex-encoded bytes", Quote(v), size)
			}
		case "archive":
			if v != "true" && v != "false" {
				p.addf(prefix, "option archive must be true or false, got %s", Quote(v))
			}
		default:
			p.addf(prefix, "unknown option %s (known: archive, checksum)", Quote(k))
		}
	}
}
