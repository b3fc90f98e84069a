package server

import (
	"github.com/droverhq/drover/server/statestream"
	"github.com/droverhq/drover/structs"
)

// Local names for the shared sentinel errors.
var (
	ErrNotLeader        = structs.ErrNotLeader
	ErrNoLeader         = structs.ErrNoLeader
	ErrNotFound         = structs.ErrNotFound
	ErrPermissionDenied = structs.ErrPermissionDenied
	ErrShutdown         = structs.ErrShutdown
	ErrBadRequest       = structs.ErrBadRequest
	ErrLeadershipLost   = structs.ErrLeadershipLost
	ErrUnknownRegion    = structs.ErrUnknownRegion
	ErrTokenNotFound    = structs.ErrTokenNotFound
	ErrACLDisabled      = structs.ErrACLDisabled
	ErrACLBootstrapped  = structs.ErrACLBootstrapped
)

// ErrBadSnapshot is returned when a state stream (a backup, or a raft
// snapshot's content) is damaged, truncated or of an unknown version.
var ErrBadSnapshot = statestream.ErrBadStream
