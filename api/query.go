package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-bexpr"

	"github.com/droverhq/drover/structs"
)

// queryOptions are the common parameters of a read.
type queryOptions struct {
	namespace string
	// allNamespaces is set by namespace=*.
	allNamespaces bool
	// namespaceSet is set when the request named a namespace.
	namespaceSet bool
	prefix       string
	stale        bool
	index        uint64
	wait         time.Duration
	perPage      int
	nextToken    string
	// region is set when the request names another region of the
	// federation; the call is then forwarded there.
	region string
	// filter is the request's filter= expression, nil when none.
	filter *bexpr.Evaluator
	// ctx is the request's context once the read is prepared: the
	// backend's reads under it need no further consistency wait.
	ctx context.Context
}

// parseQuery reads region, namespace, prefix, stale, index, wait, per_page
// and next_token. A region other than the server's is refused: only the
// endpoints that forward calls between regions accept one (forwardable).
func (h *Handler) parseQuery(r *http.Request) (queryOptions, error) {
	return h.parseQueryIn(r, false)
}

// parseQueryIn is parseQuery; with forwardable, a request may name another
// region of the federation.
func (h *Handler) parseQueryIn(r *http.Request, forwardable bool) (queryOptions, error) {
	v := r.URL.Query()
	q := queryOptions{namespace: structs.DefaultNamespace, prefix: v.Get("prefix"), nextToken: v.Get("next_token")}
	if region := v.Get("region"); region != "" {
		if own := h.self().Region; region != own {
			if !forwardable {
				return q, badRequest("no path to region %q: this endpoint serves region %q only", region, own)
			}
			q.region = region
		}
	}
	if ns := v.Get("namespace"); ns != "" {
		q.namespaceSet = true
		if ns == "*" {
			q.allNamespaces = true
			q.namespace = ""
		} else {
			q.namespace = ns
		}
	}
	_, q.stale = v["stale"]
	if s := v.Get("index"); s != "" {
		idx, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, badRequest("invalid index %q: want a non-negative integer", s)
		}
		q.index = idx
	}
	if s := v.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return q, badRequest("invalid wait %q: want a duration such as 30s or 5000ms", s)
		}
		q.wait = d
	}
	f, err := compileFilter(v.Get("filter"))
	if err != nil {
		return q, err
	}
	q.filter = f
	if s := v.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, badRequest("invalid per_page %q: want a non-negative integer", s)
		}
		q.perPage = n
	}
	return q, nil
}

// block waits, for a blocking query, until the state index passes
// q.index or the wait (capped, with a little jitter as Nomad adds) ends.
// A read that is not stale needs a known leader.
func (h *Handler) block(ctx context.Context, q queryOptions) error {
	if !q.stale && !h.b.KnownLeader() {
		return structs.ErrNoLeader
	}
	if q.index == 0 {
		return nil
	}
	wait := q.wait
	if wait <= 0 || wait > h.opts.MaxBlockingWait {
		wait = h.opts.MaxBlockingWait
	}
	wait += rand.N(wait/16 + 1)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	h.b.WaitForIndex(ctx, q.index)
	return nil
}

// setMeta writes the headers every read carries. The Go client reads a
// missing index as 0, which would spin blocking loops, so it is never 0.
func (h *Handler) setMeta(w http.ResponseWriter, index uint64) {
	hd := w.Header()
	hd.Set("X-Nomad-Index", strconv.FormatUint(max(index, 1), 10))
	hd.Set("X-Nomad-KnownLeader", strconv.FormatBool(h.b.KnownLeader()))
	hd.Set("X-Nomad-LastContact", strconv.FormatInt(h.b.LastContact().Milliseconds(), 10))
}

// read runs a (possibly blocking) read and sends what it returns. The index
// is taken before reading, so a client never skips a change.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, fetch func(q queryOptions) (any, error)) error {
	q, err := h.parseQueryIn(r, true)
	if err != nil {
		return err
	}
	if q.region != "" {
		// Another region's servers answer, with their own consistency; a
		// blocking query does not block across regions.
		ctx := h.b.InRegion(r.Context(), q.region)
		if q.stale {
			if ctx, err = h.b.PrepareRead(ctx, true); err != nil {
				return err
			}
		}
		q.ctx = ctx
		out, err := fetch(q)
		if err != nil {
			return err
		}
		h.setMeta(w, h.b.StateIndex())
		return writeJSON(w, out)
	}
	ctx, err := h.b.PrepareRead(r.Context(), q.stale)
	if err != nil {
		return err
	}
	q.ctx = ctx
	if q.index > 0 {
		// A caller whose token is unknown or expired does not get to
		// hold a blocking query open; fetch checks its rights after the
		// wait, so a token deleted meanwhile gets nothing either.
		if _, err := h.b.CallerACL(ctx); err != nil {
			return err
		}
	}
	if err := h.block(ctx, q); err != nil {
		return err
	}
	index := h.b.StateIndex()
	out, err := fetch(q)
	if err != nil {
		return err
	}
	h.setMeta(w, index)
	return writeJSON(w, out)
}

// paginate applies next_token and per_page to items sorted by key, and
// sets X-Nomad-NextToken when more remain.
func paginate[T any](w http.ResponseWriter, q queryOptions, items []T, key func(T) string) []T {
	if q.nextToken != "" {
		i := 0
		for i < len(items) && key(items[i]) < q.nextToken {
			i++
		}
		items = items[i:]
	}
	if q.perPage > 0 && len(items) > q.perPage {
		w.Header().Set("X-Nomad-NextToken", key(items[q.perPage]))
		items = items[:q.perPage]
	}
	return items
}

// decodeBody reads a JSON request body into v. An empty body is refused.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil {
		return badRequest("request body is missing")
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return err
		case errors.Is(err, io.EOF):
			return badRequest("request body is missing")
		}
		return badRequest("invalid JSON body: %v", err)
	}
	return nil
}

// writeResult sends the result of a write with its index.
func (h *Handler) writeResult(w http.ResponseWriter, index uint64, v any) error {
	w.Header().Set("X-Nomad-Index", strconv.FormatUint(max(index, 1), 10))
	return writeJSON(w, v)
}

// boolParam reads a boolean query parameter ("true", "1", or present empty).
func boolParam(r *http.Request, name string) (bool, error) {
	v, ok := r.URL.Query()[name]
	if !ok {
		return false, nil
	}
	s := strings.TrimSpace(v[0])
	if s == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest("invalid %s %q: want true or false", name, s)
	}
	return b, nil
}
