package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

// fleet is the simulated clients: nodes that register, heartbeat on the
// TTL the servers hand out, long-poll their allocations and report them
// running, over the real client RPC (gRPC on loopback TCP), without
// running anything. Thousands of nodes share a few connections per server.
type fleet struct {
	servers []string
	conns   [][]structs.DroverClient
	closers []*grpc.ClientConn
	nodes   []*simNode
	// alive reports whether server i may still answer; a killed one is skipped.
	alive func(i int) bool
	// batch is how long a node gathers allocation updates before sending
	// them in one UpdateAllocations call, as a client's updater does.
	batch time.Duration
	// capacity is how many benchmark allocations a node has room for.
	capacity int
	// updates bounds UpdateAllocations calls in flight across the fleet.
	updates chan struct{}
	// beats bounds heartbeats in flight across the fleet.
	beats chan struct{}

	wg      sync.WaitGroup
	seen    atomic.Int64 // allocations the nodes saw placed on them
	running atomic.Int64 // allocations whose running status the servers acknowledged
	calls   atomic.Int64 // UpdateAllocations calls acknowledged
	polls   atomic.Int64 // long-poll answers
	hbs     atomic.Int64 // heartbeats acknowledged
	hbFail  atomic.Int64 // heartbeats failed
	reRegs  atomic.Int64 // registrations again after a server forgot the node
	ttl     ttlStats
}

// simNode is one simulated client node.
type simNode struct {
	f      *fleet
	i      int
	id     string
	secret string
	server atomic.Int32

	mu       sync.Mutex
	reported map[string]string // allocation id -> client status sent
	pending  map[string]*structs.Allocation
	flushing bool
	timer    *time.Timer
	stopped  bool
}

// ttlStats records the heartbeat TTLs the servers handed out.
type ttlStats struct {
	mu       sync.Mutex
	n        int64
	sum, min time.Duration
	max      time.Duration
}

func (t *ttlStats) add(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 || d < t.min {
		t.min = d
	}
	t.max = max(t.max, d)
	t.sum += d
	t.n++
}

func (t *ttlStats) snapshot() (n int64, minTTL, mean, maxTTL time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		return 0, 0, 0, 0
	}
	return t.n, t.min, t.sum / time.Duration(t.n), t.max
}

// newFleet dials perServer connections to every server.
func newFleet(servers []string, perServer int, nodes int, batch time.Duration, alive func(int) bool) (*fleet, error) {
	f := &fleet{servers: servers, alive: alive, batch: batch,
		updates: make(chan struct{}, 256), beats: make(chan struct{}, 128)}
	for _, addr := range servers {
		var list []structs.DroverClient
		for range perServer {
			cc, err := grpc.NewClient("passthrough:///"+addr,
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "tcp", a)
				}))
			if err != nil {
				f.close()
				return nil, fmt.Errorf("dial %s: %w", addr, err)
			}
			f.closers = append(f.closers, cc)
			list = append(list, structs.NewDroverClient(cc))
		}
		f.conns = append(f.conns, list)
	}
	for i := range nodes {
		n := &simNode{f: f, i: i, id: nodeID(i), secret: "secret-" + nodeID(i),
			reported: map[string]string{}, pending: map[string]*structs.Allocation{}}
		n.server.Store(int32(i % len(servers)))
		f.nodes = append(f.nodes, n)
	}
	return f, nil
}

func (f *fleet) close() {
	for _, cc := range f.closers {
		_ = cc.Close()
	}
}

func nodeID(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i) }

// rpc is the connection node n uses now.
func (n *simNode) rpc() structs.DroverClient {
	s := int(n.server.Load())
	list := n.f.conns[s]
	return list[(n.i/len(n.f.servers))%len(list)]
}

// failover moves the node to the next live server, as a client does when
// its server stops answering.
func (n *simNode) failover(from int32) {
	for k := 1; k <= len(n.f.servers); k++ {
		next := (int(from) + k) % len(n.f.servers)
		if n.f.alive(next) {
			n.server.CompareAndSwap(from, int32(next))
			return
		}
	}
}

