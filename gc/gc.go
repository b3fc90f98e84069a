// Package gc decides which terminal objects a cluster can forget: nodes
// down too long, dead jobs, old evaluations and their allocations, ACL
// tokens expired long enough ago, and finished deployments. It is
// pure: given a state snapshot, the thresholds and the current time it
// returns what to reap; the leader commits that through raft.
//
// Ages are measured from times recorded in the replicated state (when a
// node's or job's status changed, when an evaluation or allocation was last
// modified), so a new leader reaches the same verdicts as the old one.
package gc

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/droverhq/drover/structs"
)

// Config holds the thresholds, how long an object must have been terminal
// before it is collected (the *_gc_threshold parameters of Nomad's server
// block), and how often the leader collects jobs.
type Config struct {
	// NodeGCThreshold: how long a node stays down before it is purged.
	NodeGCThreshold time.Duration
	// JobGCThreshold: how long a job stays dead before it is collected.
	JobGCThreshold time.Duration
	// EvalGCThreshold: how long an evaluation stays terminal before it is collected.
	EvalGCThreshold time.Duration
	// BatchEvalGCThreshold: the same for evaluations of batch jobs.
	BatchEvalGCThreshold time.Duration
	// ACLTokenGCThreshold is how long after it expired a token is reaped.
	ACLTokenGCThreshold time.Duration
	// DeploymentGCThreshold is how long a deployment must have been
	// finished (successful, failed or cancelled) before it is reaped.
	DeploymentGCThreshold time.Duration
	// JobGCInterval is how often the leader collects jobs (job_gc_interval).
	// Collect does not read it.
	JobGCInterval time.Duration
}

// DefaultConfig returns Nomad's defaults: nodes after 24h, jobs after 4h
// (collected every 5m), evaluations after 1h (24h for batch jobs'),
// expired ACL tokens after 1h, deployments after 1h.
func DefaultConfig() Config {
	return Config{
		NodeGCThreshold: 24 * time.Hour, JobGCThreshold: 4 * time.Hour,
		EvalGCThreshold: time.Hour, BatchEvalGCThreshold: 24 * time.Hour,
		ACLTokenGCThreshold: time.Hour, DeploymentGCThreshold: time.Hour,
		JobGCInterval: 5 * time.Minute,
	}
}

// WithDefaults returns c with every zero field set to DefaultConfig's.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	for _, f := range c.fields(&d) {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return c
}

// ErrInvalidConfig is matched by every error Validate returns.
var ErrInvalidConfig = errors.New("gc: invalid config")

// Validate reports every negative duration, in field order, under the
// names of Nomad's server block.
func (c Config) Validate() error {
	var errs []error
	for _, f := range c.fields(nil) {
		if *f.v < 0 {
			errs = append(errs, fmt.Errorf("%w: %s must not be negative, got %v", ErrInvalidConfig, f.name, *f.v))
		}
	}
	return errors.Join(errs...)
}

type configField struct {
	name   string
	v, def *time.Duration
}

// fields lists c's settings in field order, each with the matching one of
// def (when def is not nil).
func (c *Config) fields(def *Config) []configField {
	if def == nil {
		def = &Config{}
	}
	return []configField{
		{"node_gc_threshold", &c.NodeGCThreshold, &def.NodeGCThreshold},
		{"job_gc_threshold", &c.JobGCThreshold, &def.JobGCThreshold},
		{"eval_gc_threshold", &c.EvalGCThreshold, &def.EvalGCThreshold},
		{"batch_eval_gc_threshold", &c.BatchEvalGCThreshold, &def.BatchEvalGCThreshold},
		{"acl_token_gc_threshold", &c.ACLTokenGCThreshold, &def.ACLTokenGCThreshold},
		{"deployment_gc_threshold", &c.DeploymentGCThreshold, &def.DeploymentGCThreshold},
		{"job_gc_interval", &c.JobGCInterval, &def.JobGCInterval},
	}
}

// Force returns c with every threshold at zero: collect everything that is
// terminal now, still keeping what the safety rules keep.
func (c Config) Force() Config { return Config{JobGCInterval: c.JobGCInterval} }

// Kinds selects what a pass collects.
type Kinds struct {
	Nodes, Jobs, Evals bool
	// LocalACLTokens collects expired tokens that are not global;
	// GlobalACLTokens the global ones, which only the authoritative region
	// reaps (the others follow it by replication).
	LocalACLTokens, GlobalACLTokens bool
	// Deployments collects finished deployments.
	Deployments bool
}

// All collects every kind but global ACL tokens.
var All = Kinds{Nodes: true, Jobs: true, Evals: true, LocalACLTokens: true, Deployments: true}

