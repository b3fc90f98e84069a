package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/clock"
	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/structs"
)

// aclServer starts a single server with ACLs on (or off) and a clock the
// test moves.
func aclServer(t *testing.T, enabled bool) (*Server, *clock.Fake) {
	t.Helper()
	clock := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := gcConfig(t.TempDir(), clock)
	cfg.ACL = ACLConfig{Enabled: enabled}
	cfg.GC.ACLTokenGCThreshold = time.Hour
	s := startGCServer(t, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	})
	return s, clock
}

// bootstrap returns a management token's secret.
func bootstrap(t *testing.T, s *Server) string {
	t.Helper()
	tok, err := s.ACLBootstrap(WithToken(context.Background(), ""), "")
	require.NoError(t, err)
	require.Equal(t, structs.ACLTokenTypeManagement, tok.Type)
	require.NotEmpty(t, tok.SecretId)
	return tok.SecretId
}

// clientToken creates a policy with rules and a client token holding it,
// and returns the token.
func clientToken(t *testing.T, s *Server, mgmt, policy, rules string, ttl time.Duration) *structs.ACLToken {
	t.Helper()
	ctx := WithToken(context.Background(), mgmt)
	_, err := s.UpsertACLPolicies(ctx, []*structs.ACLPolicy{{Name: policy, Rules: rules}})
	require.NoError(t, err)
	in := &structs.ACLToken{Name: policy + "-token", Type: structs.ACLTokenTypeClient, Policies: []string{policy}}
	if ttl > 0 {
		in.ExpirationTtl = durationpb.New(ttl)
	}
	toks, err := s.UpsertACLTokens(ctx, []*structs.ACLToken{in})
	require.NoError(t, err)
	require.Len(t, toks, 1)
	return toks[0]
}

