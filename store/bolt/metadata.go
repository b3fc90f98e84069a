package bolt

import (
	"bytes"
	"errors"

	bbolt "go.etcd.io/bbolt"

	"github.com/droverhq/drover/store"
)

var _ store.Metadata = (*Store)(nil)

// Meta implements store.Metadata.
func (s *Store) Meta(key string) ([]byte, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketApp); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				out = bytes.Clone(v)
			}
		}
		return nil
	})
	return out, viewErr("read metadata", err)
}

// SetMeta implements store.Metadata: one transaction, so one fsync.
func (s *Store) SetMeta(key string, value []byte) error {
	if key == "" {
		return errors.New("store/bolt: empty metadata key")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return store.ErrClosed
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketApp)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
	return viewErr("write metadata", err)
}
