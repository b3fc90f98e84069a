package acl

import "math/bits"

// Policy levels: the values a rule's `policy` field may take. Which levels a
// block accepts depends on the block (see Parse). When rules are merged the
// most privileged level is kept, except that deny beats every other level.
const (
	// PolicyDeny takes away everything the block covers, whatever other
	// rules grant.
	PolicyDeny = "deny"
	// PolicyList allows listing; it is only valid in a plugin block.
	PolicyList = "list"
	// PolicyRead allows read-only operations.
	PolicyRead = "read"
	// PolicyWrite allows read and write operations.
	PolicyWrite = "write"
	// PolicyScale allows scaling jobs and reading their scaling state; it is
	// only valid in a namespace block.
	PolicyScale = "scale"
)

// Capabilities that a namespace rule can grant. A namespace rule's policy
// level is shorthand for a set of them (see Parse). The fine-grained job,
// deployment and allocation capabilities (register-job, purge-job,
// fail-deployment, gc-allocation and the like) are never implied by a policy
// level: as in Nomad, a caller checks them together with the broader
// capability they refine, for example submit-job or register-job.
const (
	NamespaceCapabilityDeny                      = "deny"
	NamespaceCapabilityListJobs                  = "list-jobs"
	NamespaceCapabilityParseJob                  = "parse-job"
	NamespaceCapabilityReadJob                   = "read-job"
	NamespaceCapabilitySubmitJob                 = "submit-job"
	NamespaceCapabilityDispatchJob               = "dispatch-job"
	NamespaceCapabilityReadLogs                  = "read-logs"
	NamespaceCapabilityReadFS                    = "read-fs"
	NamespaceCapabilityAllocExec                 = "alloc-exec"
	NamespaceCapabilityAllocNodeExec             = "alloc-node-exec"
	NamespaceCapabilityAllocLifecycle            = "alloc-lifecycle"
	NamespaceCapabilitySentinelOverride          = "sentinel-override"
	NamespaceCapabilityCSIRegisterPlugin         = "csi-register-plugin"
	NamespaceCapabilityCSIWriteVolume            = "csi-write-volume"
	NamespaceCapabilityCSIReadVolume             = "csi-read-volume"
	NamespaceCapabilityCSIListVolume             = "csi-list-volume"
	NamespaceCapabilityCSIMountVolume            = "csi-mount-volume"
	NamespaceCapabilityHostVolumeCreate          = "host-volume-create"
	NamespaceCapabilityHostVolumeRegister        = "host-volume-register"
	NamespaceCapabilityHostVolumeRead            = "host-volume-read"
	NamespaceCapabilityHostVolumeWrite           = "host-volume-write"
	NamespaceCapabilityHostVolumeDelete          = "host-volume-delete"
	NamespaceCapabilityListScalingPolicies       = "list-scaling-policies"
	NamespaceCapabilityReadScalingPolicy         = "read-scaling-policy"
	NamespaceCapabilityReadJobScaling            = "read-job-scaling"
	NamespaceCapabilityScaleJob                  = "scale-job"
	NamespaceCapabilitySubmitRecommendation      = "submit-recommendation"
	NamespaceCapabilityRegisterJob               = "register-job"
	NamespaceCapabilityRevertJob                 = "revert-job"
	NamespaceCapabilityDeregisterJob             = "deregister-job"
	NamespaceCapabilityPurgeJob                  = "purge-job"
	NamespaceCapabilityEvaluateJob               = "evaluate-job"
	NamespaceCapabilityPlanJob                   = "plan-job"
	NamespaceCapabilityTagJobVersion             = "tag-job-version"
	NamespaceCapabilityStableJob                 = "stable-job"
	NamespaceCapabilityFailDeployment            = "fail-deployment"
	NamespaceCapabilityPauseDeployment           = "pause-deployment"
	NamespaceCapabilityPromoteDeployment         = "promote-deployment"
	NamespaceCapabilityUnblockDeployment         = "unblock-deployment"
	NamespaceCapabilityCancelDeployment          = "cancel-deployment"
	NamespaceCapabilitySetAllocHealthDeployment  = "set-alloc-health-deployment"
	NamespaceCapabilityGCAllocation              = "gc-allocation"
	NamespaceCapabilityPauseAllocation           = "pause-allocation"
	NamespaceCapabilityForcePeriodicJob          = "force-periodic-job"
	NamespaceCapabilityDeleteServiceRegistration = "delete-service-registration"
)

