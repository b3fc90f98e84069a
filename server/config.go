package server

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/gc"
	"github.com/droverhq/drover/heartbeat"
	"github.com/droverhq/drover/server/raft"
	"github.com/droverhq/drover/store"
	"github.com/droverhq/drover/transport"
	"github.com/droverhq/drover/transport/tcp"
)

// Config is what a server needs; the drover package builds it from
// ServerOptions with defaults applied and validated.
type Config struct {
	Name       string
	Region     string
	Datacenter string
	DataDir    string
	Store      store.Store
	BindAddr   string
	// AdvertiseAddr is the RPC address other servers and clients are told;
	// default the address the listener is bound to.
	AdvertiseAddr string
	Transport     transport.Transport

	// BootstrapExpect is how many voting servers of the region must know
	// each other before they bootstrap the cluster together.
	BootstrapExpect int
	// StaticPeers lists the RPC addresses of other servers to bootstrap or
	// join with, for finding them without gossip.
	StaticPeers []string

	// DisableGossip turns serf off: the server then finds others only
	// through StaticPeers and cannot federate.
	DisableGossip bool
	// SerfBindAddr is the gossip listen address (host:port; port 0 picks one).
	SerfBindAddr string
	// SerfAdvertiseAddr is the gossip address others are told; default the bound one.
	SerfAdvertiseAddr string
	// Join lists the gossip addresses to join at start and how often and
	// how many times to try; a zero RetryInterval takes
	// DefaultJoinConfig's.
	Join JoinConfig
	// Encrypt is the base64 gossip key used on first start.
	Encrypt string
	// RejoinAfterLeave lets a server that left rejoin when restarted.
	RejoinAfterLeave bool
	// DeadServerThreshold is how long a server must have been failed in the
	// gossip pool before the leader removes it from the raft peer set.
	DeadServerThreshold time.Duration
	// AuthoritativeRegion is the region holding global configuration.
	AuthoritativeRegion string
	// NonVoting makes the server a raft learner: it replicates and serves
	// stale reads but never votes, and never bootstraps a cluster.
	NonVoting bool

	NumSchedulers     int
	EnabledSchedulers []string
	// Scheduling holds the scheduler configuration's default, the host's
	// custom schedulers, job versions kept and the plan rejection tracker.
	Scheduling SchedulingConfig

	Heartbeat heartbeat.Config
	// FailoverTTLPinned means the operator chose Heartbeat.FailoverTTL and
	// it is used even when unsafe for the cluster size.
	FailoverTTLPinned bool

	// Raft holds the raft timing multiplier and snapshot policy; zero
	// fields take raft.DefaultConfig's.
	Raft raft.Config
	// LeaderWait bounds how long a call waits for a leader before failing
	// with ErrNoLeader. Default five election timeouts.
	LeaderWait time.Duration

	JobDefaultPriority int
	JobMaxPriority     int
	// JobMaxCount bounds the sum of a job's group counts at registration
	// (job_max_count): 0 means structs.DefaultJobMaxCount, a negative
	// value no limit.
	JobMaxCount int

	// GC holds the garbage-collection thresholds and how often jobs are
	// collected (evaluations and nodes use fixed intervals); a zero
	// JobGCInterval takes gc.DefaultConfig's.
	GC gc.Config

	// ACL configures access control lists; zero durations take
	// DefaultACLConfig's.
	ACL ACLConfig
	// Keyring governs the root keys that seal variables and sign workload
	// identities; zero durations take DefaultKeyringConfig's.
	Keyring KeyringConfig
	// TLS, when set, is the mutual TLS material every RPC connection is
	// authenticated with; Transport must have been built with it (a
	// tcp.Transport whose Material it is). With VerifyServerHostname, a
	// peer's certificate must name its role and region: servers take part
	// in raft and forwarding only with server.<region>.nomad, and node calls
	// need client.<region>.nomad or the server name.
	TLS                  *tcp.Material
	VerifyServerHostname bool
	// RPCHandshakeTimeout bounds a peer's TLS handshake. Default 5s.
	RPCHandshakeTimeout time.Duration

	// DisableEventBroker turns the event stream off; EventBufferSize is
	// how many applied entries' events are kept for subscribers.
	DisableEventBroker bool
	EventBufferSize    int

	Logger     *slog.Logger
	Registerer prometheus.Registerer

	// Clock is the server's time: raft ticks, the times recorded in raft
	// entries, heartbeat timers, the broker's delays, GC, drains,
	// deployments. Default the real clock; tests step a clock.Fake.
	Clock clock.Clock
}

// Validate reports every impossible setting of the parts' own
// configurations (heartbeat, GC, raft, keyring, join, plan rejection
// tracker, ACL), in that order.
func (c *Config) Validate() error {
	return errors.Join(c.Heartbeat.Validate(), c.GC.Validate(), c.Raft.Validate(), c.Keyring.Validate(),
		c.Join.Validate(), c.Scheduling.PlanRejection.Validate(), c.ACL.Validate())
}

// electionTimeout is the raft election timeout at the configured multiplier.
func (c *Config) electionTimeout() time.Duration { return c.Raft.ElectionTimeout() }

func (c *Config) leaderWait() time.Duration {
	if c.LeaderWait > 0 {
		return c.LeaderWait
	}
	return 5 * c.electionTimeout()
}

// retryInterval is how often a call waiting for a leader looks again.
func (c *Config) retryInterval() time.Duration {
	return c.electionTimeout() / 10
}

const (
	proposeTimeout = 30 * time.Second
	// maxBlockingQuery caps how long a blocking read waits.
	maxBlockingQuery = 5 * time.Minute
)
