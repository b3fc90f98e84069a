package inmem_test

import (
	"testing"

	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/store/inmem"
	"github.com/droverhq/drover/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return inmem.New() })
}