// node is the simulated node's description: capacity for cap allocations
// of the benchmark's task (100 MHz, 64 MB).
func simNodeSpec(i, capacity int) *structs.Node {
	return &structs.Node{
		Id: nodeID(i), SecretId: "secret-" + nodeID(i), Name: fmt.Sprintf("sim-%d", i), Datacenter: "dc1",
		Resources:  &structs.Resources{CpuMhz: int64(100 * capacity), MemoryMb: int64(64 * capacity)},
		Attributes: map[string]string{"kernel.name": "linux"},
		Meta:       map[string]string{"rack": fmt.Sprintf("r%d", i%16)},
		Drivers:    map[string]*structs.DriverInfo{"mock": {Detected: true, Healthy: true}},
	}
}

// register registers every node, 256 at a time: the registrations of a
// fleet starting together share raft rounds.
func (f *fleet) register(ctx context.Context, capacity int) error {
	f.capacity = capacity
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for _, n := range f.nodes {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ttl, err := n.register(ctx, capacity)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			n.scheduleBeat(ctx, ttl)
		}()
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return ctx.Err()
}

func (n *simNode) register(ctx context.Context, capacity int) (time.Duration, error) {
	for attempt := 0; ; attempt++ {
		s := n.server.Load()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := n.rpc().RegisterNode(cctx, &structs.NodeRegisterRequest{Node: simNodeSpec(n.i, capacity)})
		cancel()
		if err == nil {
			ttl := time.Duration(resp.HeartbeatTtlMs) * time.Millisecond
			n.f.ttl.add(ttl)
			return ttl, nil
		}
		if ctx.Err() != nil || attempt == 20 {
			return 0, fmt.Errorf("register %s: %w", n.id, err)
		}
		n.failover(s)
		if !sleep(ctx, 250*time.Millisecond) {
			return 0, ctx.Err()
		}
	}
}

// scheduleBeat arms the node's next heartbeat after d. Timers, not a
// goroutine per node, so that 100,000 nodes cost little.
func (n *simNode) scheduleBeat(ctx context.Context, d time.Duration) {
	time.AfterFunc(d, func() {
		if ctx.Err() != nil {
			return
		}
		select {
		case n.f.beats <- struct{}{}:
		case <-ctx.Done():
			return
		}
		next := n.beat(ctx)
		<-n.f.beats
		n.scheduleBeat(ctx, next)
	})
}

// beat sends one heartbeat and returns when the next is due: after the
// TTL handed out, sooner after a failure (as the client does).
func (n *simNode) beat(ctx context.Context) time.Duration {
	s := n.server.Load()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	resp, err := n.rpc().Heartbeat(cctx, &structs.NodeHeartbeatRequest{NodeId: n.id, SecretId: n.secret})
	cancel()
	switch {
	case err == nil:
		n.f.hbs.Add(1)
		ttl := time.Duration(resp.HeartbeatTtlMs) * time.Millisecond
		n.f.ttl.add(ttl)
		return ttl
	case errors.Is(rpcerr.From(err), structs.ErrNotFound):
		// The servers forgot the node: register again, as the client does.
		n.f.reRegs.Add(1)
		if ttl, err := n.register(ctx, n.f.capacity); err == nil {
			return ttl
		}
		return time.Second
	default:
		if ctx.Err() == nil {
			n.f.hbFail.Add(1)
			n.failover(s)
		}
		return time.Second
	}
}

// watchAll starts every node's allocation long-poll, at most
// watchStartRate a second, as clients starting over some time do: each
// first poll is answered at once, and a hundred thousand of them in one
// burst would only measure the burst.
func (f *fleet) watchAll(ctx context.Context) {
	const watchStartRate = 5000
	tick := time.NewTicker(time.Second / watchStartRate * 100)
	defer tick.Stop()
	for i, n := range f.nodes {
		if i > 0 && i%100 == 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			n.watch(ctx)
		}()
	}
}

