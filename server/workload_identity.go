package server

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// WorkloadAudience is the audience of the workload identities the
// servers sign, as Nomad's default identity has it.
const WorkloadAudience = "nomadproject.io"

// maxWorkloadTokenBytes bounds a presented workload identity.
const maxWorkloadTokenBytes = 8 << 10

// WorkloadClaims are the claims of a task's workload identity, named as
// Nomad names them.
type WorkloadClaims struct {
	jwt.Claims
	Namespace    string `json:"nomad_namespace"`
	JobID        string `json:"nomad_job_id"`
	AllocationID string `json:"nomad_allocation_id"`
	Task         string `json:"nomad_task"`
}

// signWorkloadIdentity signs the identity of one task of an allocation
// with the active root key. It is issued at the allocation's creation, so
// signing it again yields the same token (Ed25519 is deterministic) until
// the key rotates.
func (s *Server) signWorkloadIdentity(key *openedKey, a *structs.Allocation, task string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key.sign},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), key.id))
	if err != nil {
		return "", err
	}
	issued := jwt.NewNumericDate(timeFromNanos(a.CreateTime))
	c := WorkloadClaims{
		Claims: jwt.Claims{
			Subject:  strings.Join([]string{s.cfg.Region, a.Namespace, a.JobId, a.TaskGroup, task, "default"}, ":"),
			Audience: jwt.Audience{WorkloadAudience},
			IssuedAt: issued, NotBefore: issued,
			ID: a.Id + ":" + task,
		},
		Namespace: a.Namespace, JobID: a.JobId, AllocationID: a.Id, Task: task,
	}
	return jwt.Signed(signer).Claims(c).Serialize()
}

// SignAllocIdentities signs the workload identity of every task of one
// of a node's allocations, for the node's client. The node authenticates
// with its secret and gets identities of its own running allocations only.
func (s *Server) SignAllocIdentities(ctx context.Context, nodeID, secretID, allocID string) (map[string]string, error) {
	if _, err := s.authNode(nodeID, secretID); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	snap := s.state.Snapshot()
	a := snap.Alloc(allocID)
	if a == nil {
		return nil, fmt.Errorf("%w: allocation %s", ErrNotFound, structs.Quote(allocID))
	}
	if a.NodeId != nodeID {
		return nil, fmt.Errorf("%w: allocation %s belongs to another node", ErrPermissionDenied, structs.Quote(allocID))
	}
	if a.ClientTerminal() {
		return nil, fmt.Errorf("%w: allocation %s is terminal", ErrBadRequest, structs.Quote(allocID))
	}
	key, err := s.rootKeys.active(snap)
	if err != nil {
		return nil, err
	}
	job := a.GetJob()
	if job == nil {
		job = snap.Job(a.Namespace, a.JobId)
	}
	out := map[string]string{}
	for _, tg := range job.GetTaskGroups() {
		if tg.GetName() != a.TaskGroup {
			continue
		}
		for _, t := range tg.GetTasks() {
			tok, err := s.signWorkloadIdentity(key, a, t.GetName())
			if err != nil {
				return nil, err
			}
			out[t.GetName()] = tok
		}
	}
	return out, nil
}

// looksLikeJWT tells a compact JWS from an ACL token secret (a UUID).
func looksLikeJWT(secret string) bool { return strings.Count(secret, ".") == 2 }

// workloadIdentity returns the verified claims of the workload identity
// ctx's caller presents, nil (without error) when the caller presents
// none or ACLs are off, or an error for an identity that does not verify
// or whose allocation is gone or terminal.
func (s *Server) workloadIdentity(ctx context.Context) (*workloadCaller, error) {
	if !s.cfg.ACL.Enabled {
		return nil, nil
	}
	secret, ok := tokenOf(ctx)
	if !ok || !looksLikeJWT(secret) {
		return nil, nil
	}
	return s.verifyWorkloadIdentity(s.state.Snapshot(), secret)
}

// workloadCaller is a verified workload identity with its allocation's group.
type workloadCaller struct {
	WorkloadClaims
	Group string
}

// verifyWorkloadIdentity checks a token's signature against the keyring,
// its audience, and that its allocation is still running.
func (s *Server) verifyWorkloadIdentity(snap *state.Snapshot, token string) (*workloadCaller, error) {
	denied := func(why string) error { return fmt.Errorf("%w: workload identity: %s", ErrPermissionDenied, why) }
	if len(token) > maxWorkloadTokenBytes {
		return nil, denied("too large")
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil || len(tok.Headers) != 1 {
		return nil, denied("not a signed JWT")
	}
	key, err := s.rootKeys.byID(snap, tok.Headers[0].KeyID)
	if err != nil {
		return nil, denied("unknown signing key")
	}
	var c WorkloadClaims
	if err := tok.Claims(key.sign.Public(), &c); err != nil {
		return nil, denied("bad signature")
	}
	if err := c.Validate(jwt.Expected{AnyAudience: jwt.Audience{WorkloadAudience}, Time: s.cfg.Clock.Now()}); err != nil {
		return nil, denied(err.Error())
	}
	a := snap.Alloc(c.AllocationID)
	if a == nil || a.ClientTerminal() || a.Namespace != c.Namespace || a.JobId != c.JobID {
		return nil, denied("its allocation is gone or stopped")
	}
	return &workloadCaller{WorkloadClaims: c, Group: a.TaskGroup}, nil
}

// JWKS returns the public keys workload identities are signed with: one
// per root key, active or not.
func (s *Server) JWKS(ctx context.Context) (*jose.JSONWebKeySet, error) {
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range s.state.Snapshot().RootKeys() {
		o, err := s.rootKeys.open(k)
		if err != nil {
			s.logger.Warn("root key left out of the JWKS", "key", k.KeyId, "error", err)
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key: o.sign.Public().(ed25519.PublicKey), KeyID: k.KeyId, Algorithm: string(jose.EdDSA), Use: "sig",
		})
	}
	return set, nil
}

func timeFromNanos(n int64) time.Time { return time.Unix(0, n) }
