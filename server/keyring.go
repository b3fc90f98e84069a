package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/droverhq/drover/server/acl"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// GossipKeyBytes is the length of a gossip encryption key.
const GossipKeyBytes = 32

// DecodeGossipKey decodes a base64 gossip encryption key (standard or URL
// alphabet) of GossipKeyBytes bytes.
func DecodeGossipKey(key string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		if b, err := enc.DecodeString(key); err == nil {
			if len(b) != GossipKeyBytes {
				return nil, fmt.Errorf("a gossip key is %d bytes, this one %d", GossipKeyBytes, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("a gossip key is base64")
}

// setupKeyring gives serf its keyring. A keyring file in the data dir,
// written on first start, wins: an encryption key configured after it
// exists is ignored with a warning, so rotating keys at run time (Keyring
// operations) survives restarts.
func (s *Server) setupKeyring(sc *serf.Config) error {
	if sc.KeyringFile != "" {
		if b, err := os.ReadFile(sc.KeyringFile); err == nil {
			keys, err := decodeKeyringFile(b)
			if err != nil {
				return fmt.Errorf("keyring %s: %w", sc.KeyringFile, err)
			}
			if s.cfg.Encrypt != "" {
				s.logger.Warn("the encrypt key is ignored: the server already has a keyring", "keyring", sc.KeyringFile)
			}
			return useKeys(sc, keys)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read keyring: %w", err)
		}
	}
	if s.cfg.Encrypt == "" {
		return nil
	}
	key, err := DecodeGossipKey(s.cfg.Encrypt)
	if err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	if sc.KeyringFile != "" {
		b, _ := json.Marshal([]string{base64.StdEncoding.EncodeToString(key)})
		if err := os.WriteFile(sc.KeyringFile, b, 0o600); err != nil {
			return fmt.Errorf("write keyring: %w", err)
		}
	}
	return useKeys(sc, [][]byte{key})
}

func decodeKeyringFile(b []byte) ([][]byte, error) {
	var encoded []string
	if err := json.Unmarshal(b, &encoded); err != nil {
		return nil, err
	}
	if len(encoded) == 0 {
		return nil, errors.New("no keys")
	}
	keys := make([][]byte, 0, len(encoded))
	for _, e := range encoded {
		k, err := DecodeGossipKey(e)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// useKeys installs keys in serf's memberlist config, the first primary.
func useKeys(sc *serf.Config, keys [][]byte) error {
	kr, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	sc.MemberlistConfig.Keyring = kr
	return nil
}

// KeyringResponse is what a keyring operation found across the servers.
type KeyringResponse struct {
	// Keys maps each base64 key to how many servers have it installed.
	Keys map[string]int
	// PrimaryKeys maps each base64 key to how many servers encrypt with it.
	PrimaryKeys map[string]int
	// Servers is how many servers were asked; Errors how many failed.
	Servers, Errors int
	// Messages holds the failures, by server.
	Messages map[string]string
}

// KeyringList lists the gossip keys installed on every server.
func (s *Server) KeyringList(ctx context.Context) (*KeyringResponse, error) {
	if err := s.allow(ctx, "agent read", (*acl.ACL).AllowAgentRead); err != nil {
		return nil, err
	}
	return s.keyringOp(ctx, func(km *serf.KeyManager) (*serf.KeyResponse, error) { return km.ListKeys() })
}

// KeyringInstall adds a key to every server's keyring, without using it yet.
func (s *Server) KeyringInstall(ctx context.Context, key string) (*KeyringResponse, error) {
	if err := s.allow(ctx, "agent write", (*acl.ACL).AllowAgentWrite); err != nil {
		return nil, err
	}
	if _, err := DecodeGossipKey(key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return s.keyringOp(ctx, func(km *serf.KeyManager) (*serf.KeyResponse, error) { return km.InstallKey(key) })
}

// KeyringUse makes an installed key the one every server encrypts with.
func (s *Server) KeyringUse(ctx context.Context, key string) (*KeyringResponse, error) {
	if err := s.allow(ctx, "agent write", (*acl.ACL).AllowAgentWrite); err != nil {
		return nil, err
	}
	if _, err := DecodeGossipKey(key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return s.keyringOp(ctx, func(km *serf.KeyManager) (*serf.KeyResponse, error) { return km.UseKey(key) })
}

// KeyringRemove removes a key that is no longer primary from every server.
func (s *Server) KeyringRemove(ctx context.Context, key string) (*KeyringResponse, error) {
	if err := s.allow(ctx, "agent write", (*acl.ACL).AllowAgentWrite); err != nil {
		return nil, err
	}
	if _, err := DecodeGossipKey(key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return s.keyringOp(ctx, func(km *serf.KeyManager) (*serf.KeyResponse, error) { return km.RemoveKey(key) })
}

func (s *Server) keyringOp(ctx context.Context, op func(*serf.KeyManager) (*serf.KeyResponse, error)) (*KeyringResponse, error) {
	if s.gossip == nil {
		return nil, fmt.Errorf("%w: gossip is disabled on this server", ErrBadRequest)
	}
	if !s.gossip.serf.EncryptionEnabled() {
		return nil, fmt.Errorf("%w: gossip encryption is not enabled (start the servers with an encrypt key)", ErrBadRequest)
	}
	type result struct {
		r   *serf.KeyResponse
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := op(s.gossip.serf.KeyManager())
		ch <- result{r, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.r == nil {
		return nil, fmt.Errorf("keyring: %w", res.err)
	}
	out := &KeyringResponse{
		Keys: res.r.Keys, PrimaryKeys: res.r.PrimaryKeys, Servers: res.r.NumNodes, Errors: res.r.NumErr,
		Messages: res.r.Messages,
	}
	if res.err != nil {
		names := make([]string, 0, len(res.r.Messages))
		for n := range res.r.Messages {
			names = append(names, n)
		}
		sort.Strings(names)
		return out, fmt.Errorf("keyring: %w (failed on %v)", res.err, names)
	}
	return out, nil
}
