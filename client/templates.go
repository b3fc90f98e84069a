package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/droverhq/drover/client/template"
	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/structs"
)

// Templates. Before a task's first start the template hook renders each
// of its template blocks (see client/template) into its destination, a
// path relative to the task's directory that stays inside the
// allocation's directory; templates with env = true are read back as
// KEY=value lines into the task's environment, over its env block. While
// the task runs, a watcher renders them again every TemplateInterval;
// when a file's content changes it is written and, after a random wait of
// up to the template's splay, its change_mode is applied: restart (the
// task restarts, outside its restart policy), signal (change_signal is
// sent), script (change_script runs inside the task) or noop. A restart
// for any other reason renders again only with restart { render_templates
// = true }: otherwise the files keep their last content.

// DefaultTemplateInterval is how often running tasks' templates are
// rendered again when the client's config sets no interval.
const DefaultTemplateInterval = 5 * time.Second

// templateHook renders the task's templates.
type templateHook struct{}

func (templateHook) name() string { return "templates" }

func (templateHook) prestart(ctx context.Context, t *taskRunner, cfg *driver.TaskConfig) error {
	tmpls := t.task.GetTemplates()
	if len(tmpls) == 0 {
		return nil
	}
	render := t.rendered == nil || t.tg.GetRestartPolicy().GetRenderTemplates()
	if t.rendered == nil {
		t.rendered = make([][]byte, len(tmpls))
	}
	r := t.templateRenderer(cfg)
	envs := map[string]string{}
	for i, tm := range tmpls {
		if render {
			out, err := r.render(ctx, tm)
			if err != nil {
				return &hookError{event: structs.TaskEventTemplateFailed, err: fmt.Errorf("template %d: %w", i, err)}
			}
			if err := r.write(tm, out); err != nil {
				return &hookError{event: structs.TaskEventTemplateFailed, err: fmt.Errorf("template %d: %w", i, err)}
			}
			t.rendered[i] = out
		}
		if tm.Env {
			env, err := template.ParseEnv(t.rendered[i])
			if err != nil {
				return &hookError{event: structs.TaskEventTemplateFailed, err: fmt.Errorf("template %d: env: %w", i, err)}
			}
			for k, v := range env {
				envs[k] = v
			}
		}
	}
	if len(envs) > 0 {
		for k, v := range envs {
			cfg.Env[k] = v
		}
		t.interpolateConfig(cfg)
	}
	return nil
}

// templateRenderer renders one task's templates; it holds copies of what
// it needs, so the watcher may use it on its own goroutine.
type templateRenderer struct {
	// allocDir is the allocation's directory, which templates stay in;
	// task the task's directory name in it.
	allocDir, task, taskDir string
	env                     map[string]string
	vars                    func(string) string
	lookups                 template.Lookups
}

func (t *taskRunner) templateRenderer(cfg *driver.TaskConfig) *templateRenderer {
	env := make(map[string]string, len(cfg.Env))
	for k, v := range cfg.Env {
		env[k] = v
	}
	vars := t.vars
	lookups := t.ar.c.templateLookups
	if lookups == nil {
		lookups = newTaskLookups(t.ar, t.task.Name)
	}
	return &templateRenderer{
		allocDir: t.ar.dir, task: t.task.Name, taskDir: cfg.TaskDir, env: env,
		vars: vars.String, lookups: lookups,
	}
}

// rel turns a template's path (interpolated; relative to the task's
// directory, or absolute inside it) into one relative to the
// allocation's directory, refusing one that leaves it.
func (r *templateRenderer) rel(p string) (string, error) {
	p = inTaskDir(r.taskDir, r.vars(p))
	if filepath.IsAbs(p) || strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %s must be inside the allocation's directory", structs.Quote(p))
	}
	rel := path.Clean(path.Join(r.task, filepath.ToSlash(p)))
	if rel == ".." || strings.HasPrefix(rel, "../") || rel == "." {
		return "", fmt.Errorf("path %s must be inside the allocation's directory", structs.Quote(p))
	}
	return rel, nil
}

func (r *templateRenderer) render(ctx context.Context, tm *structs.Template) ([]byte, error) {
	text := tm.Data
	if tm.Source != "" {
		src, err := r.rel(tm.Source)
		if err != nil {
			return nil, err
		}
		root, err := os.OpenRoot(r.allocDir)
		if err != nil {
			return nil, err
		}
		b, err := root.ReadFile(src)
		root.Close()
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		if len(b) > template.MaxOutput {
			return nil, fmt.Errorf("source is larger than %d bytes", template.MaxOutput)
		}
		text = string(b)
	}
	return template.Render(ctx, template.Input{
		Name: tm.Destination, Text: text, LeftDelim: tm.LeftDelimiter, RightDelim: tm.RightDelimiter,
		MissingKeyError: tm.ErrorOnMissingKey, Env: r.env, Root: r.allocDir, Dir: r.task, Lookups: r.lookups,
	})
}

