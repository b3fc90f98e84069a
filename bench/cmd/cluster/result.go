package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// result is what a run measured; it is written as JSON.
type result struct {
	Servers      int     `json:"servers"`
	Nodes        int     `json:"nodes"`
	Jobs         int     `json:"jobs"`
	Count        int     `json:"count"`
	Type         string  `json:"type"`
	Allocs       int     `json:"allocs"`
	KillLeaderAt float64 `json:"kill_leader_at,omitempty"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	NumCPU       int     `json:"num_cpu"`
	LoadAvg      string  `json:"loadavg_start"`
	LoadAvgEnd   string  `json:"loadavg_end"`

	ClusterStartSeconds float64 `json:"cluster_start_seconds"`
	RegisterSeconds     float64 `json:"register_seconds"`
	PlacedSeconds       float64 `json:"placed_seconds"`
	RunningSeconds      float64 `json:"running_seconds"`
	WallSeconds         float64 `json:"wall_seconds"`

	PeakRSSBytes      uint64  `json:"peak_rss_bytes"`
	HeapBytes         uint64  `json:"heap_bytes"`
	HeapBytesPerAlloc float64 `json:"heap_bytes_per_alloc"`

	RaftEntries        int64 `json:"raft_entries"`
	RaftEntriesApplied int64 `json:"raft_entries_applied"`
	RaftBytes          int64 `json:"raft_bytes"`

	Leader            string             `json:"leader"`
	LeaderChanges     int64              `json:"leader_changes"`
	LeaderCPUSeconds  float64            `json:"leader_cpu_seconds"`
	LeaderCPUShare    float64            `json:"leader_cpu_share_of_one_core"` // over the whole run
	ServerCPUSeconds  map[string]float64 `json:"cpu_seconds_by_server"`
	ProcessCPUSeconds float64            `json:"process_cpu_seconds"`

	KilledLeader        string  `json:"killed_leader,omitempty"`
	KilledAtPlaced      int     `json:"killed_at_placed,omitempty"`
	KillShutdownSeconds float64 `json:"kill_shutdown_seconds,omitempty"`
	FailoverSeconds     float64 `json:"failover_seconds,omitempty"`

	Evals             int64   `json:"evals"`
	EvalSecondsMean   float64 `json:"eval_seconds_mean"`
	PlansRejected     int64   `json:"plans_rejected"`
	PlanNodesRejected int64   `json:"plan_nodes_rejected"`

	NodesMarkedDown   int   `json:"nodes_marked_down"`
	NodesNotReady     int   `json:"nodes_not_ready"`
	AllocsLost        int   `json:"allocs_lost"`
	AllocsDuplicated  int   `json:"allocs_duplicated"`
	AllocsMissing     int   `json:"allocs_missing"`
	Heartbeats        int64 `json:"heartbeats"`
	HeartbeatFailures int64 `json:"heartbeat_failures"`
	Registrations     int64 `json:"registrations_again"`
	UpdateCalls       int64 `json:"update_allocations_calls"`
	Polls             int64 `json:"alloc_polls_answered"`
	ClientsSawAllocs  int64 `json:"clients_saw_allocs"`
	ClientsRunning    int64 `json:"clients_running_acked"`

	TTLsHandedOut  int64   `json:"ttls_handed_out"`
	TTLMinSeconds  float64 `json:"ttl_min_seconds"`
	TTLMeanSeconds float64 `json:"ttl_mean_seconds"`
	TTLMaxSeconds  float64 `json:"ttl_max_seconds"`

	Error string `json:"error,omitempty"`
}

func (r *result) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("cluster", fmt.Sprintf("%d servers, %d nodes, %d %s jobs, %d allocations", r.Servers, r.Nodes, r.Jobs, r.Type, r.Allocs))
	row("machine", fmt.Sprintf("%d cores (GOMAXPROCS %d), load %s -> %s", r.NumCPU, r.GOMAXPROCS, r.LoadAvg, r.LoadAvgEnd))
	row("nodes registered in", fmt.Sprintf("%.1fs", r.RegisterSeconds))
	row("all placed in", fmt.Sprintf("%.1fs", r.PlacedSeconds))
	row("all running in", fmt.Sprintf("%.1fs", r.RunningSeconds))
	row("peak RSS", mib(r.PeakRSSBytes))
	row("heap per allocation", fmt.Sprintf("%.0f B (3 servers' states and the clients' tracking)", r.HeapBytesPerAlloc))
	row("raft entries / bytes", fmt.Sprintf("%d / %s", r.RaftEntries, mib(uint64(max(r.RaftBytes, 0)))))
	row("update calls", r.UpdateCalls)
	row("evaluations", fmt.Sprintf("%d, mean %.3fs; plans rejected %d (nodes %d)", r.Evals, r.EvalSecondsMean, r.PlansRejected, r.PlanNodesRejected))
	row("leader CPU", fmt.Sprintf("%.1fs (%.0f%% of one core over the run; process %.1fs); leader changes seen %d", r.LeaderCPUSeconds, 100*r.LeaderCPUShare, r.ProcessCPUSeconds, r.LeaderChanges))
	names := make([]string, 0, len(r.ServerCPUSeconds))
	for k := range r.ServerCPUSeconds {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		label := k
		if label == "" {
			label = "clients+runtime"
		}
		row("  cpu "+label, fmt.Sprintf("%.1fs", r.ServerCPUSeconds[k]))
	}
	if r.KilledLeader != "" {
		row("failover", fmt.Sprintf("killed %s at %d placed; shutdown %.2fs; new leader after %.2fs", r.KilledLeader, r.KilledAtPlaced, r.KillShutdownSeconds, r.FailoverSeconds))
	}
	row("heartbeats (failed)", fmt.Sprintf("%d (%d)", r.Heartbeats, r.HeartbeatFailures))
	row("TTL handed out", fmt.Sprintf("min %.0fs mean %.0fs max %.0fs", r.TTLMinSeconds, r.TTLMeanSeconds, r.TTLMaxSeconds))
	row("nodes marked down / not ready", fmt.Sprintf("%d / %d", r.NodesMarkedDown, r.NodesNotReady))
	row("allocs lost / duplicated / missing", fmt.Sprintf("%d / %d / %d", r.AllocsLost, r.AllocsDuplicated, r.AllocsMissing))
	if r.Error != "" {
		row("error", r.Error)
	}
	_ = tw.Flush()
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// rss is the process's resident set size now (Linux /proc; 0 elsewhere).
func rss() uint64 { return procStatus("VmRSS:") }

// peakRSSHWM is the process's peak resident set size (VmHWM).
func peakRSSHWM() uint64 { return procStatus("VmHWM:") }

func procStatus(field string) uint64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