// calls are one call of each kind a user makes, as the caller of ctx.
func userCalls(s *Server) map[string]func(ctx context.Context) error {
	return map[string]func(ctx context.Context) error{
		"RegisterJob": func(ctx context.Context) error { _, err := s.RegisterJob(ctx, mockJob("acl-job", 1)); return err },
		"DeregisterJob": func(ctx context.Context) error {
			_, err := s.DeregisterJob(ctx, "", "missing", false)
			return err
		},
		"Job":         func(ctx context.Context) error { _, err := s.Job(ctx, "", "missing"); return err },
		"Jobs":        func(ctx context.Context) error { _, err := s.Jobs(ctx, "default", ""); return err },
		"JobVersions": func(ctx context.Context) error { _, err := s.JobVersions(ctx, "", "missing"); return err },
		"Allocations": func(ctx context.Context) error { _, err := s.Allocations(ctx, "default", "", ""); return err },
		"Nodes":       func(ctx context.Context) error { _, err := s.Nodes(ctx); return err },
		"Node":        func(ctx context.Context) error { _, err := s.Node(ctx, "missing"); return err },
		"Evaluations": func(ctx context.Context) error { _, err := s.Evaluations(ctx, "", "missing"); return err },
		"UpdateNodeEligibility": func(ctx context.Context) error {
			_, err := s.UpdateNodeEligibility(ctx, "missing", structs.NodeIneligible)
			return err
		},
		"UpdateNodeDrain": func(ctx context.Context) error {
			_, err := s.UpdateNodeDrain(ctx, "missing", "", nil, false)
			return err
		},
		"SchedulerConfiguration": func(ctx context.Context) error { _, err := s.SchedulerConfiguration(ctx); return err },
		"SetSchedulerConfiguration": func(ctx context.Context) error {
			_, _, err := s.SetSchedulerConfiguration(ctx, &structs.SchedulerConfiguration{}, false, 0)
			return err
		},
		"RaftConfiguration": func(ctx context.Context) error { _, err := s.RaftConfiguration(ctx); return err },
		"GarbageCollect":    func(ctx context.Context) error { _, err := s.GarbageCollect(ctx); return err },
		"Backup":            func(ctx context.Context) error { _, err := s.Backup(ctx, discard{}); return err },
		"ACLTokens":         func(ctx context.Context) error { _, err := s.ACLTokens(ctx, "", false); return err },
		"Events": func(ctx context.Context) error {
			sub, err := s.Events(ctx, events.SubscribeRequest{})
			if sub != nil {
				sub.Close()
			}
			return err
		},
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestACLRefusesEveryCallWithoutAToken is the switch on: with ACLs on, an
// anonymous caller gets nothing, and the same calls pass with a
// management token and with the host's own authority.
func TestACLRefusesEveryCallWithoutAToken(t *testing.T) {
	s, _ := aclServer(t, true)
	mgmt := bootstrap(t, s)
	anon := WithToken(context.Background(), "")
	before := s.StateIndex()
	for name, call := range userCalls(s) {
		err := call(anon)
		require.ErrorIs(t, err, ErrPermissionDenied, "%s as anonymous", name)
	}
	require.Equal(t, before, s.StateIndex(), "refused calls change nothing")
	for name, call := range userCalls(s) {
		for who, ctx := range map[string]context.Context{"management": WithToken(context.Background(), mgmt), "host": context.Background()} {
			err := call(ctx)
			require.False(t, errors.Is(err, ErrPermissionDenied), "%s as %s: %v", name, who, err)
		}
	}
	_, err := s.Jobs(WithToken(context.Background(), "not-a-token"), "default", "")
	require.ErrorIs(t, err, ErrTokenNotFound)
	require.ErrorIs(t, err, ErrPermissionDenied)
}

// TestACLOffAllowsEveryCaller is the switch off: with ACLs off, any token
// (or none) may do anything, and the ACL endpoints say ACLs are off.
func TestACLOffAllowsEveryCaller(t *testing.T) {
	s, _ := aclServer(t, false)
	for name, call := range userCalls(s) {
		if name == "ACLTokens" {
			continue
		}
		for _, tok := range []string{"", "not-a-token"} {
			err := call(WithToken(context.Background(), tok))
			require.False(t, errors.Is(err, ErrPermissionDenied), "%s with token %q: %v", name, tok, err)
		}
	}
	_, err := s.ACLBootstrap(context.Background(), "")
	require.ErrorIs(t, err, ErrACLDisabled)
	_, err = s.ACLTokens(context.Background(), "", false)
	require.ErrorIs(t, err, ErrACLDisabled)
}

func TestACLBootstrapsOnce(t *testing.T) {
	s, _ := aclServer(t, true)
	tok, err := s.ACLBootstrap(WithToken(context.Background(), ""), "a0b1c2d3-0000-4000-8000-000000000001")
	require.NoError(t, err)
	require.Equal(t, "a0b1c2d3-0000-4000-8000-000000000001", tok.SecretId)
	_, err = s.ACLBootstrap(WithToken(context.Background(), ""), "")
	require.ErrorIs(t, err, ErrACLBootstrapped)
	// The bootstrap token manages.
	_, err = s.ACLTokens(WithToken(context.Background(), tok.SecretId), "", false)
	require.NoError(t, err)
}

func TestACLPoliciesDecideJobRegistration(t *testing.T) {
	s, _ := aclServer(t, true)
	mgmt := bootstrap(t, s)
	readOnly := clientToken(t, s, mgmt, "readonly", `namespace "default" { policy = "read" }`, 0)
	writer := clientToken(t, s, mgmt, "writer", `namespace "default" { policy = "write" }`, 0)
	// A token with write and deny policies: deny wins.
	ctx := WithToken(context.Background(), mgmt)
	_, err := s.UpsertACLPolicies(ctx, []*structs.ACLPolicy{{Name: "deny-default", Rules: `namespace "default" { policy = "deny" }`}})
	require.NoError(t, err)
	toks, err := s.UpsertACLTokens(ctx, []*structs.ACLToken{{Name: "mixed", Type: structs.ACLTokenTypeClient, Policies: []string{"writer", "deny-default"}}})
	require.NoError(t, err)
	mixed := toks[0]

	before := s.StateIndex()
	_, err = s.RegisterJob(WithToken(context.Background(), readOnly.SecretId), mockJob("web", 1))
	require.ErrorIs(t, err, ErrPermissionDenied, "read-only token")
	_, err = s.RegisterJob(WithToken(context.Background(), mixed.SecretId), mockJob("web", 1))
	require.ErrorIs(t, err, ErrPermissionDenied, "write and deny")
	_, err = s.Jobs(WithToken(context.Background(), mixed.SecretId), "default", "")
	require.ErrorIs(t, err, ErrPermissionDenied, "deny takes reads away too")
	require.Equal(t, before, s.StateIndex(), "refused registrations change nothing")

	_, err = s.RegisterJob(WithToken(context.Background(), writer.SecretId), mockJob("web", 1))
	require.NoError(t, err, "write token")
	jobs, err := s.Jobs(WithToken(context.Background(), readOnly.SecretId), "default", "")
	require.NoError(t, err, "read-only token lists")
	require.Len(t, jobs, 1)
	// Another namespace is not the token's.
	_, err = s.RegisterJob(WithToken(context.Background(), writer.SecretId), &structs.Job{Id: "other", Namespace: "other",
		TaskGroups: mockJob("x", 1).TaskGroups})
	require.ErrorIs(t, err, ErrPermissionDenied)
}

// TestACLAnonymousPolicy: a policy named "anonymous" is what callers
// without a token get.
func TestACLAnonymousPolicy(t *testing.T) {
	s, _ := aclServer(t, true)
	mgmt := bootstrap(t, s)
	anon := WithToken(context.Background(), "")
	_, err := s.Jobs(anon, "default", "")
	require.ErrorIs(t, err, ErrPermissionDenied)
	_, err = s.UpsertACLPolicies(WithToken(context.Background(), mgmt),
		[]*structs.ACLPolicy{{Name: "anonymous", Rules: `namespace "default" { capabilities = ["list-jobs"] }`}})
	require.NoError(t, err)
	_, err = s.Jobs(anon, "default", "")
	require.NoError(t, err)
	_, err = s.RegisterJob(anon, mockJob("web", 1))
	require.ErrorIs(t, err, ErrPermissionDenied)
}

// TestACLObjectNamespaceDecides is the regression test of Nomad's
// CVE-2019-16742: an allocation or evaluation is read with the rights of
// its own namespace, never those of the namespace the request names.
func TestACLObjectNamespaceDecides(t *testing.T) {
	s, _ := aclServer(t, true)
	mgmt := bootstrap(t, s)
	host := context.Background()
	_, err := s.RegisterNode(host, mockNode("n1"))
	require.NoError(t, err)
	resp, err := s.RegisterJob(host, mockJob("secret-job", 1))
	require.NoError(t, err)
	waitState(t, s, "the allocation", func() bool {
		all, _ := s.Allocations(host, "", "secret-job", "")
		return len(all) == 1
	})
	all, err := s.Allocations(host, "", "secret-job", "")
	require.NoError(t, err)
	allocID := all[0].Id

	other := clientToken(t, s, mgmt, "other-ns", `namespace "other" { policy = "write" }`, 0)
	ctx := WithToken(host, other.SecretId)
	_, err = s.Allocation(ctx, allocID)
	require.ErrorIs(t, err, ErrPermissionDenied, "the allocation lives in default")
	_, err = s.Evaluation(ctx, resp.EvalId)
	require.ErrorIs(t, err, ErrPermissionDenied, "the evaluation lives in default")
	listed, err := s.Allocations(ctx, "", "", "")
	require.NoError(t, err)
	require.Empty(t, listed, "a list across namespaces shows only the token's")

	reader := clientToken(t, s, mgmt, "default-read", `namespace "default" { policy = "read" }`, 0)
	ctx = WithToken(host, reader.SecretId)
	a, err := s.Allocation(ctx, allocID)
	require.NoError(t, err)
	require.Equal(t, allocID, a.Id)
	_, err = s.Evaluation(ctx, resp.EvalId)
	require.NoError(t, err)
}

func TestACLTokenExpiresAndIsCollected(t *testing.T) {
	s, clock := aclServer(t, true)
	mgmt := bootstrap(t, s)
	tok := clientToken(t, s, mgmt, "reader", `namespace "default" { policy = "read" }`, 10*time.Minute)
	require.NotZero(t, tok.ExpirationTime)
	ctx := WithToken(context.Background(), tok.SecretId)
	_, err := s.Jobs(ctx, "default", "")
	require.NoError(t, err)

	clock.Advance(11 * time.Minute)
	_, err = s.Jobs(ctx, "default", "")
	require.ErrorIs(t, err, ErrTokenNotFound, "expired")
	self, err := s.ACLToken(WithToken(context.Background(), mgmt), tok.AccessorId)
	require.NoError(t, err, "kept until the GC threshold")
	require.Equal(t, tok.AccessorId, self.AccessorId)

	_, err = s.GarbageCollect(WithToken(context.Background(), mgmt))
	require.NoError(t, err)
	_, err = s.ACLToken(WithToken(context.Background(), mgmt), tok.AccessorId)
	require.ErrorIs(t, err, ErrNotFound, "a forced GC reaps expired tokens")
}

func TestACLTokenValidation(t *testing.T) {
	s, _ := aclServer(t, true)
	mgmt := bootstrap(t, s)
	ctx := WithToken(context.Background(), mgmt)
	before := s.StateIndex()
	for name, tok := range map[string]*structs.ACLToken{
		"client without policies":   {Type: structs.ACLTokenTypeClient},
		"management with policies":  {Type: structs.ACLTokenTypeManagement, Policies: []string{"p"}},
		"unknown type":              {Type: "root", Policies: []string{"p"}},
		"TTL below the minimum":     {Policies: []string{"p"}, ExpirationTtl: durationpb.New(time.Second)},
		"TTL above the maximum":     {Policies: []string{"p"}, ExpirationTtl: durationpb.New(48 * time.Hour)},
		"update of a missing token": {AccessorId: "00000000-0000-4000-8000-000000000000", Policies: []string{"p"}},
	} {
		_, err := s.UpsertACLTokens(ctx, []*structs.ACLToken{tok})
		require.ErrorIs(t, err, structs.ErrValidation, name)
	}
	_, err := s.UpsertACLPolicies(ctx, []*structs.ACLPolicy{{Name: "bad", Rules: `namespace "default" { policy = "root" }`}})
	require.ErrorIs(t, err, structs.ErrValidation)
	_, err = s.UpsertACLPolicies(ctx, []*structs.ACLPolicy{{Name: "../x", Rules: `node { policy = "read" }`}})
	require.ErrorIs(t, err, structs.ErrValidation)
	require.Equal(t, before, s.StateIndex(), "nothing was written")
}

// TestSecretsStayOnTheServers is a regression test of Nomad's
// CVE-2019-12741 in the server's reads: token secrets never appear in
// token lists, and node secrets in no node read or event.
func TestSecretsStayOnTheServers(t *testing.T) {
	s, _ := aclServer(t, true)
	mgmt := bootstrap(t, s)
	ctx := WithToken(context.Background(), mgmt)
	sub, err := s.Events(ctx, events.SubscribeRequest{Topics: map[events.Topic][]string{events.TopicNode: nil}})
	require.NoError(t, err)
	defer sub.Close()
	_, err = s.RegisterNode(context.Background(), mockNode("n1"))
	require.NoError(t, err)
	toks, err := s.ACLTokens(ctx, "", false)
	require.NoError(t, err)
	require.NotEmpty(t, toks)
	for _, tok := range toks {
		require.Empty(t, tok.SecretId, "token lists carry no secrets")
	}
	nodes, err := s.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	require.Empty(t, nodes[0].SecretId)
	n, err := s.Node(ctx, "n1")
	require.NoError(t, err)
	require.Empty(t, n.SecretId)
	b := nextBatch(t, sub)
	for _, e := range b.Events {
		require.Empty(t, e.Payload.(*structs.Node).SecretId, "node events carry no secret")
	}
}

// TestEventStreamEndsWithItsToken is the regression test of Nomad's
// CVE-2022-3867: a subscriber whose token expires, or is deleted, gets no
// further events.
func TestEventStreamEndsWithItsToken(t *testing.T) {
	s, clock := aclServer(t, true)
	mgmt := bootstrap(t, s)
	expiring := clientToken(t, s, mgmt, "reader", `namespace "default" { policy = "read" }`, 10*time.Minute)
	deleted := clientToken(t, s, mgmt, "reader2", `namespace "default" { policy = "read" }`, 0)
	ctx := context.Background()
	subExp, err := s.Events(WithToken(ctx, expiring.SecretId), events.SubscribeRequest{})
	require.NoError(t, err)
	defer subExp.Close()
	subDel, err := s.Events(WithToken(ctx, deleted.SecretId), events.SubscribeRequest{})
	require.NoError(t, err)
	defer subDel.Close()
	_, err = s.RegisterJob(ctx, mockJob("before", 0))
	require.NoError(t, err)
	for _, sub := range []*events.Subscription{subExp, subDel} {
		b := nextBatch(t, sub)
		require.Equal(t, "before", b.Events[0].Key, "both see events while their tokens live")
	}

	clock.Advance(11 * time.Minute)
	_, err = s.DeleteACLTokens(WithToken(ctx, mgmt), []string{deleted.AccessorId})
	require.NoError(t, err)
	_, err = s.RegisterJob(ctx, mockJob("after", 0))
	require.NoError(t, err)
	for name, sub := range map[string]*events.Subscription{"expired": subExp, "deleted": subDel} {
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		for {
			b, err := sub.Next(nctx)
			if err != nil {
				require.ErrorIs(t, err, ErrTokenNotFound, name)
				break
			}
			for _, e := range b.Events {
				require.NotEqual(t, "after", e.Key, "%s token: no event after it ended", name)
			}
		}
		cancel()
	}
}

// TestEventStreamShowsOnlyTheTokensNamespaces filters events by what the
// token may read.
func TestEventStreamShowsOnlyTheTokensNamespaces(t *testing.T) {
	s, _ := aclServer(t, true)
	mgmt := bootstrap(t, s)
	other := clientToken(t, s, mgmt, "other", `namespace "other" { policy = "read" }`, 0)
	ctx := context.Background()
	sub, err := s.Events(WithToken(ctx, other.SecretId), events.SubscribeRequest{})
	require.NoError(t, err)
	defer sub.Close()
	_, err = s.RegisterJob(ctx, mockJob("in-default", 0))
	require.NoError(t, err)
	j := mockJob("in-other", 0)
	j.Namespace = "other"
	_, err = s.RegisterJob(ctx, j)
	require.NoError(t, err)
	b := nextBatch(t, sub)
	for _, e := range b.Events {
		require.Equal(t, "other", e.Namespace)
	}
}

// TestACLOverRPC checks the token an RPC carries, and that only the
// region's own server secret gives a call the host's authority.
func TestACLOverRPC(t *testing.T) {
	s, _ := aclServer(t, true)
	mgmt := bootstrap(t, s)
	cc, err := grpc.NewClient("passthrough:///"+s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	rpc := structs.NewDroverClient(cc)
	req := &structs.JobRegisterRequest{Job: mockJob("rpc-job", 0)}
	ctx := context.Background()
	for name, md := range map[string][]string{
		"no token":          nil,
		"unknown token":     {tokenHeader, "nope"},
		"wrong secret":      {serverSecretHeader, "guess"},
		"secret as a token": {tokenHeader, s.state.Snapshot().ServerSecret()},
	} {
		_, err := rpc.RegisterJob(metadata.AppendToOutgoingContext(ctx, md...), req)
		require.ErrorIs(t, rpcerr.From(err), ErrPermissionDenied, name)
	}
	_, err = rpc.RegisterJob(metadata.AppendToOutgoingContext(ctx, tokenHeader, mgmt), req)
	require.NoError(t, err)
	_, err = rpc.RegisterJob(metadata.AppendToOutgoingContext(ctx, serverSecretHeader, s.state.Snapshot().ServerSecret()), req)
	require.NoError(t, err, "a server of the region forwarding its host's call")
}

// TestRPCHandlerPanicIsAnInternalError: a panic in a handler is answered
// as an internal error and the server keeps serving.
func TestRPCHandlerPanicIsAnInternalError(t *testing.T) {
	s, _ := aclServer(t, false)
	var err error
	func() {
		defer s.recoverRPC("/test/Panics", &err)
		panic("boom")
	}()
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "internal error"))
	_, err = s.Jobs(context.Background(), "", "")
	require.NoError(t, err)
}
