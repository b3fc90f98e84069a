package api_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/client"
)

// TestTemplatesRenderAndRestartOnChange: a template reading a file of the
// allocation renders before the task starts and feeds its environment;
// when the file changes the templates render again and the task is
// restarted (change_mode restart) or signalled (change_mode signal).
func TestTemplatesRenderAndRestartOnChange(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), false)
	node := startClientNodeWith(t, filepath.Join(dir, "client"), func(c *client.Config) {
		c.TemplateInterval = 50 * time.Millisecond
	}, srv.Addr())
	defer node.stop(t)
	s := serveAPI(t, srv.NewHTTPHandler(api.Options{}), "")

	job := shJob("tmpl", `trap 'cat local/signalled.conf >> signals' USR1
cat local/app.conf >> seen; echo "greeting=$GREETING" >> seen
while true; do sleep 0.05; done`)
	task := job.TaskGroups[0].Tasks[0]
	task.Templates = []*nomad.Template{
		{
			EmbeddedTmpl: ptr(`version={{ file "../alloc/data/version" | trim }} alloc={{ env "NOMAD_ALLOC_NAME" }}` + "\n"),
			DestPath:     ptr("local/app.conf"), ChangeMode: ptr("restart"), Splay: ptr(time.Duration(0)), Perms: ptr("0600"),
		},
		{
			EmbeddedTmpl: ptr(`GREETING=hello-{{ file "../alloc/data/version" | trim | upper }}`),
			DestPath:     ptr("secrets/app.env"), Envvars: ptr(true), ChangeMode: ptr("noop"), Splay: ptr(time.Duration(0)),
		},
		{
			EmbeddedTmpl: ptr(`{{ file "../alloc/data/signal" | trim | base64Encode }}`),
			DestPath:     ptr("local/scripted"), ChangeMode: ptr("script"), Splay: ptr(time.Duration(0)),
			ChangeScript: &nomad.ChangeScript{Command: ptr("/bin/sh"), Args: []string{"-c", "base64 -d local/scripted >> scripts; echo >> scripts"}},
		},
		{
			EmbeddedTmpl: ptr(`<< file "../alloc/data/signal" | trim >>` + "\n"), LeftDelim: ptr("<<"), RightDelim: ptr(">>"),
			DestPath: ptr("local/signalled.conf"), ChangeMode: ptr("signal"), ChangeSignal: ptr("SIGUSR1"), Splay: ptr(time.Duration(0)),
		},
	}
	job.TaskGroups[0].RestartPolicy = &nomad.RestartPolicy{Attempts: ptr(0), Mode: ptr("fail")}
	// The files the templates read are there before the task is placed:
	// the allocation's directory is created by the client, so they are
	// written through a prestart task.
	pre := lifecycle(shTask("seed", `echo v1 > "$NOMAD_ALLOC_DIR/data/version"; echo s1 > "$NOMAD_ALLOC_DIR/data/signal"`), "prestart", false)
	job.TaskGroups[0].Tasks = []*nomad.Task{pre, task}
	// The templates of the main task render after the prestart task ran.
	alloc := runJob(t, s.nomad, job)
	defer stopJobs(t, s.nomad)

	taskDir := node.taskDir(alloc.ID, "web")
	data := filepath.Join(node.dir, "alloc", alloc.ID, "alloc", "data")
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	waitFor(t, "the first start", func() bool {
		return read(filepath.Join(taskDir, "seen")) == "version=v1 alloc=tmpl.g[0]\ngreeting=hello-V1\n"
	})
	fi, err := os.Stat(filepath.Join(taskDir, "local", "app.conf"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	require.NoError(t, os.WriteFile(filepath.Join(data, "signal"), []byte("s2\n"), 0o644))
	waitFor(t, "the signal after the re-render", func() bool { return read(filepath.Join(taskDir, "signals")) == "s2\n" })
	waitFor(t, "the change script after the re-render", func() bool { return read(filepath.Join(taskDir, "scripts")) == "s2\n" })
	require.Equal(t, "version=v1 alloc=tmpl.g[0]\ngreeting=hello-V1\n", read(filepath.Join(taskDir, "seen")), "a signal does not restart")

	require.NoError(t, os.WriteFile(filepath.Join(data, "version"), []byte("v2\n"), 0o644))
	waitFor(t, "the restart with the new file and environment", func() bool {
		return read(filepath.Join(taskDir, "seen")) == "version=v1 alloc=tmpl.g[0]\ngreeting=hello-V1\nversion=v2 alloc=tmpl.g[0]\ngreeting=hello-V2\n"
	})
	waitFor(t, "the restart to be reported", func() bool {
		st := allocInfo(t, s.nomad, alloc.ID).TaskStates["web"]
		return st.State == "running" && !st.Failed && st.Restarts == 1
	})
}
