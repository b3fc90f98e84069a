package api

import (
	"context"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/droverhq/drover/structs"
)

// KeyringBackend lists and rotates the servers' root keys and publishes
// the public keys workload identities are signed with.
type KeyringBackend interface {
	// RootKeys lists the keyring's keys without their material.
	RootKeys(ctx context.Context) ([]*structs.RootKey, error)
	// RotateRootKey makes a new active key and returns the keyring.
	RotateRootKey(ctx context.Context) ([]*structs.RootKey, error)
	// JWKS is the public key set of the keyring.
	JWKS(ctx context.Context) (*jose.JSONWebKeySet, error)
}

// rootKeyMetaJSON is Nomad's RootKeyMeta.
type rootKeyMetaJSON struct {
	KeyID       string
	Algorithm   string
	State       string
	CreateTime  int64
	CreateIndex uint64
	ModifyIndex uint64
	PublishTime int64
}

func (h *Handler) registerKeyringRoutes() {
	h.handle("/v1/operator/keyring/keys", map[string]handlerFunc{http.MethodGet: h.listRootKeys})
	h.handle("/v1/operator/keyring/rotate", map[string]handlerFunc{http.MethodPut: h.rotateRootKey, http.MethodPost: h.rotateRootKey})
	h.handle("/.well-known/jwks.json", map[string]handlerFunc{http.MethodGet: h.jwks})
	h.handle("/v1/.well-known/jwks.json", map[string]handlerFunc{http.MethodGet: h.jwks})
}

func rootKeysJSON(keys []*structs.RootKey) []*rootKeyMetaJSON {
	out := make([]*rootKeyMetaJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, &rootKeyMetaJSON{KeyID: k.KeyId, Algorithm: k.Algorithm, State: k.State, CreateTime: k.CreateTime,
			CreateIndex: k.CreateIndex, ModifyIndex: k.ModifyIndex})
	}
	return out
}

func (h *Handler) listRootKeys(w http.ResponseWriter, r *http.Request, _ []string) error {
	return h.read(w, r, func(q queryOptions) (any, error) {
		keys, err := h.b.RootKeys(q.ctx)
		if err != nil {
			return nil, err
		}
		return rootKeysJSON(keys), nil
	})
}

// rotateRootKey serves PUT /v1/operator/keyring/rotate. Nomad's full
// rekey of stored variables (?full) is not served.
func (h *Handler) rotateRootKey(w http.ResponseWriter, r *http.Request, _ []string) error {
	q := r.URL.Query()
	if full, _ := boolParam(r, "full"); full {
		return errNotServedf("re-encrypting every variable on rotation (?full)")
	}
	if q.Get("publish_time") != "" {
		return errNotServedf("prepublished root keys (?publish_time)")
	}
	if algo := q.Get("algo"); algo != "" && algo != structs.RootKeyAlgorithm {
		return badRequest("root key algorithm %q: drover makes %s keys only", algo, structs.RootKeyAlgorithm)
	}
	keys, err := h.b.RotateRootKey(r.Context())
	if err != nil {
		return err
	}
	var active *rootKeyMetaJSON
	for _, k := range rootKeysJSON(keys) {
		if k.State == structs.RootKeyActive {
			active = k
		}
	}
	return h.writeResult(w, h.b.StateIndex(), struct{ Key *rootKeyMetaJSON }{active})
}

// jwks serves the public keys that verify workload identities. Anyone may
// read them, as on Nomad; they are cacheable for a while.
func (h *Handler) jwks(w http.ResponseWriter, r *http.Request, _ []string) error {
	set, err := h.b.JWKS(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "max-age="+itoa(int64(time.Hour/time.Second)))
	return writeJSON(w, set)
}
