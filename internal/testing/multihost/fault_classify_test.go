package multihost

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"
)

// TestClassify checks how the load generator reads the errors Nomad's
// client returns: only what certainly had no effect is failed, only a
// success or a definite "no such job" is ok, everything else unknown. It
// needs no Docker: the answers come from a stub server.
func TestClassify(t *testing.T) {
	answers := map[string]struct {
		code int
		body string
	}{
		"/v1/job/ok":       {200, `{"ID":"ok"}`},
		"/v1/job/missing":  {404, `job not found`},
		"/v1/job/bad":      {400, `{"Error":"invalid job"}`},
		"/v1/job/noleader": {503, `{"Error":"no cluster leader: none within 5s"}`},
		"/v1/job/notjoined": {503,
			`{"Error":"no cluster leader: the server has not joined a cluster yet"}`},
		"/v1/job/lost": {503, `{"Error":"no cluster leader: leadership was lost while the write was in flight"}`},
		"/v1/job/500":  {500, `{"Error":"grpc: the client connection is closing"}`},
		"/v1/job/slow": {200, `{}`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/v1/job/slow" {
			time.Sleep(300 * time.Millisecond) // longer than the client's timeout
		}
		w.WriteHeader(a.code)
		_, _ = w.Write([]byte(a.body))
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	api, err := nomad.NewClient(&nomad.Config{Address: srv.URL, HttpClient: &http.Client{Transport: tr, Timeout: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on: the connection is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	refused, err := nomad.NewClient(&nomad.Config{Address: "http://" + closed, HttpClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		api  *nomad.Client
		job  string
		want outcome
	}{
		{api, "ok", ok},
		{api, "missing", ok},
		{api, "bad", failed},
		{api, "noleader", failed},
		{api, "notjoined", failed},
		{api, "lost", unknown},
		{api, "500", unknown},
		{api, "slow", unknown},
		{refused, "ok", failed},
	} {
		_, _, err := c.api.Jobs().Info(c.job, nil)
		if got := classify(err); got != c.want {
			t.Errorf("%s: %v classified %s, want %s", c.job, err, got, c.want)
		}
	}
}
