package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/store/inmem"
)

// panicSpotter is a slog handler that remembers whether the HTTP handler
// reported a recovered panic.
type panicSpotter struct{ seen *atomic.Bool }

func (p panicSpotter) Enabled(context.Context, slog.Level) bool { return true }
func (p panicSpotter) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panicked") {
		p.seen.Store(true)
	}
	return nil
}
func (p panicSpotter) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p panicSpotter) WithGroup(string) slog.Handler      { return p }

// FuzzHandlers sends arbitrary methods, paths, queries and bodies to the
// handler of a live server: every request gets a JSON answer with a
// status code, none panics, and the server keeps serving.
func FuzzHandlers(f *testing.F) {
	seeds := []struct {
		method      uint8
		path, query string
		body        string
	}{
		{1, "/v1/jobs", "", `{"Job":{"ID":"web","TaskGroups":[{"Name":"g","Count":1,"Tasks":[{"Name":"t","Driver":"mock","Config":{"run_for":"1s"}}]}]}}`},
		{1, "/v1/job/web", "namespace=default", `{"Job":{"ID":"web","Periodic":{"Spec":"x"},"TaskGroups":[null]}}`},
		{2, "/v1/jobs", "", `{"Job":{"ID":"x","TaskGroups":[{"Tasks":[{"Config":{"a":[1,{"b":null}]},"Resources":{"CPU":-5}}]}]}}`},
		{1, "/v1/jobs", "", `{"Job":{"ID":"ports","Affinities":[{"LTarget":"${node.datacenter}","RTarget":"dc1","Operand":"=","Weight":40}],` +
			`"TaskGroups":[{"Name":"g","Spreads":[{"Attribute":"${node.datacenter}","Weight":null,"SpreadTarget":[{"Value":"dc1","Percent":100},null]}],` +
			`"Networks":[{"Mode":"host","ReservedPorts":[{"Label":"a","Value":8080}],"DynamicPorts":[{"Label":"b","To":-1}]}],` +
			`"ReschedulePolicy":{"Attempts":2,"Interval":-1},"Disconnect":{"LostAfter":5},` +
			`"Tasks":[{"Name":"t","Driver":"mock","Affinities":[null],"Resources":{"MemoryMB":32,"MemoryMaxMB":16},` +
			`"LogConfig":{"MaxFiles":-3},"Artifacts":[{"GetterSource":"ftp://x","RelativeDest":"../../etc","GetterOptions":{"checksum":"md5:00"}},null]}]}]}}`},
		{1, "/v1/jobs", "", `{"Job":{"ID":"spec","TaskGroups":[{"Name":"g","ShutdownDelay":-1,"EphemeralDisk":{"Sticky":true,"SizeMB":-1},` +
			`"Volumes":{"v":{"Type":"host","Source":"s"},"n":null,"c":{"Type":"csi"}},"Tasks":[{"Name":"t","Driver":"mock","Leader":true,` +
			`"Lifecycle":{"Hook":"prestart","Sidecar":true},"VolumeMounts":[{"Volume":"v","Destination":"${NOMAD_TASK_DIR}/../.."},null],` +
			`"Templates":[{"EmbeddedTmpl":"{{ env \"A\" }}","DestPath":"../x","ChangeMode":"script","ChangeScript":null,"Perms":"9"},null]}]}]}}`},
		{0, "/v1/jobs", "prefix=w&per_page=1&next_token=z", ""},
		{0, "/v1/job/web/summary", "namespace=*", ""},
		{0, "/v1/allocations", "resources=true&prefix=0", ""},
		{0, "/v1/job/web/allocations", "index=3&wait=1ms", ""},
		{3, "/v1/job/web", "purge=true", ""},
		{0, "/v1/event/stream", "topic=Job:web&topic=Node&index=0", ""},
		{1, "/v1/node/abc/eligibility", "", `{"NodeID":"abc","Eligibility":"ineligible"}`},
		{1, "/v1/node/abc/drain", "", `{"DrainSpec":{"Deadline":1}}`},
		{1, "/v1/operator/scheduler/configuration", "cas=1", `{"SchedulerAlgorithm":"spread"}`},
		{0, "/v1/metrics", "format=prometheus", ""},
		{0, "/v1/agent/self", "region=global", ""},
		{4, "/v1/%2e%2e/%zz", "index=%", "\x00\xff"},
		{1, "/v1/var/app/db", "cas=0", `{"Path":"app/db","Items":{"user":"u","pass":"p"}}`},
		{1, "/v1/var/nomad/x", "", `{"Items":{"a":"b"},"Lock":{"TTL":"1s"}}`},
		{3, "/v1/var/app/db", "cas=x", ""},
		{0, "/v1/vars", "prefix=app&namespace=*&filter=Path%20matches%20%22a%22", ""},
		{0, "/v1/services", "namespace=*", ""},
		{0, "/v1/service/web", "tag=v1&filter=Port%20%3E%200", ""},
		{3, "/v1/service/web/_nomad-task-x", "", ""},
		{1, "/v1/operator/keyring/rotate", "full", ""},
		{0, "/.well-known/jwks.json", "", ""},
		{1, "/v1/jobs", "", `{"Job":{"ID":"p","Type":"batch","ParameterizedJob":{"Payload":"required","MetaRequired":["a"]},` +
			`"TaskGroups":[{"Name":"g","Scaling":{"Min":1,"Max":2,"Policy":{"x":[1]}},"Tasks":[{"Name":"t","Driver":"mock","DispatchPayload":{"File":"../x"}}]}]}}`},
		{1, "/v1/job/p/dispatch", "idempotency_token=t", `{"JobID":"p","Payload":"aGk=","Meta":{"a":"1","b":"2"},"IdPrefixTemplate":"../x","Priority":-1}`},
		{1, "/v1/jobs", "", `{"Job":{"ID":"c","Type":"batch","Periodic":{"Specs":["* * * * * * *"],"TimeZone":"Nowhere/X","SpecType":"cron"},"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"mock"}]}]}}`},
		{2, "/v1/job/c/periodic/force", "", ""},
		{1, "/v1/job/p/scale", "", `{"Count":-3,"Target":{"Group":"g"},"Meta":{"k":{"n":1}},"Error":true}`},
		{0, "/v1/job/p%2Fdispatch-1-abc/scale", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, []byte(s.body))
	}
	var sawPanic atomic.Bool
	srv, err := drover.NewServer(drover.ServerOptions{
		DataDir: f.TempDir(), Store: inmem.New(), BindAddr: "127.0.0.1:0", NumSchedulers: 1,
		Logger: slog.New(panicSpotter{&sawPanic}),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.WaitForLeader(ctx); err != nil {
		f.Fatal(err)
	}
	h := srv.NewHTTPHandler(api.Options{
		MaxRequestBytes: 1 << 16, MaxBlockingWait: 5 * time.Millisecond, EventHeartbeat: 5 * time.Millisecond,
		Logger: slog.New(panicSpotter{&sawPanic}),
	})
	methods := []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, "PATCH", http.MethodHead}

	f.Fuzz(func(t *testing.T, method uint8, path, query string, body []byte) {
		target := "/" + strings.TrimLeft(path, "/")
		if query != "" {
			target += "?" + query
		}
		req := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
		// Build the URL by hand: NewRequest panics on what a real client could still send.
		if u, err := req.URL.Parse(target); err == nil {
			req.URL = u
		}
		req.Method = methods[int(method)%len(methods)]
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		req = req.WithContext(rctx)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if sawPanic.Load() {
			t.Fatalf("%s %s panicked", req.Method, target)
		}
		if rec.Code == 0 || rec.Code >= 600 {
			t.Fatalf("%s %s: status %d", req.Method, target, rec.Code)
		}
		if rec.Code != http.StatusOK && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s: error %d without a JSON body: %q", req.Method, target, rec.Code, rec.Body.String())
		}
		if rec.Code == http.StatusOK && rec.Body.Len() == 0 && req.URL.Path != "/v1/event/stream" {
			t.Fatalf("%s %s: 200 with an empty body", req.Method, target)
		}
	})
}

