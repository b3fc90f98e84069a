package raft

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/store/inmem"
	"github.com/droverhq/drover/structs"
)

// TestClusterTranscripts drives a few raft nodes wired in memory, on a
// fake clock that never moves by itself, as etcd's raft tests drive a
// RawNode: time passes only when the transcript ticks a node, and a
// message travels only when the transcript delivers it.
//
//	add-nodes n=3              three voters bootstrapped together
//	tick [node=1] [n=10]       tick one node (or every node) n times
//	deliver                    deliver until no message is left in the net, a node or a transport
//	propose node=1 job=a       propose a job upsert, deliver, print its result
//	isolate node=1             drop every message to and from the node
//	heal                       stop dropping
//	status                     each node's role, term, leader and applied index
func TestClusterTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/cluster", func(t *testing.T, path string) {
		c := newMemCluster(t)
		defer c.stop()
		datadriven.RunTest(t, path, c.run)
	})
}

// memCluster is nodes n1..nN joined by a memNet, on one fake clock.
type memCluster struct {
	t     *testing.T
	clock *clock.Fake
	net   *memNet
	nodes []*Node
	fsms  []*jobFSM
}

func newMemCluster(t *testing.T) *memCluster {
	return &memCluster{t: t, clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), net: newMemNet()}
}

func (c *memCluster) stop() {
	for _, n := range c.nodes {
		n.Stop()
	}
}

func nodeAddr(i int) string { return fmt.Sprintf("n%d", i) }

func (c *memCluster) run(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "add-nodes":
		var n int
		d.ScanArgs(t, "n", &n)
		var peers []*structs.RaftPeer
		for i := 1; i <= n; i++ {
			peers = append(peers, &structs.RaftPeer{Id: uint64(i), Name: nodeAddr(i), Addr: nodeAddr(i), Region: "global", Voter: true})
		}
		for i, p := range peers {
			fsm := newJobFSM()
			node := NewNode(NodeConfig{
				Config:   Config{SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, TrailingLogs: 1 << 20},
				ID:       p.Id,
				Self:     proto.CloneOf(p),
				BaseTick: 100 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
				MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
				ProposeTimeout: 30 * time.Second, LeaderWait: 5 * time.Second,
				Clock: c.clock,
			}, inmem.New(), fsm, MemSnapshots{}, c.net.dialer(p.Addr))
			c.net.add(p.Addr, node)
			if err := node.Start(StartBootstrap, peers); err != nil {
				t.Fatalf("start %s: %v", p.Addr, err)
			}
			c.nodes = append(c.nodes, node)
			c.fsms = append(c.fsms, fsm)
			_ = i
		}
		c.net.settle(c.nodes)
		return c.status()
	case "tick":
		n := 1
		if d.HasArg("n") {
			d.ScanArgs(t, "n", &n)
		}
		targets := c.nodes
		if d.HasArg("node") {
			targets = []*Node{c.node(t, d)}
		}
		for range n {
			for _, node := range targets {
				node.Tick()
			}
		}
		return ""
	case "deliver":
		c.net.settle(c.nodes)
		return c.status()
	case "propose":
		node := c.node(t, d)
		var job string
		d.ScanArgs(t, "job", &job)
		type result struct {
			index uint64
			err   error
		}
		done := make(chan result, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go func() {
			idx, err := node.Propose(ctx, jobCmd(job))
			done <- result{idx, err}
		}()
		// The proposal reaches the leader on the proposer's goroutine; what
		// it sends wakes this loop to deliver it, until the result is in.
		for {
			c.net.settle(c.nodes)
			select {
			case r := <-done:
				if r.err != nil {
					return fmt.Sprintf("error: %v\n", r.err)
				}
				c.net.settle(c.nodes) // followers learn the commit
				return fmt.Sprintf("index %d\n%s", r.index, c.status())
			case <-c.net.sent:
			case <-ctx.Done():
				return "no result within 10s\n"
			}
		}
	case "isolate":
		c.net.isolate(c.node(t, d).cfg.Self.Addr)
		return ""
	case "heal":
		c.net.heal()
		return ""
	case "status":
		return c.status()
	}
	t.Fatalf("unknown command %q", d.Cmd)
	return ""
}

func (c *memCluster) node(t *testing.T, d *datadriven.TestData) *Node {
	var i int
	d.ScanArgs(t, "node", &i)
	if i < 1 || i > len(c.nodes) {
		t.Fatalf("no node %d", i)
	}
	return c.nodes[i-1]
}

