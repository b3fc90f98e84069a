package drover

import (
	"context"
	"fmt"
	"iter"
)

// WatchAllocations yields the allocations of a job (namespace "" is the
// default namespace) at once, and again each time any of them changes:
// placed, started, finished, stopped, replaced or collected. Between
// changes it blocks on this server's state index, so a watch costs nothing
// while nothing happens:
//
//	for allocs, err := range srv.WatchAllocations(ctx, "", "web") {
//		if err != nil {
//			return err
//		}
//		// ... every allocation of "web", as of one state index
//	}
//
// The first read sees every write acknowledged before the call, as
// Allocations does; later ones read this server's own state as soon as it
// has applied a change. The sequence ends when the loop breaks, when ctx
// is done (without an error), or after yielding a failed read's error,
// such as ErrShutdown once the server stops. It follows the job in this
// server's region: for another region, loop over Allocations under
// InRegion.
func (s *Server) WatchAllocations(ctx context.Context, namespace, jobID string) iter.Seq2[[]*Allocation, error] {
	return watch(ctx, s, func(ctx context.Context) ([]*Allocation, error) {
		return s.Allocations(ctx, namespace, jobID, "")
	}, sameAllocations)
}

// WatchJob yields a job at once, and again each time it changes: a new
// version, a change of its Status (pending, running, dead) or Stop. It
// blocks between changes as WatchAllocations does, and ends the same way;
// once the job is purged (or if it never existed) it yields an error
// matching ErrNotFound and ends.
func (s *Server) WatchJob(ctx context.Context, namespace, jobID string) iter.Seq2[*Job, error] {
	return watch(ctx, s, func(ctx context.Context) (*Job, error) {
		return s.Job(ctx, namespace, jobID)
	}, func(a, b *Job) bool { return a.GetModifyIndex() == b.GetModifyIndex() })
}

// watch yields what read returns at once, then after every change of this
// server's state for which same says the result changed.
func watch[T any](ctx context.Context, s *Server, read func(context.Context) (T, error), same func(a, b T) bool) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var (
			last  T
			first = true
			rctx  = ctx
		)
		for {
			// The index is taken before the read: a change applied while
			// it runs wakes the wait below instead of being missed.
			index := s.StateIndex()
			v, err := read(rctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			if first || !same(last, v) {
				if !yield(v, nil) {
					return
				}
				first, last = false, v
			}
			rctx = AllowStale(ctx)
			s.WaitForIndex(ctx, index)
			select {
			case <-ctx.Done():
				return
			case <-s.Done():
				var zero T
				yield(zero, fmt.Errorf("watch: %w", ErrShutdown))
				return
			default:
			}
		}
	}
}

// sameAllocations reports whether two reads of a job's allocations hold
// the same allocations at the same versions.
func sameAllocations(a, b []*Allocation) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]uint64, len(a))
	for _, x := range a {
		seen[x.Id] = x.ModifyIndex
	}
	for _, y := range b {
		if idx, ok := seen[y.Id]; !ok || idx != y.ModifyIndex {
			return false
		}
	}
	return true
}
