package inmem_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/store/inmem"
	"github.com/droverhq/drover/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := inmem.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
