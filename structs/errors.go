package structs

import (
	"errors"
	"fmt"
)

// Errors callers branch on with errors.Is. The drover package re-exports them.
var (
	// ErrNotLeader: the call needs the leader and this server is not it.
	ErrNotLeader = errors.New("not the leader")
	// ErrNoLeader: the cluster has no leader within the wait.
	ErrNoLeader = errors.New("no cluster leader")
	// ErrNotFound: the object asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPermissionDenied: the caller may not touch the object (e.g. another node's allocations).
	ErrPermissionDenied = errors.New("permission denied")
	// ErrShutdown: the agent is shutting down or has stopped.
	ErrShutdown = errors.New("agent shut down")
	// ErrBadRequest: a request is malformed.
	ErrBadRequest = errors.New("bad request")
	// ErrRegistrationRejected: the scheduler configuration refuses job
	// registrations (reject_job_registration).
	ErrRegistrationRejected = errors.New("job registration rejected")
	// ErrLeadershipLost: the leader was lost while a write was in flight, so
	// it may or may not have been applied. Retry it if it is idempotent.
	ErrLeadershipLost = errors.New("leadership lost while the write was in flight")
	// ErrUnknownRegion: a call named a region no server of the federation serves.
	ErrUnknownRegion = errors.New("unknown region")

	// ErrTokenNotFound: the ACL token presented does not exist or has
	// expired. It matches ErrPermissionDenied too.
	ErrTokenNotFound = fmt.Errorf("%w: ACL token not found", ErrPermissionDenied)
	// ErrACLDisabled: an ACL operation reached servers running without
	// ACLs. It matches ErrBadRequest too.
	ErrACLDisabled = fmt.Errorf("%w: ACL support disabled", ErrBadRequest)
	// ErrACLBootstrapped: the ACL system was bootstrapped already. It
	// matches ErrBadRequest too.
	ErrACLBootstrapped = fmt.Errorf("%w: ACL bootstrap already done", ErrBadRequest)
	// ErrNoNodeConnection: no server of the region holds a connection to
	// the node an allocation runs on (the client is down or reconnecting),
	// so a call to that client cannot be made. It matches ErrNotFound too.
	ErrNoNodeConnection = fmt.Errorf("%w: no connection to the node", ErrNotFound)
)