// Capabilities that a node_pool rule can grant.
const (
	NodePoolCapabilityDeny   = "deny"
	NodePoolCapabilityRead   = "read"
	NodePoolCapabilityWrite  = "write"
	NodePoolCapabilityDelete = "delete"
)

// Capabilities that a host_volume rule can grant.
const (
	HostVolumeCapabilityDeny           = "deny"
	HostVolumeCapabilityMountReadOnly  = "mount-readonly"
	HostVolumeCapabilityMountReadWrite = "mount-readwrite"
)

// Capabilities that a path rule inside a namespace's variables block can
// grant. Read implies list.
const (
	VariablesCapabilityDeny    = "deny"
	VariablesCapabilityList    = "list"
	VariablesCapabilityRead    = "read"
	VariablesCapabilityWrite   = "write"
	VariablesCapabilityDestroy = "destroy"
)

// Capabilities that an operator rule can grant besides its policy level.
const (
	OperatorCapabilityDeny          = "deny"
	OperatorCapabilitySnapshotSave  = "snapshot-save"
	OperatorCapabilityLicenseRead   = "license-read"
	OperatorCapabilityKeyringRotate = "keyring-rotate"
	OperatorCapabilityKeyringRead   = "keyring-read"
	OperatorCapabilityKeyringDelete = "keyring-delete"
)

// capSet is a set of capabilities of one kind (namespace, node pool, …),
// one bit per capability as numbered by that kind's capKind. Bit 0 is always
// deny.
type capSet uint64

const denyBit capSet = 1

func (s capSet) denied() bool { return s&denyBit != 0 }

// merge unions two sets, except that a set holding deny absorbs the other.
func (s capSet) merge(o capSet) capSet {
	if s.denied() || o.denied() {
		return denyBit
	}
	return s | o
}

// grants reports whether the set allows anything at all.
func (s capSet) grants() bool { return s != 0 && !s.denied() }

// capKind numbers the capabilities of one kind of rule and knows what each
// policy level expands to and which capabilities imply others.
type capKind struct {
	// block names the rule's block, for errors.
	block string
	// names lists the capabilities; names[0] is deny.
	names []string
	index map[string]int
	// levels maps each policy level the block accepts to its capabilities.
	levels map[string]capSet
	// implies maps a capability to those it brings along.
	implies map[capSet]capSet
}

func newCapKind(block string, names []string, levels map[string][]string, implies map[string][]string) *capKind {
	if len(names) > 64 || names[0] != "deny" {
		panic("acl: capability table of " + block + " is malformed")
	}
	k := &capKind{block: block, names: names, index: make(map[string]int, len(names))}
	for i, n := range names {
		k.index[n] = i
	}
	k.levels = make(map[string]capSet, len(levels))
	for lvl, caps := range levels {
		k.levels[lvl] = k.mustSet(caps)
	}
	k.implies = make(map[capSet]capSet, len(implies))
	for c, more := range implies {
		k.implies[k.mustSet([]string{c})] = k.mustSet(more)
	}
	return k
}

func (k *capKind) mustSet(caps []string) capSet {
	s, bad := k.set(caps)
	if bad != "" {
		panic("acl: capability table of " + k.block + " names unknown " + bad)
	}
	return s
}

// set turns capability names into a set, closed under implication, with deny
// absorbing the rest; bad is the first unknown name.
func (k *capKind) set(caps []string) (s capSet, bad string) {
	for _, c := range caps {
		i, ok := k.index[c]
		if !ok {
			return 0, c
		}
		s |= 1 << i
	}
	return k.close(s), ""
}

