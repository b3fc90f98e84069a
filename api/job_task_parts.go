package api

import (
	"fmt"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// Task parts the client runs, in both directions: artifacts and log limits.

// defaultArtifactDest is where an artifact lands when its job names no
// destination, in drover as in Nomad.
const defaultArtifactDest = "local/"

// artifacts converts a task's artifacts. drover fetches http(s), file://
// and local sources into a directory, checks the checksum option and
// unpacks archives (unless the archive option is "false"); the job's
// validation checks sources, destinations and options.
func (c *jobConversion) artifacts(path string, in []*artifactJSON) []*structs.Artifact {
	var out []*structs.Artifact
	for i, a := range in {
		if a == nil {
			out = append(out, nil)
			continue
		}
		ap := fmt.Sprintf("%sArtifacts[%d].", path, i)
		switch mode := deref(a.GetterMode); mode {
		case "", "any":
		default:
			c.problem(ap, "GetterMode %q is not supported by drover (only any)", mode)
		}
		c.refuse(ap, map[string]bool{
			"GetterHeaders": len(a.GetterHeaders) > 0, "GetterInsecure": deref(a.GetterInsecure), "Chown": a.Chown,
		})
		dest := defaultArtifactDest
		if a.RelativeDest != nil {
			dest = *a.RelativeDest
		}
		art := &structs.Artifact{Source: deref(a.GetterSource), Destination: dest}
		if len(a.GetterOptions) > 0 {
			art.Options = a.GetterOptions
		}
		out = append(out, art)
	}
	return out
}

func artifactsToJSON(in []*structs.Artifact) []*artifactJSON {
	var out []*artifactJSON
	for _, a := range in {
		dest := a.Destination
		if dest == "" {
			dest = defaultArtifactDest
		}
		out = append(out, &artifactJSON{
			GetterSource: ptr(a.Source), GetterOptions: a.Options, GetterMode: ptr("any"),
			GetterInsecure: ptr(false), RelativeDest: ptr(dest),
		})
	}
	return out
}

// logConfig converts a task's log limits; a limit left out (or 0) takes
// the client's default, Nomad's 10 files of 10 MB.
func (c *jobConversion) logConfig(path string, in *logConfigJSON) *structs.LogConfig {
	if in == nil {
		return nil
	}
	c.refuse(path+"LogConfig.", map[string]bool{"Disabled": deref(in.Disabled)})
	return &structs.LogConfig{MaxFiles: int32(clampInt(deref(in.MaxFiles))), MaxFileSizeMb: int32(clampInt(deref(in.MaxFileSizeMB)))}
}

// logConfigToJSON renders the limits the client applies.
func logConfigToJSON(l *structs.LogConfig) *logConfigJSON {
	files, size := int(l.GetMaxFiles()), int(l.GetMaxFileSizeMb())
	if files < 1 {
		files = driver.DefaultMaxLogFiles
	}
	if size < 1 {
		size = driver.DefaultMaxLogFileSizeMB
	}
	return &logConfigJSON{MaxFiles: ptr(files), MaxFileSizeMB: ptr(size), Disabled: ptr(false)}
}