// write writes out to the template's destination with its permissions,
// creating the directories it needs, without leaving the allocation's
// directory (links included).
func (r *templateRenderer) write(tm *structs.Template, out []byte) error {
	dest, err := r.rel(tm.Destination)
	if err != nil {
		return err
	}
	perms := fs.FileMode(0o644)
	if tm.Perms != "" {
		m, err := strconv.ParseUint(tm.Perms, 8, 32)
		if err != nil || m > 0o777 {
			return fmt.Errorf("perms %s must be octal permissions", structs.Quote(tm.Perms))
		}
		perms = fs.FileMode(m)
	}
	root, err := os.OpenRoot(r.allocDir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.MkdirAll(path.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp := dest + ".tmp"
	if err := root.WriteFile(tmp, out, perms); err != nil {
		return err
	}
	if err := root.Chmod(tmp, perms); err != nil {
		return err
	}
	return root.Rename(tmp, dest)
}

// templateChange is what a watcher asks of the task after a re-render.
type templateChange struct {
	restart bool
	signals []string
	scripts []*structs.ChangeScript
}

// watchTemplates renders the task's templates again on the client's
// interval until the returned function is called, which returns what
// was last rendered. Changes are sent on the returned channel.
func (t *taskRunner) watchTemplates(cfg *driver.TaskConfig) (<-chan templateChange, func()) {
	tmpls := t.task.GetTemplates()
	ch := make(chan templateChange)
	if len(tmpls) == 0 || t.rendered == nil {
		// No templates, or a task reattached after a client restart,
		// whose rendered content and environment this client does not
		// hold: its templates are watched again from its next start.
		return ch, func() {}
	}
	r := t.templateRenderer(cfg)
	last := make([][]byte, len(tmpls))
	copy(last, t.rendered)
	interval := t.ar.c.cfg.TemplateInterval
	if interval <= 0 {
		interval = DefaultTemplateInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	log := t.log
	go func() {
		defer close(done)
		ticker := t.ar.c.clock.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C():
			}
			var change templateChange
			var splay time.Duration
			changed := false
			for i, tm := range tmpls {
				out, err := r.render(ctx, tm)
				if err != nil {
					if ctx.Err() == nil {
						log.Warn("rendering template again", "template", i, "error", err)
					}
					continue
				}
				if bytes.Equal(out, last[i]) {
					continue
				}
				if err := r.write(tm, out); err != nil {
					log.Warn("writing template", "template", i, "error", err)
					continue
				}
				last[i] = out
				changed = true
				splay = max(splay, tm.GetSplay().AsDuration())
				switch tm.ChangeMode {
				case "", structs.ChangeModeRestart:
					change.restart = true
				case structs.ChangeModeSignal:
					change.signals = append(change.signals, tm.ChangeSignal)
				case structs.ChangeModeScript:
					change.scripts = append(change.scripts, tm.ChangeScript)
				}
			}
			if !changed || (!change.restart && len(change.signals) == 0 && len(change.scripts) == 0) {
				continue
			}
			if splay > 0 {
				timer := t.ar.c.clock.NewTimer(time.Duration(rand.Int64N(int64(splay) + 1)))
				select {
				case <-timer.C():
				case <-ctx.Done():
					timer.Stop()
					return
				}
			}
			select {
			case ch <- change:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, func() {
		cancel()
		<-done
		copy(t.rendered, last)
	}
}

// applyTemplateChange applies a re-render's change modes to the running
// task; it reports whether the task must restart.
func (t *taskRunner) applyTemplateChange(cfg *driver.TaskConfig, c templateChange) bool {
	if c.restart {
		t.event(structs.TaskEventRestartSignal, "Template with change_mode restart re-rendered", nil)
		return true
	}
	for _, sig := range c.signals {
		t.event(structs.TaskEventSignaling, "Template re-rendered, sending "+sig, nil)
		if sd, ok := t.drv.(driver.SignalDriver); !ok {
			t.log.Warn("template change_signal: the driver cannot signal its tasks")
		} else if err := sd.SignalTask(cfg.ID, sig); err != nil {
			t.log.Warn("template change_signal", "error", err)
		}
	}
	for _, s := range c.scripts {
		if err := t.runChangeScript(cfg, s); err != nil {
			t.event(structs.TaskEventTemplateFailed, "template change_script: "+err.Error(), nil)
			if s.FailOnError {
				// Counted as a failure by the restart policy.
				t.requestRestart("template change_script failed: " + err.Error())
			}
		}
	}
	t.publish()
	return false
}

// runChangeScript runs a template's change_script inside the task.
func (t *taskRunner) runChangeScript(cfg *driver.TaskConfig, s *structs.ChangeScript) error {
	ed, ok := t.drv.(driver.ExecDriver)
	if !ok {
		return fmt.Errorf("driver %s cannot run commands in its tasks", t.task.Driver)
	}
	timeout := s.GetTimeout().AsDuration()
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out bytes.Buffer
	res, err := ed.ExecTask(ctx, cfg.ID, &driver.ExecOptions{
		Command: append([]string{s.Command}, s.Args...), Env: cfg.Env, Dir: cfg.TaskDir, Stdin: strings.NewReader(""),
		Stdout: &limitWriter{w: &out, n: 1024}, Stderr: &limitWriter{w: &out, n: 1024},
	})
	if err != nil {
		return err
	}
	if !res.Successful() {
		return errors.New(exitMessage(res) + ": " + strings.TrimSpace(out.String()))
	}
	return nil
}

// limitWriter keeps the first n bytes written and drops the rest.
type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