// close adds what the set's capabilities imply; deny absorbs everything.
func (k *capKind) close(s capSet) capSet {
	if s.denied() {
		return denyBit
	}
	for {
		next := s
		for c, more := range k.implies {
			if s&c != 0 {
				next |= more
			}
		}
		if next == s {
			return s
		}
		s = next
	}
}

// bit returns the single-capability set for name, or 0 if name is unknown.
func (k *capKind) bit(name string) capSet {
	i, ok := k.index[name]
	if !ok {
		return 0
	}
	return 1 << i
}

// list returns the names in s in table order.
func (k *capKind) list(s capSet) []string {
	out := make([]string, 0, bits.OnesCount64(uint64(s)))
	for i, n := range k.names {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

var namespaceReadCaps = []string{
	NamespaceCapabilityListJobs,
	NamespaceCapabilityParseJob,
	NamespaceCapabilityReadJob,
	NamespaceCapabilityCSIListVolume,
	NamespaceCapabilityCSIReadVolume,
	NamespaceCapabilityReadJobScaling,
	NamespaceCapabilityListScalingPolicies,
	NamespaceCapabilityReadScalingPolicy,
	NamespaceCapabilityHostVolumeRead,
}

var namespaceWriteCaps = append(append([]string(nil), namespaceReadCaps...),
	NamespaceCapabilityScaleJob,
	NamespaceCapabilitySubmitJob,
	NamespaceCapabilityDispatchJob,
	NamespaceCapabilityReadLogs,
	NamespaceCapabilityReadFS,
	NamespaceCapabilityAllocExec,
	NamespaceCapabilityAllocLifecycle,
	NamespaceCapabilityCSIMountVolume,
	NamespaceCapabilityCSIWriteVolume,
	NamespaceCapabilitySubmitRecommendation,
	NamespaceCapabilityHostVolumeCreate,
)

var namespaceKind = newCapKind("namespace",
	[]string{
		NamespaceCapabilityDeny,
		NamespaceCapabilityListJobs,
		NamespaceCapabilityParseJob,
		NamespaceCapabilityReadJob,
		NamespaceCapabilitySubmitJob,
		NamespaceCapabilityDispatchJob,
		NamespaceCapabilityReadLogs,
		NamespaceCapabilityReadFS,
		NamespaceCapabilityAllocExec,
		NamespaceCapabilityAllocNodeExec,
		NamespaceCapabilityAllocLifecycle,
		NamespaceCapabilitySentinelOverride,
		NamespaceCapabilityCSIRegisterPlugin,
		NamespaceCapabilityCSIWriteVolume,
		NamespaceCapabilityCSIReadVolume,
		NamespaceCapabilityCSIListVolume,
		NamespaceCapabilityCSIMountVolume,
		NamespaceCapabilityHostVolumeCreate,
		NamespaceCapabilityHostVolumeRegister,
		NamespaceCapabilityHostVolumeRead,
		NamespaceCapabilityHostVolumeWrite,
		NamespaceCapabilityHostVolumeDelete,
		NamespaceCapabilityListScalingPolicies,
		NamespaceCapabilityReadScalingPolicy,
		NamespaceCapabilityReadJobScaling,
		NamespaceCapabilityScaleJob,
		NamespaceCapabilitySubmitRecommendation,
		NamespaceCapabilityRegisterJob,
		NamespaceCapabilityRevertJob,
		NamespaceCapabilityDeregisterJob,
		NamespaceCapabilityPurgeJob,
		NamespaceCapabilityEvaluateJob,
		NamespaceCapabilityPlanJob,
		NamespaceCapabilityTagJobVersion,
		NamespaceCapabilityStableJob,
		NamespaceCapabilityFailDeployment,
		NamespaceCapabilityPauseDeployment,
		NamespaceCapabilityPromoteDeployment,
		NamespaceCapabilityUnblockDeployment,
		NamespaceCapabilityCancelDeployment,
		NamespaceCapabilitySetAllocHealthDeployment,
		NamespaceCapabilityGCAllocation,
		NamespaceCapabilityPauseAllocation,
		NamespaceCapabilityForcePeriodicJob,
		NamespaceCapabilityDeleteServiceRegistration,
	},
	map[string][]string{
		PolicyDeny:  {NamespaceCapabilityDeny},
		PolicyRead:  namespaceReadCaps,
		PolicyWrite: namespaceWriteCaps,
		PolicyScale: {
			NamespaceCapabilityListScalingPolicies,
			NamespaceCapabilityReadScalingPolicy,
			NamespaceCapabilityReadJobScaling,
			NamespaceCapabilityScaleJob,
			NamespaceCapabilityReadJob,
			NamespaceCapabilitySubmitRecommendation,
		},
	},
	map[string][]string{
		NamespaceCapabilityHostVolumeWrite: {
			NamespaceCapabilityHostVolumeRegister,
			NamespaceCapabilityHostVolumeCreate,
			NamespaceCapabilityHostVolumeDelete,
			NamespaceCapabilityHostVolumeRead,
		},
		NamespaceCapabilityHostVolumeRegister: {
			NamespaceCapabilityHostVolumeCreate,
			NamespaceCapabilityHostVolumeRead,
		},
		NamespaceCapabilityHostVolumeCreate: {NamespaceCapabilityHostVolumeRead},
	},
)

var nodePoolKind = newCapKind("node_pool",
	[]string{
		NodePoolCapabilityDeny,
		NodePoolCapabilityRead,
		NodePoolCapabilityWrite,
		NodePoolCapabilityDelete,
	},
	map[string][]string{
		PolicyDeny:  {NodePoolCapabilityDeny},
		PolicyRead:  {NodePoolCapabilityRead},
		PolicyWrite: {NodePoolCapabilityRead, NodePoolCapabilityWrite, NodePoolCapabilityDelete},
	},
	nil,
)

var hostVolumeKind = newCapKind("host_volume",
	[]string{
		HostVolumeCapabilityDeny,
		HostVolumeCapabilityMountReadOnly,
		HostVolumeCapabilityMountReadWrite,
	},
	map[string][]string{
		PolicyDeny:  {HostVolumeCapabilityDeny},
		PolicyRead:  {HostVolumeCapabilityMountReadOnly},
		PolicyWrite: {HostVolumeCapabilityMountReadOnly, HostVolumeCapabilityMountReadWrite},
	},
	nil,
)

// variablesKind has no policy levels: a path rule only lists capabilities.
var variablesKind = newCapKind("variables path",
	[]string{
		VariablesCapabilityDeny,
		VariablesCapabilityList,
		VariablesCapabilityRead,
		VariablesCapabilityWrite,
		VariablesCapabilityDestroy,
	},
	nil,
	map[string][]string{
		VariablesCapabilityRead: {VariablesCapabilityList},
	},
)

var operatorKind = newCapKind("operator",
	[]string{
		OperatorCapabilityDeny,
		OperatorCapabilitySnapshotSave,
		OperatorCapabilityLicenseRead,
		OperatorCapabilityKeyringRotate,
		OperatorCapabilityKeyringRead,
		OperatorCapabilityKeyringDelete,
	},
	map[string][]string{
		PolicyDeny: {OperatorCapabilityDeny},
		PolicyRead: {OperatorCapabilityLicenseRead, OperatorCapabilityKeyringRead},
		PolicyWrite: {
			OperatorCapabilitySnapshotSave,
			OperatorCapabilityLicenseRead,
			OperatorCapabilityKeyringRotate,
			OperatorCapabilityKeyringRead,
			OperatorCapabilityKeyringDelete,
		},
	},
	nil,
)

// level is a coarse policy level of the blocks without capabilities (node,
// agent, quota, plugin) and of operator, ordered by privilege; levelDeny beats
// all of them.
type level uint8

const (
	levelNone level = iota
	levelList
	levelRead
	levelWrite
	levelDeny
)

var levelByName = map[string]level{
	PolicyList:  levelList,
	PolicyRead:  levelRead,
	PolicyWrite: levelWrite,
	PolicyDeny:  levelDeny,
}

// maxLevel keeps the most privilege, deny first of all.
func maxLevel(a, b level) level {
	return max(a, b)
}
