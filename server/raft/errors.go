package raft

import "errors"

// errLeadershipLost fails the waiters of a leader that stepped down; the
// proposer turns it into ErrLeadershipLost or ErrNoLeader.
var errLeadershipLost = errors.New("stepped down while the entry was in flight")

// errUnreachable: a peer could not be reached, so nothing was sent to it.
var errUnreachable = errors.New("server unreachable")