// watch long-polls the node's allocations by index, as the client does,
// asking only for the allocations the servers changed since its last
// answer (a simulated node keeps no copies: the changed ones are all it
// acts on, and it knows what it reported).
func (n *simNode) watch(ctx context.Context) {
	var index uint64
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		s := n.server.Load()
		qctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
		resp, err := n.rpc().GetNodeAllocations(qctx, &structs.NodeAllocsRequest{
			NodeId: n.id, SecretId: n.secret,
			Options:      &structs.QueryOptions{MinQueryIndex: index, MaxQueryTimeMs: (5 * time.Minute).Milliseconds()},
			ChangesSince: index, IdsWhenRemoved: true, WithoutReports: true,
		})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.failover(s)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		n.f.polls.Add(1)
		index = resp.GetMeta().GetIndex()
		n.reconcile(ctx, resp.GetAllocations())
	}
}

// reconcile queues a status for every allocation whose reported status
// should change: a new one starts running at once; one the servers stop
// completes.
func (n *simNode) reconcile(ctx context.Context, allocs []*structs.Allocation) {
	n.mu.Lock()
	defer n.mu.Unlock()
	queued := false
	for _, a := range allocs {
		if a.ClientTerminal() {
			continue
		}
		want := structs.AllocClientRunning
		if a.DesiredStatus != structs.AllocDesiredRun {
			want = structs.AllocClientComplete
		}
		prev, known := n.reported[a.Id]
		if !known {
			n.f.seen.Add(1)
			n.reported[a.Id] = ""
		}
		if prev == want {
			continue
		}
		if p := n.pending[a.Id]; p != nil && p.ClientStatus == want {
			continue
		}
		n.pending[a.Id] = &structs.Allocation{Id: a.Id, ClientStatus: want,
			TaskStates: map[string]*structs.TaskState{"t": {State: taskState(want)}}}
		queued = true
	}
	if queued {
		n.armFlush(ctx, n.f.batch)
	}
}

func taskState(clientStatus string) string {
	if clientStatus == structs.AllocClientRunning {
		return "running"
	}
	return "dead"
}

// armFlush schedules the node's next batch; n.mu is held.
func (n *simNode) armFlush(ctx context.Context, d time.Duration) {
	if n.flushing || n.timer != nil || n.stopped {
		return
	}
	n.timer = time.AfterFunc(d, func() { n.flush(ctx) })
}

// flush sends everything pending in one UpdateAllocations call.
func (n *simNode) flush(ctx context.Context) {
	n.mu.Lock()
	n.timer = nil
	if len(n.pending) == 0 || ctx.Err() != nil {
		n.mu.Unlock()
		return
	}
	n.flushing = true
	batch := make([]*structs.Allocation, 0, len(n.pending))
	for _, a := range n.pending {
		batch = append(batch, a)
	}
	clear(n.pending)
	n.mu.Unlock()

	select {
	case n.f.updates <- struct{}{}:
	case <-ctx.Done():
		return
	}
	s := n.server.Load()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := n.rpc().UpdateAllocations(cctx, &structs.AllocUpdateRequest{NodeId: n.id, SecretId: n.secret, Allocations: batch})
	cancel()
	<-n.f.updates

	n.mu.Lock()
	defer n.mu.Unlock()
	n.flushing = false
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		n.failover(s)
		for _, a := range batch {
			if _, newer := n.pending[a.Id]; !newer {
				n.pending[a.Id] = a
			}
		}
		n.armFlush(ctx, 500*time.Millisecond)
		return
	}
	n.f.calls.Add(1)
	for _, a := range batch {
		if a.ClientStatus == structs.AllocClientRunning && n.reported[a.Id] != structs.AllocClientRunning {
			n.f.running.Add(1)
		}
		n.reported[a.Id] = a.ClientStatus
	}
	if len(n.pending) > 0 {
		n.armFlush(ctx, n.f.batch)
	}
}

// stop ends the fleet's work and waits for the long-polls to return.
func (f *fleet) stop() {
	for _, n := range f.nodes {
		n.mu.Lock()
		n.stopped = true
		if n.timer != nil {
			n.timer.Stop()
		}
		n.mu.Unlock()
	}
	f.wg.Wait()
	f.close()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
