package inmem

import (
	"bytes"

	"github.com/droverhq/drover/store"
)

var _ store.Metadata = (*Store)(nil)

// Meta implements store.Metadata.
func (s *Store) Meta(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	return bytes.Clone(s.meta[key]), nil
}

// SetMeta implements store.Metadata.
func (s *Store) SetMeta(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	if s.meta == nil {
		s.meta = map[string][]byte{}
	}
	s.meta[key] = bytes.Clone(value)
	return nil
}
