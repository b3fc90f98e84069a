package server

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover/heartbeat"
)

func TestRestoreOfManyEntriesAppliesAtOnceOrNotAtAll(t *testing.T) {
	s := testServer(t, heartbeat.DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 30 {
		_, err := s.RegisterJob(ctx, mockJob(fmt.Sprintf("job-%02d", i), 1))
		require.NoError(t, err)
	}
	var backup bytes.Buffer
	_, err := s.Backup(ctx, &backup)
	require.NoError(t, err)
	for i := range 5 {
		_, err := s.RegisterJob(ctx, mockJob(fmt.Sprintf("later-%d", i), 1))
		require.NoError(t, err)
	}
	// Small entries: the restore spans many raft entries.
	s.restoreBatch = 256

	// Damage near the end: several entries are in the log before the
	// damage shows; the restore is abandoned and nothing changes.
	bad := bytes.Clone(backup.Bytes())
	bad[len(bad)-40] ^= 0xff
	before := s.raft.Applied()
	_, err = s.Restore(ctx, bytes.NewReader(bad))
	require.ErrorIs(t, err, ErrBadRequest)
	require.Greater(t, s.raft.Applied(), before+2, "restore entries went through the log before the damage showed")
	require.False(t, s.fsm.restoring(), "the abandoned restore is gone")
	jobs, err := s.Jobs(ctx, "", "")
	require.NoError(t, err)
	require.Len(t, jobs, 35, "an abandoned restore changes nothing")

	idx, err := s.Restore(ctx, bytes.NewReader(backup.Bytes()))
	require.NoError(t, err)
	require.NotZero(t, idx)
	jobs, err = s.Jobs(ctx, "", "")
	require.NoError(t, err)
	require.Len(t, jobs, 30, "the backup's state, whole")
	require.Nil(t, s.job("default", "later-0"))
}
