package api

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/go-bexpr"
)

// Lists take Nomad's filter= expressions (go-bexpr syntax, as in
// `Status == "running" and Name matches "^web"`), evaluated on each
// object as the list shows it, with Nomad's field names, before
// pagination.

// compileFilter compiles a filter expression; "" is no filter.
func compileFilter(expr string) (*bexpr.Evaluator, error) {
	if expr == "" {
		return nil, nil
	}
	ev, err := bexpr.CreateEvaluator(expr)
	if err != nil {
		return nil, badRequest("failed to read filter expression: %v", err)
	}
	return ev, nil
}

// filterBy keeps the items whose shown form (stub) matches the request's
// filter; without one, it returns items as they are. Lists of other
// objects (deployments) use it the same way.
func filterBy[T, S any](q queryOptions, items []T, stub func(T) S) ([]T, error) {
	if q.filter == nil {
		return items, nil
	}
	out := items[:0:0]
	for _, it := range items {
		ok, err := matchFilter(q.filter, stub(it))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// matchFilter evaluates the filter on v's JSON form, so that selectors
// name fields as the API shows them.
func matchFilter(ev *bexpr.Evaluator, v any) (bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("filter: %w", err)
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		return false, fmt.Errorf("filter: %w", err)
	}
	ok, err := ev.Evaluate(m)
	if err != nil {
		// A selector that names no field of this object does not match,
		// as in Nomad.
		return false, nil
	}
	return ok, nil
}
