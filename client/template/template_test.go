package template

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type fakeLookups struct{}

func (fakeLookups) Variable(_ context.Context, p string) (map[string]string, error) {
	return map[string]string{"path": p, "password": "s3cret"}, nil
}
func (fakeLookups) Variables(_ context.Context, prefix string) ([]string, error) {
	return []string{prefix + "/a", prefix + "/b"}, nil
}
func (fakeLookups) Services(_ context.Context, name string) ([]ServiceInstance, error) {
	return []ServiceInstance{{Name: name, Address: "10.0.0.1", Port: 80}}, nil
}

func TestRender(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "task", "local"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "alloc", "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "alloc", "data", "cfg"), []byte("v1"), 0o644))
	in := func(text string) Input {
		return Input{Name: "t", Text: text, Env: map[string]string{"NOMAD_ALLOC_ID": "a1"}, Root: root, Dir: "task", Lookups: fakeLookups{}}
	}
	for _, tc := range []struct{ text, want string }{
		{`{{ env "NOMAD_ALLOC_ID" }}`, "a1"},
		{`{{ env "MISSING" }}`, ""},
		{`{{ "hi" | upper | repeat 2 }}`, "HIHI"},
		{`{{ base64Encode "x:y" }}/{{ base64Decode "eDp5" }}`, "eDp5/x:y"},
		{`{{ toJSON (dict "a" 1) }}`, `{"a":1}`},
		{`{{ with parseJSON "{\"k\":[1,2]}" }}{{ index .k 1 }}{{ end }}`, "2"},
		{`{{ file "../alloc/data/cfg" }}`, "v1"},
		{`{{ with nomadVar "nomad/jobs/web" }}{{ .password }}{{ end }}`, "s3cret"},
		{`{{ range nomadVarList "nomad/jobs" }}{{ . }} {{ end }}`, "nomad/jobs/a nomad/jobs/b "},
		{`{{ range nomadService "db" }}{{ .Address }}:{{ .Port }}{{ end }}`, "10.0.0.1:80"},
	} {
		out, err := Render(context.Background(), in(tc.text))
		require.NoError(t, err, tc.text)
		require.Equal(t, tc.want, string(out), tc.text)
	}
	for _, text := range []string{`{{ file "../../etc/passwd" }}`, `{{ file "/etc/passwd" }}`, `{{ env }}`, `{{ nomadService "" }}`} {
		_, err := Render(context.Background(), in(text))
		require.Error(t, err, text)
	}
	// A link that leads out of the root is not followed.
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(root, "alloc", "data", "link")))
	_, err := Render(context.Background(), in(`{{ file "../alloc/data/link" }}`))
	require.Error(t, err)

	d := in(`<< env "NOMAD_ALLOC_ID" >>{{ raw }}`)
	d.LeftDelim, d.RightDelim = "<<", ">>"
	out, err := Render(context.Background(), d)
	require.NoError(t, err)
	require.Equal(t, "a1{{ raw }}", string(out))

	m := in(`{{ with nomadVar "x" }}{{ .nope }}{{ end }}`)
	m.MissingKeyError = true
	_, err = Render(context.Background(), m)
	require.Error(t, err)
}

func TestDefaultLookupsSayNotAvailable(t *testing.T) {
	_, err := Render(context.Background(), Input{Name: "t", Text: `{{ nomadVar "nomad/jobs/x" }}`})
	require.True(t, errors.Is(err, ErrNotAvailable), "got %v", err)
}

func TestRenderOutputIsBounded(t *testing.T) {
	_, err := Render(context.Background(), Input{Name: "t", Text: `{{ range until 100000 }}{{ repeat 100 "x" }}{{ end }}`})
	require.ErrorContains(t, err, "larger than")
}

func TestParseEnv(t *testing.T) {
	env, err := ParseEnv([]byte("# c\nA=1\nexport B = \"two words\"\n\nC='3'\nD=\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"A": "1", "B": "two words", "C": "3", "D": ""}, env)
	_, err = ParseEnv([]byte("novalue\n"))
	require.Error(t, err)
}

func FuzzParseEnv(f *testing.F) {
	f.Add([]byte("A=1\nB='x'\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnv(b)
		if err != nil {
			return
		}
		for k, v := range env {
			if k == "" || strings.ContainsAny(k, "\n\x00") || strings.ContainsRune(v, 0) {
				t.Fatalf("bad pair %q=%q", k, v)
			}
		}
	})
}

func FuzzRender(f *testing.F) {
	f.Add(`{{ env "A" }}`)
	f.Add(`{{ "x" | upper }}`)
	f.Fuzz(func(t *testing.T, text string) {
		if strings.Contains(text, "until") || strings.Contains(text, "seq") || strings.Contains(text, "repeat") {
			t.Skip("loops bounded only by output size are slow")
		}
		_, _ = Render(context.Background(), Input{Name: "t", Text: text, Env: map[string]string{"A": "1"}})
	})
}