// status is one line per node: its role, term, leader, applied index and
// the jobs its FSM holds.
func (c *memCluster) status() string {
	var b strings.Builder
	for i, n := range c.nodes {
		role := "follower"
		if n.IsLeader() {
			role = "leader"
		}
		lead := "none"
		if id := n.LeaderID(); id != 0 {
			lead = nodeAddr(int(id))
		}
		c.fsms[i].mu.Lock()
		jobs := c.fsms[i].ids()
		c.fsms[i].mu.Unlock()
		fmt.Fprintf(&b, "%s: %s term=%d leader=%s applied=%d jobs=%v\n", nodeAddr(i+1), role, n.Term(), lead, n.Applied(), jobs)
	}
	return b.String()
}

// memNet carries raft messages between nodes in memory. A message waits
// in the net until settle delivers it, so a transcript decides when
// messages travel.
type memNet struct {
	mu       sync.Mutex
	nodes    map[string]*Node
	queue    []memMsg
	isolated map[string]bool
	// sent is signalled whenever a message enters the queue.
	sent chan struct{}
}

type memMsg struct {
	from, to string
	data     []byte
}

func newMemNet() *memNet {
	return &memNet{nodes: map[string]*Node{}, isolated: map[string]bool{}, sent: make(chan struct{}, 1)}
}

func (n *memNet) add(addr string, node *Node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nodes[addr] = node
}

func (n *memNet) isolate(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[addr] = true
}

func (n *memNet) heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.isolated)
}

func (n *memNet) send(from, to string, data []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queue = append(n.queue, memMsg{from: from, to: to, data: slices.Clone(data)})
	select {
	case n.sent <- struct{}{}:
	default:
	}
}

// deliverAll steps every queued message into its node, dropping those of
// an isolated node.
func (n *memNet) deliverAll() {
	n.mu.Lock()
	q := n.queue
	n.queue = nil
	n.mu.Unlock()
	for _, m := range q {
		n.mu.Lock()
		dst, cut := n.nodes[m.to], n.isolated[m.from] || n.isolated[m.to]
		n.mu.Unlock()
		if dst == nil || cut {
			continue
		}
		msg := &raftpb.Message{}
		if err := proto.Unmarshal(m.data, msg); err != nil {
			panic(err)
		}
		_ = dst.Step(context.Background(), msg, m.from)
	}
}

// settle delivers messages until none is left anywhere: none in the net,
// none waiting in a node's inbox, none a node's raft has left to hand its
// transport (every Ready handled), none queued for or being sent by a
// node's transport. It decides that from the nodes' state, never from
// time passing.
func (n *memNet) settle(nodes []*Node) {
	for {
		n.deliverAll()
		for _, node := range nodes {
			handled(node)
		}
		// A sender counts a message until after the net holds it: idle
		// transports first, then an empty net, and nothing is missed.
		if transportsIdle(nodes) && n.queued() == 0 {
			return
		}
		// A sender holds a message: in a moment the net has it, or the
		// sender is done with one the net already had.
		deadline := time.Now().Add(10 * time.Second)
		for n.queued() == 0 && !transportsIdle(nodes) {
			if time.Now().After(deadline) {
				panic("raft harness: a message stayed in a sender for 10s")
			}
			runtime.Gosched()
		}
	}
}

// handled returns once the node has stepped every message and proposal it
// was given and handled the Ready that followed. Its loop handles a Ready
// before each request it takes, so a status round trip that starts with
// the inbox empty ends after everything taken from it was handled.
func handled(node *Node) {
	for {
		empty := len(node.recvc) == 0 && len(node.propc) == 0
		_, _ = node.status(context.Background())
		if empty {
			return
		}
	}
}

// transportsIdle reports whether no node's transport holds a message.
func transportsIdle(nodes []*Node) bool {
	for _, node := range nodes {
		if !node.transport.idle() {
			return false
		}
	}
	return true
}

func (n *memNet) queued() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.queue)
}

func (n *memNet) dialer(self string) Dialer { return memDialer{n: n, self: self} }

type memDialer struct {
	n    *memNet
	self string
}

func (d memDialer) Dial(_ context.Context, addr string) (structs.DroverClient, error) {
	return memClient{n: d.n, from: d.self, to: addr}, nil
}

// memClient is the raft half of a connection to a peer.
type memClient struct {
	structs.DroverClient
	n        *memNet
	from, to string
}

func (c memClient) Raft(ctx context.Context, _ ...grpc.CallOption) (grpc.ClientStreamingClient[structs.RaftMessage, structs.Empty], error) {
	return &memStream{c: c, ctx: ctx}, nil
}

type memStream struct {
	grpc.ClientStream
	c   memClient
	ctx context.Context
}

func (s *memStream) Send(m *structs.RaftMessage) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	s.c.n.send(s.c.from, s.c.to, m.GetData())
	return nil
}

func (s *memStream) CloseAndRecv() (*structs.Empty, error) { return &structs.Empty{}, nil }
