package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/droverhq/drover/structs"
)

// The file system and log endpoints of Nomad's client API. Paths are
// rooted at the allocation's directory ("/", "alloc/logs",
// "web/local/file"); the backend refuses any that leads outside it.

// allocFileInfoJSON is Nomad's AllocFileInfo.
type allocFileInfoJSON struct {
	Name        string
	IsDir       bool
	Size        int64
	FileMode    string
	ModTime     time.Time
	ContentType string `json:",omitempty"`
}

func fileInfoToJSON(f *structs.AllocFileInfo) allocFileInfoJSON {
	return allocFileInfoJSON{
		Name: f.Name, IsDir: f.IsDir, Size: f.Size, FileMode: f.FileMode,
		ModTime: time.Unix(0, f.ModTime).UTC(), ContentType: f.ContentType,
	}
}

// streamFrameJSON is Nomad's StreamFrame; an empty one is a heartbeat.
type streamFrameJSON struct {
	Offset    int64  `json:",omitempty"`
	Data      []byte `json:",omitempty"`
	File      string `json:",omitempty"`
	FileEvent string `json:",omitempty"`
}

func (c *clientRoutes) fsList(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	path := r.URL.Query().Get("path")
	if path == "" {
		path = "/"
	}
	files, err := c.b.AllocFileList(r.Context(), params[0], path)
	if err != nil {
		return err
	}
	out := make([]allocFileInfoJSON, 0, len(files))
	for _, f := range files {
		out = append(out, fileInfoToJSON(f))
	}
	return c.writeRead(w, out)
}

func (c *clientRoutes) fsStat(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	path := r.URL.Query().Get("path")
	if path == "" {
		return badRequest("must provide a file name")
	}
	f, err := c.b.AllocFileStat(r.Context(), params[0], path)
	if err != nil {
		return err
	}
	return c.writeRead(w, fileInfoToJSON(f))
}

// fsCat sends a whole file, as plain text.
func (c *clientRoutes) fsCat(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	path := r.URL.Query().Get("path")
	if path == "" {
		return badRequest("must provide a file name")
	}
	req := &structs.FsStreamRequest{AllocId: params[0], Path: path, Origin: structs.OriginStart}
	return c.streamFrames(w, r, true, func(send func(*structs.StreamFrame) error) error {
		return c.b.AllocFileStream(r.Context(), req, send)
	})
}

// fsReadAt sends limit bytes (all, for 0) of a file from offset, as plain text.
func (c *clientRoutes) fsReadAt(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	path := r.URL.Query().Get("path")
	if path == "" {
		return badRequest("must provide a file name")
	}
	if r.URL.Query().Get("offset") == "" {
		return badRequest("must provide an offset")
	}
	offset, err := int64Param(r, "offset", 0)
	if err != nil {
		return err
	}
	limit, err := int64Param(r, "limit", 0)
	if err != nil {
		return err
	}
	if offset < 0 || limit < 0 {
		return badRequest("offset and limit must not be negative")
	}
	req := &structs.FsStreamRequest{AllocId: params[0], Path: path, Origin: structs.OriginStart, Offset: offset, Limit: limit}
	return c.streamFrames(w, r, true, func(send func(*structs.StreamFrame) error) error {
		return c.b.AllocFileStream(r.Context(), req, send)
	})
}

// fsStream sends a file as JSON frames, following it by default.
func (c *clientRoutes) fsStream(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	q := r.URL.Query()
	path := q.Get("path")
	if path == "" {
		return badRequest("must provide a file name")
	}
	follow := true
	if s := q.Get("follow"); s != "" {
		var err error
		if follow, err = strconv.ParseBool(s); err != nil {
			return badRequest("invalid follow %q: want true or false", s)
		}
	}
	offset, err := int64Param(r, "offset", 0)
	if err != nil {
		return err
	}
	origin, err := originParam(r)
	if err != nil {
		return err
	}
	req := &structs.FsStreamRequest{AllocId: params[0], Path: path, Origin: origin, Offset: offset, Follow: follow}
	return c.streamFrames(w, r, false, func(send func(*structs.StreamFrame) error) error {
		return c.b.AllocFileStream(r.Context(), req, send)
	})
}

// logs sends a task's stdout or stderr: JSON frames, or with plain=true
// the bytes alone.
func (c *clientRoutes) logs(w http.ResponseWriter, r *http.Request, params []string) error {
	if err := c.checkRegion(r); err != nil {
		return err
	}
	q := r.URL.Query()
	task := q.Get("task")
	if task == "" {
		return badRequest("must provide task name")
	}
	follow, err := boolParam(r, "follow")
	if err != nil {
		return err
	}
	plain, err := boolParam(r, "plain")
	if err != nil {
		return err
	}
	logType := q.Get("type")
	if logType != structs.LogTypeStdout && logType != structs.LogTypeStderr {
		return badRequest("must provide log type (stdout/stderr)")
	}
	offset, err := int64Param(r, "offset", 0)
	if err != nil {
		return err
	}
	if offset < 0 {
		return badRequest("offset must not be negative")
	}
	origin, err := originParam(r)
	if err != nil {
		return err
	}
	req := &structs.LogsRequest{AllocId: params[0], Task: task, LogType: logType, Offset: offset, Origin: origin, Follow: follow}
	return c.streamFrames(w, r, plain, func(send func(*structs.StreamFrame) error) error {
		return c.b.AllocLogs(r.Context(), req, send)
	})
}

func originParam(r *http.Request) (string, error) {
	switch o := r.URL.Query().Get("origin"); o {
	case "":
		return structs.OriginStart, nil
	case structs.OriginStart, structs.OriginEnd:
		return o, nil
	}
	return "", badRequest("origin must be start or end")
}

// streamFrames answers with the frames run sends: their bytes alone with
// plain (heartbeats and file events are dropped), or each as a JSON
// StreamFrame. The status is sent with the first frame, so an error
// before it is an HTTP error; an error after it ends the response.
func (c *clientRoutes) streamFrames(w http.ResponseWriter, r *http.Request, plain bool, run func(send func(*structs.StreamFrame) error) error) error {
	rc := http.NewResponseController(w)
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		if plain {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
	}
	enc := json.NewEncoder(w)
	err := run(func(f *structs.StreamFrame) error {
		if plain {
			if len(f.Data) == 0 {
				return nil
			}
			start()
			if _, err := w.Write(f.Data); err != nil {
				return err
			}
		} else {
			start()
			if err := enc.Encode(streamFrameJSON{Offset: f.Offset, Data: f.Data, File: f.File, FileEvent: f.FileEvent}); err != nil {
				return err
			}
		}
		_ = rc.Flush()
		return nil
	})
	if err == nil && !started {
		start()
	}
	if err != nil && started {
		if r.Context().Err() == nil {
			c.h.logger.Warn("stream ended with an error", "path", r.URL.Path, "error", err)
		}
		return nil
	}
	return err
}
