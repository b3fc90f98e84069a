// Package template renders a task's template blocks with Go's
// text/template, the string helpers of github.com/Masterminds/sprig/v3,
// and the functions Nomad's templates use most: env, file,
// base64Encode/base64Decode, toJSON, parseJSON, and nomadVar,
// nomadVarList, nomadService and nomadServices, which ask a Lookups.
//
// Rendering is pure but for the Lookups and the file function, which
// reads only inside the directory it is given.
package template

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// MaxOutput bounds a rendered template, and a file a template reads.
const MaxOutput = 4 << 20

// ErrNotAvailable is what the default Lookups answers: the servers this
// client talks to serve no variables or services to templates.
var ErrNotAvailable = errors.New("not available: this client cannot read Nomad variables or services")

// ServiceInstance is one registered instance of a service, as
// nomadService returns it.
type ServiceInstance struct {
	ID, Name, Address string
	Port              int
	Tags              []string
	AllocID, NodeID   string
}

// Lookups is what a template reads from the servers. Templates call it
// through nomadVar (Variable), nomadVarList (Variables), nomadService and
// nomadServices (Services); the client renders again on a timer, so a
// new answer shows up in the file within that interval. Implementations
// must be safe for concurrent use and honour ctx.
type Lookups interface {
	// Variable returns the items of the variable at path.
	Variable(ctx context.Context, path string) (map[string]string, error)
	// Variables lists the paths of the variables under prefix.
	Variables(ctx context.Context, prefix string) ([]string, error)
	// Services returns the instances of the service name; with name ""
	// it returns one instance per registered service name.
	Services(ctx context.Context, name string) ([]ServiceInstance, error)
}

// NoLookups answers every lookup with ErrNotAvailable.
type NoLookups struct{}

// Variable implements Lookups.
func (NoLookups) Variable(context.Context, string) (map[string]string, error) {
	return nil, ErrNotAvailable
}

// Variables implements Lookups.
func (NoLookups) Variables(context.Context, string) ([]string, error) { return nil, ErrNotAvailable }

// Services implements Lookups.
func (NoLookups) Services(context.Context, string) ([]ServiceInstance, error) {
	return nil, ErrNotAvailable
}

// Input is what one template is rendered with.
type Input struct {
	// Name names the template in errors.
	Name string
	// Text is the template.
	Text string
	// LeftDelim and RightDelim replace {{ and }} when set.
	LeftDelim, RightDelim string
	// MissingKeyError fails the render on a missing map key.
	MissingKeyError bool
	// Env is the task's environment, read by env.
	Env map[string]string
	// Root is the directory file may read in; Dir the directory (inside
	// Root, relative to it) relative paths start from.
	Root, Dir string
	// Lookups answers nomadVar and friends; nil means NoLookups.
	Lookups Lookups
}

// Render renders in.
func Render(ctx context.Context, in Input) ([]byte, error) {
	lk := in.Lookups
	if lk == nil {
		lk = NoLookups{}
	}
	funcs := sprig.TxtFuncMap()
	// Functions that reach outside the template are not offered.
	for _, name := range []string{"env", "expandenv", "getHostByName"} {
		delete(funcs, name)
	}
	funcs["env"] = func(k string) string { return in.Env[k] }
	funcs["file"] = func(p string) (string, error) { return readFile(in.Root, in.Dir, p) }
	funcs["base64Encode"] = func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	funcs["base64Decode"] = func(s string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(s)
		return string(b), err
	}
	funcs["toJSON"] = func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}
	funcs["parseJSON"] = func(s string) (any, error) {
		var v any
		err := json.Unmarshal([]byte(s), &v)
		return v, err
	}
	funcs["nomadVar"] = func(p string) (map[string]string, error) { return lk.Variable(ctx, p) }
	funcs["nomadVarList"] = func(prefix ...string) ([]string, error) {
		return lk.Variables(ctx, strings.Join(prefix, ""))
	}
	funcs["nomadService"] = func(name string) ([]ServiceInstance, error) {
		if name == "" {
			return nil, errors.New("nomadService: a service name is required")
		}
		return lk.Services(ctx, name)
	}
	funcs["nomadServices"] = func() ([]ServiceInstance, error) { return lk.Services(ctx, "") }

	t := template.New(in.Name).Funcs(funcs)
	if in.LeftDelim != "" {
		t = t.Delims(in.LeftDelim, in.RightDelim)
	}
	if in.MissingKeyError {
		t = t.Option("missingkey=error")
	}
	t, err := t.Parse(in.Text)
	if err != nil {
		return nil, err
	}
	var out limitedBuffer
	if err := t.Execute(&out, nil); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// limitedBuffer refuses to grow past MaxOutput.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxOutput {
		return 0, fmt.Errorf("rendered template is larger than %d bytes", MaxOutput)
	}
	return b.Buffer.Write(p)
}

// readFile reads p (relative to dir, itself relative to root) without
// leaving root: a path that climbs out, or a link that leads out, fails.
func readFile(root, dir, p string) (string, error) {
	if root == "" {
		return "", errors.New("file: no directory to read in")
	}
	name := path.Clean(path.Join(filepath.ToSlash(dir), filepath.ToSlash(p)))
	if path.IsAbs(filepath.ToSlash(p)) || name == ".." || strings.HasPrefix(name, "../") {
		return "", fmt.Errorf("file %q: must be inside the allocation's directory", p)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return "", err
	}
	defer r.Close()
	f, err := r.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxOutput+1))
	if err != nil {
		return "", err
	}
	if len(b) > MaxOutput {
		return "", fmt.Errorf("file %q is larger than %d bytes", p, MaxOutput)
	}
	return string(b), nil
}

// ParseEnv reads the KEY=value lines of an env template's output: blank
// lines and lines starting with # are skipped, a value may be quoted.
func ParseEnv(b []byte) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\x00") {
			return nil, fmt.Errorf("line %d: want KEY=value", i+1)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("line %d: NUL byte in value", i+1)
		}
		out[k] = v
	}
	return out, nil
}