// FuzzVariableBody puts arbitrary bodies and paths to /v1/var/: a write is
// either refused with 4xx, changing nothing, or stored and read back as
// sent.
func FuzzVariableBody(f *testing.F) {
	f.Add("app/db", []byte(`{"Items":{"user":"u","pass":"p"}}`))
	f.Add("a//b", []byte(`{"Items":{"a":"b"}}`))
	f.Add("nomad", []byte(`{"Items":{"a":"b"}}`))
	f.Add("x", []byte(`{"Path":"y","Items":{"a":"b"}}`))
	f.Add("x", []byte(`{"Items":{"":"b"}}`))
	f.Add("x", []byte(`{"Items":null}`))
	f.Add("%2e%2e/x", []byte(`{"Items":{"a":"\u0000"}}`))
	srv, err := drover.NewServer(drover.ServerOptions{DataDir: f.TempDir(), Store: inmem.New(), BindAddr: "127.0.0.1:0", NumSchedulers: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.WaitForLeader(ctx); err != nil {
		f.Fatal(err)
	}
	h := srv.NewHTTPHandler(api.Options{MaxRequestBytes: 1 << 17})
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		req := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
		u, err := req.URL.Parse("/v1/var/" + path)
		if err != nil {
			return
		}
		req.URL, req.Method = u, http.MethodPut
		rec := httptest.NewRecorder()
		before := srv.StateIndex()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusOK:
			var put struct {
				Path  string
				Items map[string]string
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &put); err != nil {
				t.Fatalf("200 without a variable: %q", rec.Body.String())
			}
			v, err := srv.Variable(context.Background(), "", put.Path)
			if err != nil {
				t.Fatalf("stored %q but cannot read it: %v", put.Path, err)
			}
			if !maps.Equal(v.Items, put.Items) {
				t.Fatalf("%q: read %v, stored %v", put.Path, v.Items, put.Items)
			}
			if strings.Contains(put.Path, "..") || strings.Contains(put.Path, "//") || strings.HasPrefix(put.Path, "/") {
				t.Fatalf("accepted path %q", put.Path)
			}
		case rec.Code >= 400 && rec.Code < 500 || rec.Code == http.StatusNotImplemented:
			if srv.StateIndex() != before {
				t.Fatalf("a refused write (%d) changed the state", rec.Code)
			}
		default:
			t.Fatalf("PUT /v1/var/%s: status %d: %s", path, rec.Code, rec.Body.String())
		}
	})
}