// State is the read-only view a pass works from.
type State interface {
	Nodes() []*structs.Node
	Jobs(namespace, prefix string) []*structs.Job
	Job(namespace, id string) *structs.Job
	Evals() []*structs.Evaluation
	EvalsByJob(namespace, id string) []*structs.Evaluation
	AllocsByJob(namespace, id string) []*structs.Allocation
	AllocsByNode(nodeID string) []*structs.Allocation
	ACLTokens(prefix string) []*structs.ACLToken
	// Deployments lists the deployments of a namespace ("" for all).
	Deployments(namespace, prefix string) []*structs.Deployment
}

// JobRef names a job.
type JobRef struct{ Namespace, ID string }

// Result lists what to reap. Objects appear once even when several rules
// select them.
type Result struct {
	Nodes  []string
	Jobs   []JobRef
	Evals  []string
	Allocs []string
	// ACLTokens lists accessor ids.
	ACLTokens []string
	// Deployments lists deployment ids.
	Deployments []string
}

// Len is the number of objects in the result.
func (r *Result) Len() int {
	return len(r.Nodes) + len(r.Jobs) + len(r.Evals) + len(r.Allocs) + len(r.ACLTokens) + len(r.Deployments)
}

// collector accumulates a result without duplicates.
type collector struct {
	res                  Result
	nodes, evals, allocs map[string]bool
	jobs                 map[JobRef]bool
}

func (c *collector) node(id string) {
	if !c.nodes[id] {
		c.nodes[id] = true
		c.res.Nodes = append(c.res.Nodes, id)
	}
}

func (c *collector) job(ref JobRef) {
	if !c.jobs[ref] {
		c.jobs[ref] = true
		c.res.Jobs = append(c.res.Jobs, ref)
	}
}

func (c *collector) eval(id string) {
	if !c.evals[id] {
		c.evals[id] = true
		c.res.Evals = append(c.res.Evals, id)
	}
}

func (c *collector) alloc(id string) {
	if !c.allocs[id] {
		c.allocs[id] = true
		c.res.Allocs = append(c.res.Allocs, id)
	}
}

// older reports whether a time recorded at nanos is at least threshold before now.
func older(nanos int64, threshold time.Duration, now time.Time) bool {
	return now.Sub(time.Unix(0, nanos)) >= threshold
}

// Collect returns what the selected kinds of collection reap at now.
func Collect(st State, cfg Config, now time.Time, kinds Kinds) *Result {
	c := &collector{nodes: map[string]bool{}, evals: map[string]bool{}, allocs: map[string]bool{}, jobs: map[JobRef]bool{}}
	if kinds.Jobs {
		collectJobs(st, cfg, now, c)
	}
	if kinds.Evals {
		collectEvals(st, cfg, now, c)
	}
	if kinds.Nodes {
		collectNodes(st, cfg, now, c)
	}
	if kinds.LocalACLTokens || kinds.GlobalACLTokens {
		for _, t := range st.ACLTokens("") {
			if t.ExpirationTime == 0 || !older(t.ExpirationTime, cfg.ACLTokenGCThreshold, now) {
				continue
			}
			if (t.Global && kinds.GlobalACLTokens) || (!t.Global && kinds.LocalACLTokens) {
				c.res.ACLTokens = append(c.res.ACLTokens, t.AccessorId)
			}
		}
	}
	if kinds.Deployments {
		collectDeployments(st, cfg, now, c)
	}
	c.res.sort()
	return &c.res
}

// collectDeployments reaps deployments finished for at least the
// deployment threshold that no allocation refers to any more, as Nomad
// does: a job's allocations keep their deployment readable.
func collectDeployments(st State, cfg Config, now time.Time, c *collector) {
	referenced := map[string]bool{}
	looked := map[JobRef]bool{}
	for _, d := range st.Deployments("", "") {
		if d.Active() || !older(d.ModifyTime, cfg.DeploymentGCThreshold, now) {
			continue
		}
		if ref := (JobRef{d.Namespace, d.JobId}); !looked[ref] {
			looked[ref] = true
			for _, a := range st.AllocsByJob(d.Namespace, d.JobId) {
				if !c.allocs[a.Id] {
					referenced[a.DeploymentId] = true
				}
			}
		}
		if !referenced[d.Id] {
			c.res.Deployments = append(c.res.Deployments, d.Id)
		}
	}
}

// collectJobs reaps jobs dead for at least the job threshold, with their
// evaluations and allocations, when none of them is still active.
func collectJobs(st State, cfg Config, now time.Time, c *collector) {
	for _, job := range st.Jobs("", "") {
		if job.Status != structs.JobStatusDead || !older(job.StatusUpdatedAt, cfg.JobGCThreshold, now) {
			continue
		}
		evals := st.EvalsByJob(job.Namespace, job.Id)
		allocs := st.AllocsByJob(job.Namespace, job.Id)
		if !allTerminal(evals, allocs) {
			continue
		}
		c.job(JobRef{job.Namespace, job.Id})
		for _, e := range evals {
			c.eval(e.Id)
		}
		for _, a := range allocs {
			c.alloc(a.Id)
		}
	}
}

