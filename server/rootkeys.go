package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/droverhq/drover/server/state"
	"github.com/droverhq/drover/structs"
)

// The servers' root keyring: 32-byte root keys stored through raft, one
// of them active. From each key two keys are derived (HKDF-SHA256): an
// AES-256-GCM key that seals variables and an Ed25519 key that signs
// workload identities. With a key-encryption key configured, a root key's
// material is stored wrapped (sealed with AES-256-GCM under it), so the
// raft log, snapshots and backups alone open no variable; without one it
// is stored as is, and whoever reads a server's data directory can
// decrypt the variables (see docs/security.md).

// RootKeyAlgorithm is the algorithm of every root key drover makes.
const RootKeyAlgorithm = structs.RootKeyAlgorithm

// rootKeyBytes is the size of a root key and of a key-encryption key.
const rootKeyBytes = 32

// errNoRootKey: the keyring has no active key yet (no leader made one).
var errNoRootKey = fmt.Errorf("%w: the keyring has no active root key yet", ErrNoLeader)

// openedKey is a root key ready to use.
type openedKey struct {
	id   string
	aead cipher.AEAD
	sign ed25519.PrivateKey
}

// rootKeyring opens stored root keys, caching them by id (a key's
// material never changes).
type rootKeyring struct {
	kek cipher.AEAD

	mu     sync.Mutex
	opened map[string]*openedKey
}

func newRootKeyring(kek []byte) (*rootKeyring, error) {
	r := &rootKeyring{opened: map[string]*openedKey{}}
	if len(kek) > 0 {
		if len(kek) != rootKeyBytes {
			return nil, fmt.Errorf("keyring: the key-encryption key is %d bytes, not %d", len(kek), rootKeyBytes)
		}
		aead, err := newGCM(kek)
		if err != nil {
			return nil, err
		}
		r.kek = aead
	}
	return r, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// newKey makes a root key, wrapped when the keyring has a key-encryption key.
func (r *rootKeyring) newKey() (*structs.RootKey, error) {
	material := make([]byte, rootKeyBytes)
	if _, err := rand.Read(material); err != nil {
		return nil, err
	}
	k := &structs.RootKey{KeyId: uuid.NewString(), Algorithm: RootKeyAlgorithm, State: structs.RootKeyActive, Material: material}
	if r.kek != nil {
		k.Material = seal(r.kek, material, []byte(k.KeyId))
		k.Wrapped = true
	}
	return k, nil
}

// open returns the usable form of a stored key.
func (r *rootKeyring) open(k *structs.RootKey) (*openedKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.opened[k.KeyId]; o != nil {
		return o, nil
	}
	material := k.Material
	if k.Wrapped {
		if r.kek == nil {
			return nil, fmt.Errorf("root key %s is wrapped and this server has no key-encryption key", k.KeyId)
		}
		var err error
		if material, err = unseal(r.kek, k.Material, []byte(k.KeyId)); err != nil {
			return nil, fmt.Errorf("root key %s: unwrap: %w", k.KeyId, err)
		}
	}
	if k.Algorithm != RootKeyAlgorithm || len(material) != rootKeyBytes {
		return nil, fmt.Errorf("root key %s: unsupported algorithm %q or size", k.KeyId, k.Algorithm)
	}
	encKey, err := hkdf.Key(sha256.New, material, nil, "drover variables v1", 32)
	if err != nil {
		return nil, err
	}
	seed, err := hkdf.Key(sha256.New, material, nil, "drover workload identity v1", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(encKey)
	if err != nil {
		return nil, err
	}
	o := &openedKey{id: k.KeyId, aead: aead, sign: ed25519.NewKeyFromSeed(seed)}
	if len(r.opened) > 256 {
		clear(r.opened)
	}
	r.opened[k.KeyId] = o
	return o, nil
}

// active returns the active key of the snapshot, opened.
func (r *rootKeyring) active(snap *state.Snapshot) (*openedKey, error) {
	for _, k := range snap.RootKeys() {
		if k.State == structs.RootKeyActive {
			return r.open(k)
		}
	}
	return nil, errNoRootKey
}

// byID returns one key of the snapshot, opened.
func (r *rootKeyring) byID(snap *state.Snapshot, id string) (*openedKey, error) {
	k := snap.RootKey(id)
	if k == nil {
		return nil, fmt.Errorf("root key %s not found", id)
	}
	return r.open(k)
}

// seal encrypts plain with a random nonce, which it prepends.
func seal(aead cipher.AEAD, plain, aad []byte) []byte {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, aad)
}

func unseal(aead cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("sealed data too short")
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad)
}

