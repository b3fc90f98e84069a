// Command cluster runs drover at cluster scale in one process: N real
// servers (raft over loopback TCP, bbolt files in a temporary directory,
// serf gossip) and M simulated client nodes that register, heartbeat on
// their TTL, long-poll their allocations and report them running through
// the real client RPC, without running any task. It registers J jobs of C
// allocations each, prints progress every few seconds and a table at the
// end, and writes the figures as JSON.
//
//	go run ./bench/cmd/cluster -servers 3 -nodes 5000 -jobs 1000 -count 1000 -json c1m.json
//
// It exits non-zero when an allocation was lost or placed twice, when
// not everything was placed and running before -timeout, or on any
// other error; timings are reported, never judged.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.servers, "servers", 3, "servers in the cluster")
	flag.IntVar(&cfg.nodes, "nodes", 50, "simulated client nodes")
	flag.IntVar(&cfg.jobs, "jobs", 10, "jobs to register")
	flag.IntVar(&cfg.count, "count", 100, "allocations per job (service and batch jobs)")
	flag.StringVar(&cfg.jobType, "type", "service", "job type: service, batch or system")
	flag.Float64Var(&cfg.killLeaderAt, "kill-leader-at", 0, "kill the leader once this fraction of the allocations is placed (0: never)")
	flag.DurationVar(&cfg.duration, "duration", 0, "keep the cluster running (heartbeating) at least this long from the first job")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.StringVar(&cfg.jsonFile, "json", "", "write the results to this file as JSON")
	flag.DurationVar(&cfg.batch, "batch", 200*time.Millisecond, "how long a simulated client gathers allocation updates into one call")
	flag.IntVar(&cfg.conns, "conns", 2, "gRPC connections per server shared by the simulated clients")
	flag.IntVar(&cfg.schedulers, "schedulers", 0, "scheduler workers per server (0: one per core)")
	flag.BoolVar(&cfg.leaderOnlySchedulers, "leader-only-schedulers", false,
		"run scheduler workers on the leader only (server-0, made leader), none on the followers; the next leader after -kill-leader-at has none")
	flag.Float64Var(&cfg.heartbeatRate, "heartbeat-rate", 0, "servers' max_heartbeats_per_second (0: the default, 50)")
	flag.DurationVar(&cfg.progress, "progress", 3*time.Second, "interval of the progress lines")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the run's CPU profile (every server and client goroutine) to this file")
	flag.StringVar(&cfg.memProfile, "memprofile", "", "write a heap profile taken at the end of the run to this file")
	flag.BoolVar(&cfg.verbose, "v", false, "log the servers' warnings and errors to stderr")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, cfg)
	if res != nil {
		res.printTable(os.Stdout)
		if cfg.jsonFile != "" {
			b, _ := json.MarshalIndent(res, "", "  ")
			if werr := os.WriteFile(cfg.jsonFile, append(b, '\n'), 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "write json:", werr)
				os.Exit(1)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
	if res != nil && res.AllocsLost+res.AllocsDuplicated+res.AllocsMissing > 0 {
		fmt.Fprintf(os.Stderr, "cluster: %d allocations lost, %d duplicated, %d missing\n", res.AllocsLost, res.AllocsDuplicated, res.AllocsMissing)
		os.Exit(1)
	}
}

// config is the command's flags.
type config struct {
	servers, nodes, jobs, count int
	jobType                     string
	killLeaderAt                float64
	duration, timeout, batch    time.Duration
	progress                    time.Duration
	jsonFile                    string
	cpuProfile, memProfile      string
	conns, schedulers           int
	leaderOnlySchedulers        bool
	heartbeatRate               float64
	verbose                     bool
}

func (c config) logger() *slog.Logger {
	if c.verbose {
		return stderrLogger(slog.LevelWarn)
	}
	return slog.New(slog.DiscardHandler)
}
