package server

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/hashicorp/serf/serf"
	"google.golang.org/grpc/metadata"

	"github.com/droverhq/drover/internal/rpcerr"
	"github.com/droverhq/drover/structs"
)

// Regions share nothing but the gossip pool: each has its own raft, state
// and clients. A call that names another region is forwarded to one of
// that region's servers, which serves it as its own.

type regionKey struct{}

// regionHeader carries the region a forwarded call is for.
const regionHeader = "x-drover-region"

// InRegion returns a context under which calls (job registration and
// deregistration, and the reads of jobs, allocations, nodes and
// evaluations) go to the servers of region instead of this server's own.
func InRegion(ctx context.Context, region string) context.Context {
	return context.WithValue(ctx, regionKey{}, region)
}

func regionOf(ctx context.Context) string {
	r, _ := ctx.Value(regionKey{}).(string)
	return r
}

// otherRegion returns the region a call must go to when it is not this
// server's: explicit (a job's region, a request's) or else the context's.
func (s *Server) otherRegion(ctx context.Context, explicit string) string {
	r := explicit
	if r == "" {
		r = regionOf(ctx)
	}
	if r == "" || r == s.cfg.Region {
		return ""
	}
	return r
}

// regionCall runs remote against a live server of region, trying another
// one when a server cannot be reached. A call already forwarded from
// another region is never forwarded again.
func (s *Server) regionCall(ctx context.Context, region string, remote func(context.Context, structs.DroverClient) error) error {
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(regionHeader)) > 0 {
		return fmt.Errorf("%w: %q (this server is in %q)", ErrUnknownRegion, region, s.cfg.Region)
	}
	var candidates []string
	if s.gossip != nil {
		for _, m := range s.gossip.servers(region) {
			if m.status == serf.StatusAlive {
				candidates = append(candidates, m.rpcAddr)
			}
		}
	}
	if len(candidates) == 0 {
		return fmt.Errorf("%w: no path to region %q", ErrUnknownRegion, region)
	}
	rand.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	var lastErr error
	for _, addr := range candidates[:min(len(candidates), 3)] {
		c, err := s.pool.readyIn(ctx, addr, region)
		if err != nil {
			lastErr = err
			continue
		}
		err = remote(metadata.AppendToOutgoingContext(s.outgoingAuth(ctx, region), regionHeader, region), c)
		if err != nil && rpcerr.IsTransport(err) {
			return fmt.Errorf("%w: region %q server %s: %v", ErrLeadershipLost, region, addr, err)
		}
		return rpcerr.From(err)
	}
	return fmt.Errorf("%w: no server of region %q answered: %w", ErrNoLeader, region, lastErr)
}

// toRegion is regionCall for a call that returns a response.
func toRegion[T any](s *Server, ctx context.Context, region string, call func(context.Context, structs.DroverClient) (T, error)) (T, error) {
	var resp T
	err := s.regionCall(ctx, region, func(ctx context.Context, c structs.DroverClient) (err error) {
		resp, err = call(ctx, c)
		return err
	})
	return resp, err
}

// incomingRegion carries a forwarded call's region into its context.
func incomingRegion(ctx context.Context) context.Context {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if r := md.Get(regionHeader); len(r) > 0 {
			return InRegion(ctx, r[0])
		}
	}
	return ctx
}

// remoteQuery is the query options of a read forwarded to region.
func remoteQuery(ctx context.Context, region, namespace string) *structs.QueryOptions {
	return &structs.QueryOptions{Region: region, Namespace: namespace, AllowStale: isStale(ctx)}
}