// primeRootKey makes the first root key when the keyring has none; the
// leader calls it on taking office, before it says it is ready.
func (s *Server) primeRootKey(ctx context.Context) error {
	// Held across the proposal, which returns once the key is applied
	// here: a second caller then finds it.
	s.primeMu.Lock()
	defer s.primeMu.Unlock()
	for _, k := range s.state.Snapshot().RootKeys() {
		if k.State == structs.RootKeyActive {
			return nil
		}
	}
	_, err := s.rotateRootKey(ctx)
	return err
}

// rotateRootKey makes a new active key; the old one stays, inactive, to
// open what it sealed and verify what it signed.
func (s *Server) rotateRootKey(ctx context.Context) (*structs.RootKey, error) {
	k, err := s.rootKeys.newKey()
	if err != nil {
		return nil, err
	}
	if _, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_RootKeyUpsert{
		RootKeyUpsert: &structs.RootKeyUpsert{Key: k, Activate: true}}}); err != nil {
		return nil, err
	}
	return s.state.Snapshot().RootKey(k.KeyId), nil
}

// keyringLoop rotates and collects root keys on the leader, every
// GCInterval.
func (s *Server) keyringLoop(ctx context.Context) {
	t := s.cfg.Clock.NewTicker(s.cfg.Keyring.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			if err := s.keyringMaintenance(ctx); err != nil && ctx.Err() == nil {
				s.logger.Warn("root keyring maintenance", "error", err)
			}
		}
	}
}

// keyringMaintenance rotates the active key once it is older than the
// rotation threshold, and removes inactive keys older than the rotation
// threshold plus the GC threshold that no variable is sealed under.
func (s *Server) keyringMaintenance(ctx context.Context) error {
	cfg := s.cfg.Keyring
	now := s.cfg.Clock.Now().UnixNano()
	snap := s.state.Snapshot()
	used := snap.VariablesByKey()
	var reap []string
	rotate := true
	for _, k := range snap.RootKeys() {
		age := time.Duration(now - k.CreateTime)
		switch {
		case k.State == structs.RootKeyActive:
			rotate = age >= cfg.RotationThreshold
		case age >= cfg.RotationThreshold+cfg.GCThreshold && used[k.KeyId] == 0:
			reap = append(reap, k.KeyId)
		}
	}
	if rotate {
		if _, err := s.rotateRootKey(ctx); err != nil {
			return err
		}
	}
	if len(reap) > 0 {
		if _, err := s.raft.Propose(ctx, &structs.LogCommand{Command: &structs.LogCommand_RootKeyDelete{
			RootKeyDelete: &structs.RootKeyDelete{KeyIds: reap}}}); err != nil {
			return err
		}
	}
	return nil
}

// RootKeys lists the keyring's keys, without their material. It needs a
// management token.
func (s *Server) RootKeys(ctx context.Context) ([]*structs.RootKey, error) {
	if err := s.allowManagement(ctx); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	return withoutMaterial(s.state.Snapshot().RootKeys()), nil
}

func withoutMaterial(keys []*structs.RootKey) []*structs.RootKey {
	out := make([]*structs.RootKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, &structs.RootKey{
			KeyId: k.KeyId, Algorithm: k.Algorithm, State: k.State, Wrapped: k.Wrapped,
			CreateIndex: k.CreateIndex, ModifyIndex: k.ModifyIndex, CreateTime: k.CreateTime,
		})
	}
	return out
}

// RotateRootKey makes a new active root key now and returns the keyring.
// It needs a management token.
func (s *Server) RotateRootKey(ctx context.Context) ([]*structs.RootKey, error) {
	if err := s.allowManagement(ctx); err != nil {
		return nil, err
	}
	var keys []*structs.RootKey
	err := s.leaderCall(ctx, func(ctx context.Context) error {
		if _, err := s.rotateRootKey(ctx); err != nil {
			return err
		}
		keys = withoutMaterial(s.state.Snapshot().RootKeys())
		return nil
	}, func(ctx context.Context, c structs.DroverClient) error {
		resp, err := c.RotateRootKey(ctx, &structs.RootKeyRotateRequest{})
		keys = resp.GetKeys()
		return err
	})
	return keys, err
}
