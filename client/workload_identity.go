package client

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/droverhq/drover/driver"
	"github.com/droverhq/drover/internal/safepath"
	"github.com/droverhq/drover/structs"
)

// Workload identities: the servers sign a token (a JWT) for every task of
// an allocation, which the client fetches with its node secret. A task's
// identity block exposes it: env puts it in NOMAD_TOKEN, file writes it to
// secrets/nomad_token. The client itself presents it when a template
// reads variables or services for the task.

// workloadTokenFile is where a task finds its identity with file = true.
const workloadTokenFile = "nomad_token"

// workloadTokens caches an allocation's signed identities, by task.
type workloadTokens struct {
	mu     sync.Mutex
	tokens map[string]string
}

// workloadToken returns the signed identity of one of the allocation's
// tasks, fetching the allocation's from the servers on first use.
func (r *allocRunner) workloadToken(ctx context.Context, task string) (string, error) {
	r.tokens.mu.Lock()
	defer r.tokens.mu.Unlock()
	if tok, ok := r.tokens.tokens[task]; ok {
		return tok, nil
	}
	resp, err := call(ctx, r.c.servers, func(ctx context.Context, s structs.DroverClient) (*structs.AllocIdentitiesResponse, error) {
		return s.SignAllocIdentities(ctx, &structs.AllocIdentitiesRequest{
			NodeId: r.c.id.NodeID, SecretId: r.c.id.SecretID, AllocId: r.current().Id,
		})
	})
	if err != nil {
		return "", fmt.Errorf("fetch workload identity: %w", err)
	}
	r.tokens.tokens = resp.GetTokens()
	tok, ok := r.tokens.tokens[task]
	if !ok {
		return "", fmt.Errorf("the servers signed no identity for task %s", structs.Quote(task))
	}
	return tok, nil
}

// identityHook exposes a task's workload identity as its identity block
// says.
type identityHook struct{}

func (identityHook) name() string { return "identity" }

func (identityHook) prestart(ctx context.Context, t *taskRunner, cfg *driver.TaskConfig) error {
	id := t.task.GetIdentity()
	if !id.GetEnv() && !id.GetFile() {
		return nil
	}
	tok, err := t.ar.workloadToken(ctx, t.task.Name)
	if err != nil {
		return &hookError{event: structs.TaskEventSetupFailure, err: err}
	}
	if id.GetEnv() {
		if cfg.Env == nil {
			cfg.Env = map[string]string{}
		}
		cfg.Env["NOMAD_TOKEN"] = tok
	}
	if id.GetFile() {
		p, err := safepath.Join(cfg.TaskDir, "secrets", workloadTokenFile)
		if err != nil {
			return &hookError{event: structs.TaskEventSetupFailure, err: err}
		}
		if err := writeFileAtomic(p, []byte(tok), 0o600); err != nil {
			return &hookError{event: structs.TaskEventSetupFailure, err: fmt.Errorf("write %s: %w", workloadTokenFile, err)}
		}
	}
	return nil
}

// writeFileAtomic writes data to path through a temporary file renamed
// over it, so a reader never sees half of it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
