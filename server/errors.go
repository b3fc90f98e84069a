package server

import "github.com/droverhq/drover/structs"

// Local names for the shared sentinel errors.
var (
	ErrNotLeader        = structs.ErrNotLeader
	ErrNoLeader         = structs.ErrNoLeader
	ErrNotFound         = structs.ErrNotFound
	ErrPermissionDenied = structs.ErrPermissionDenied
	ErrShutdown         = structs.ErrShutdown
	ErrBadRequest       = structs.ErrBadRequest
)
