package server

import (
	"errors"

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

// errLeadershipLost fails the waiters of a leader that stepped down; the
// proposer turns it into ErrLeadershipLost or ErrNoLeader.
var errLeadershipLost = errors.New("stepped down while the entry was in flight")