func allTerminal(evals []*structs.Evaluation, allocs []*structs.Allocation) bool {
	for _, e := range evals {
		if !e.TerminalStatus() {
			return false
		}
	}
	for _, a := range allocs {
		if !finished(a) {
			return false
		}
	}
	return true
}

// finished reports whether no client runs or will run the allocation: the
// client reported it ended, or it was stopped before it started. An
// allocation asked to stop but still running is not finished.
func finished(a *structs.Allocation) bool {
	return a.ClientTerminal() || (a.DesiredStatus != structs.AllocDesiredRun && a.ClientStatus == structs.AllocClientPending)
}

// collectEvals reaps terminal evaluations older than their threshold (the
// batch one for batch jobs) whose allocations are all terminal and as old.
// The latest evaluation of a batch job that still exists is kept: it holds
// the job's outcome.
func collectEvals(st State, cfg Config, now time.Time, c *collector) {
	latestBatch := map[JobRef]*structs.Evaluation{}
	for _, e := range st.Evals() {
		if !isBatch(e.Type) {
			continue
		}
		ref := JobRef{e.Namespace, e.JobId}
		if cur := latestBatch[ref]; cur == nil || e.CreateIndex > cur.CreateIndex {
			latestBatch[ref] = e
		}
	}
	allocsByEval := map[string][]*structs.Allocation{}
	indexed := map[JobRef]bool{}
	for _, e := range st.Evals() {
		if !e.TerminalStatus() {
			continue
		}
		threshold := cfg.EvalGCThreshold
		if isBatch(e.Type) {
			threshold = cfg.BatchEvalGCThreshold
			ref := JobRef{e.Namespace, e.JobId}
			if latestBatch[ref] == e && st.Job(e.Namespace, e.JobId) != nil {
				continue
			}
		}
		if !older(e.ModifyTime, threshold, now) {
			continue
		}
		if ref := (JobRef{e.Namespace, e.JobId}); !indexed[ref] {
			indexed[ref] = true
			for _, a := range st.AllocsByJob(e.Namespace, e.JobId) {
				allocsByEval[a.EvalId] = append(allocsByEval[a.EvalId], a)
			}
		}
		allocs := allocsByEval[e.Id]
		collectable := true
		for _, a := range allocs {
			if !finished(a) || !older(a.ModifyTime, threshold, now) {
				collectable = false
				break
			}
		}
		if !collectable {
			continue
		}
		c.eval(e.Id)
		for _, a := range allocs {
			c.alloc(a.Id)
		}
	}
}

func isBatch(jobType string) bool {
	return jobType == structs.JobTypeBatch || jobType == structs.JobTypeSysBatch
}

// collectNodes reaps nodes down for at least the node threshold, with their
// terminal allocations; a node with any allocation not terminal is kept.
func collectNodes(st State, cfg Config, now time.Time, c *collector) {
	for _, n := range st.Nodes() {
		if n.Status != structs.NodeStatusDown || !older(n.StatusUpdatedAt, cfg.NodeGCThreshold, now) {
			continue
		}
		allocs := st.AllocsByNode(n.Id)
		busy := false
		for _, a := range allocs {
			if !finished(a) {
				busy = true
				break
			}
		}
		if busy {
			continue
		}
		c.node(n.Id)
		for _, a := range allocs {
			c.alloc(a.Id)
		}
	}
}

// Batches splits r into results of at most size objects each, so each fits
// one raft entry. Order within each kind is kept.
func Batches(r *Result, size int) []*Result {
	if size <= 0 {
		size = 1
	}
	var out []*Result
	cur := &Result{}
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur)
			cur = &Result{}
		}
	}
	add := func(f func()) {
		if cur.Len() >= size {
			flush()
		}
		f()
	}
	for _, id := range r.Allocs {
		add(func() { cur.Allocs = append(cur.Allocs, id) })
	}
	for _, id := range r.Evals {
		add(func() { cur.Evals = append(cur.Evals, id) })
	}
	for _, j := range r.Jobs {
		add(func() { cur.Jobs = append(cur.Jobs, j) })
	}
	for _, id := range r.Nodes {
		add(func() { cur.Nodes = append(cur.Nodes, id) })
	}
	for _, id := range r.ACLTokens {
		add(func() { cur.ACLTokens = append(cur.ACLTokens, id) })
	}
	for _, id := range r.Deployments {
		add(func() { cur.Deployments = append(cur.Deployments, id) })
	}
	flush()
	return out
}

// sortResult orders every list, for deterministic output in tests and logs.
func (r *Result) sort() {
	sort.Strings(r.Nodes)
	sort.Strings(r.Evals)
	sort.Strings(r.Allocs)
	sort.Strings(r.ACLTokens)
	sort.Strings(r.Deployments)
	sort.Slice(r.Jobs, func(i, j int) bool {
		if r.Jobs[i].Namespace != r.Jobs[j].Namespace {
			return r.Jobs[i].Namespace < r.Jobs[j].Namespace
		}
		return r.Jobs[i].ID < r.Jobs[j].ID
	})
}
