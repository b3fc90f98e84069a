package api

import (
	"bytes"
	"encoding/json"
)

// The job as Nomad's JSON spells it (github.com/hashicorp/nomad/api). Fields
// drover runs are typed and converted (job_convert.go, job_render.go);
// fields Nomad knows and drover does not are kept raw, so a job that sets
// one is refused (or, for policies drover does not apply yet, accepted
// with a warning) instead of being half-run. Keys Nomad does not know are
// ignored, as Nomad ignores them.

type jobJSON struct {
	Region      *string
	Namespace   *string
	ID          *string
	Name        *string
	Type        *string
	Priority    *int
	AllAtOnce   *bool
	Datacenters []string
	NodePool    *string
	Constraints []*constraintJSON
	Affinities  []*affinityJSON
	Spreads     []*spreadJSON
	TaskGroups  []*taskGroupJSON
	Meta        map[string]string
	// Reschedule is the default of the groups' policies (merged into each
	// on registration, as Nomad does); reads show it on the groups only.
	Reschedule *rescheduleJSON
	// Update is the default of the groups' update blocks; Migrate is
	// merged into each group's migrate block.
	Update  *updateJSON
	Migrate *migrateJSON

	// Known to Nomad, not run by drover: refused when set.
	Multiregion json.RawMessage
	// The batch blocks (batch.go); Payload and DispatchIdempotencyToken
	// are a dispatched child's, shown on reads and ignored on input.
	Periodic                 json.RawMessage
	ParameterizedJob         json.RawMessage
	Payload                  json.RawMessage
	DispatchIdempotencyToken *string
	// Informational or server-set: ignored on input.
	UI                json.RawMessage
	ParentID          *string
	Dispatched        bool
	ConsulNamespace   *string
	VaultNamespace    *string
	NomadTokenID      *string
	Stop              *bool
	Status            *string
	StatusDescription *string
	Stable            *bool
	Version           *uint64
	SubmitTime        *int64
	CreateIndex       *uint64
	ModifyIndex       *uint64
	JobModifyIndex    *uint64
	VersionTag        json.RawMessage
}

type constraintJSON struct {
	LTarget string
	RTarget string
	Operand string
}

// affinityJSON is Nomad's Affinity; a missing weight is 50, as Nomad's
// canonicalization makes it.
type affinityJSON struct {
	LTarget string
	RTarget string
	Operand string
	Weight  *int
}

// spreadJSON is Nomad's Spread; a missing weight is 50.
type spreadJSON struct {
	Attribute    string
	Weight       *int
	SpreadTarget []*spreadTargetJSON
}

type spreadTargetJSON struct {
	Value   string
	Percent int
}

type taskGroupJSON struct {
	Name             *string
	Count            *int
	Constraints      []*constraintJSON
	Affinities       []*affinityJSON
	Spreads          []*spreadJSON
	Tasks            []*taskJSON
	RestartPolicy    *restartJSON
	ReschedulePolicy *rescheduleJSON
	Networks         []*networkJSON
	Meta             map[string]string

	// Refused when they ask for anything (see job_disconnect.go).
	Disconnect          *disconnectJSON
	MaxClientDisconnect *int64

	Services []*serviceJSON
	Update   *updateJSON
	Migrate  *migrateJSON

	Volumes        map[string]*volumeRequestJSON
	Scaling        json.RawMessage
	Consul         json.RawMessage
	ShutdownDelay  *int64
	MaxRunDuration *int64

	// Its size is kept for display (drover sizes disk per task); sticky
	// is honoured on the same node, migrate is refused.
	EphemeralDisk *ephemeralDiskJSON
	// Accepted and ignored, as Nomad ignores these deprecated fields.
	StopAfterClientDisconnect json.RawMessage
	PreventRescheduleOnLost   json.RawMessage
}

type taskJSON struct {
	Name          string
	Driver        string
	Config        map[string]any
	Constraints   []*constraintJSON
	Affinities    []*affinityJSON
	Env           map[string]string
	Resources     *resourcesJSON
	RestartPolicy *restartJSON
	Meta          map[string]string
	KillTimeout   *int64
	KillSignal    string
	LogConfig     *logConfigJSON
	Artifacts     []*artifactJSON
	Services      []*serviceJSON

	User            string
	Lifecycle       *lifecycleJSON
	Vault           json.RawMessage
	Consul          json.RawMessage
	Templates       []*templateJSON
	DispatchPayload json.RawMessage
	VolumeMounts    []*volumeMountJSON
	CSIPluginConfig json.RawMessage `json:",omitempty"`
	Leader          bool
	ShutdownDelay   int64
	Kind            string
	ScalingPolicies json.RawMessage
	Secrets         json.RawMessage
	Identity        json.RawMessage
	Identities      json.RawMessage
	Actions         json.RawMessage
	Schedule        json.RawMessage
}

type resourcesJSON struct {
	CPU         *int
	Cores       *int
	MemoryMB    *int
	MemoryMaxMB *int
	DiskMB      *int
	SecretsMB   *int
	IOPS        *int
	Networks    json.RawMessage
	Devices     json.RawMessage
	NUMA        json.RawMessage
}

type restartJSON struct {
	Interval        *int64
	Attempts        *int
	Delay           *int64
	Mode            *string
	RenderTemplates *bool
}

// rescheduleJSON is Nomad's ReschedulePolicy; durations in nanoseconds.
type rescheduleJSON struct {
	Attempts      *int
	Interval      *int64
	Delay         *int64
	DelayFunction *string
	MaxDelay      *int64
	Unlimited     *bool
}

// networkJSON is Nomad's NetworkResource. drover runs a group's host
// network with static (ReservedPorts) and dynamic ports.
type networkJSON struct {
	Mode          string
	Device        string
	CIDR          string
	IP            string
	DNS           json.RawMessage
	ReservedPorts []portJSON
	DynamicPorts  []portJSON
	Hostname      string
	MBits         *int
	CNI           json.RawMessage
}

type portJSON struct {
	Label           string
	Value           int
	To              int
	HostNetwork     string
	IgnoreCollision bool
}

// artifactJSON is Nomad's TaskArtifact.
type artifactJSON struct {
	GetterSource   *string
	GetterOptions  map[string]string
	GetterHeaders  map[string]string
	GetterMode     *string
	GetterInsecure *bool
	RelativeDest   *string
	Chown          bool
}

// logConfigJSON is Nomad's LogConfig. Enabled is the deprecated form
// Nomad ignores.
type logConfigJSON struct {
	MaxFiles      *int
	MaxFileSizeMB *int
	Enabled       *bool
	Disabled      *bool
}

// disconnectJSON is Nomad's DisconnectStrategy; durations in nanoseconds.
type disconnectJSON struct {
	LostAfter         *int64
	Replace           *bool
	Reconcile         *string
	StopOnClientAfter *int64
}

type ephemeralDiskJSON struct {
	Sticky  *bool
	Migrate *bool
	SizeMB  *int
}

// isSet reports whether a raw field holds anything but an empty value.
func isSet(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "", "null", "[]", "{}", "false", "0", `""`:
		return false
	}
	return true
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

// clampInt keeps a decoded int within int32, so that an absurd value fails
// validation instead of wrapping around to a plausible one.
func clampInt(n int) int {
	const lo, hi = -1 << 31, 1<<31 - 1
	return min(max(n, lo), hi)
}
