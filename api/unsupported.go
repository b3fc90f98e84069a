package api

import (
	"fmt"
	"net/http"
	"strings"
)

// Nomad endpoints drover deliberately does not serve answer 501 with the
// feature's name, never a bare 404, so that the nomad CLI says what is
// missing. Deployments and the client endpoints (/v1/client/...) are not
// listed here.

// unsupportedPrefixes maps a path prefix to the feature it belongs to.
var unsupportedPrefixes = []struct{ prefix, feature string }{
	{"/v1/acl/role", "ACL roles"},
	{"/v1/acl/auth-method", "ACL auth methods"},
	{"/v1/acl/binding-rule", "ACL binding rules"},
	{"/v1/acl/login", "ACL login with auth methods"},
	{"/v1/acl/oidc/", "OIDC login"},
	{"/v1/acl/token/onetime", "one-time ACL tokens"},
	{"/v1/acl/identity/", "client introduction tokens"},
	{"/v1/agent/host", "agent host data"},
	{"/v1/agent/pprof/", "agent profiling (pprof)"},
	{"/v1/agent/reload", "configuration reload over HTTP (send the agent SIGHUP)"},
	{"/v1/agent/schedulers", "scheduler worker configuration"},
	{"/v1/agent/monitor/export", "log export"},
	{"/v1/evaluations/count", "evaluation counts"},
	{"/v1/jobs/parse", "HCL parsing on the server (the nomad CLI parses job files itself)"},
	{"/v1/jobs/statuses", "job statuses"},
	{"/v1/namespace", "namespaces (drover serves the default namespace only)"},
	{"/v1/operator/keyring/key/", "deleting root keys by hand (the leader collects unused ones)"},
	{"/v1/operator/license", "licensing (Nomad Enterprise)"},
	{"/v1/operator/upgrade-check", "upgrade checks"},
	{"/v1/operator/utilization", "utilization reporting"},
	{"/v1/plugin", "CSI plugins"},
	{"/v1/volume", "CSI and host volumes"},
	{"/v1/scaling/", "scaling policies"},
	{"/v1/quota", "resource quotas (Nomad Enterprise)"},
	{"/v1/recommendation", "recommendations (Nomad Enterprise)"},
	{"/v1/sentinel/", "Sentinel policies (Nomad Enterprise)"},
}

// unsupportedJobRoutes are the per-job endpoints drover does not serve.
var unsupportedJobRoutes = []struct{ suffix, feature string }{
	{"dispatch/payload", "parameterized job payloads"},
	{"submission", "job submissions (the original job file)"},
	{"tag", "job version tags"},
	{"action", "job actions"},
	{"actions", "job actions"},
}

// registerUnsupported adds the per-job 501 routes.
func (h *Handler) registerUnsupported() {
	for _, u := range unsupportedJobRoutes {
		f := notServed(u.feature)
		h.handle("/v1/job/:/"+u.suffix, map[string]handlerFunc{
			http.MethodGet: f, http.MethodPut: f, http.MethodPost: f, http.MethodDelete: f,
		})
	}
}

func notServed(feature string) handlerFunc {
	return func(http.ResponseWriter, *http.Request, []string) error {
		return fmt.Errorf("%w: %s", ErrNotImplemented, notServedMessage(feature))
	}
}

func notServedMessage(feature string) string {
	return "drover does not serve " + feature
}

// noRoute answers a path no route serves: 501 for a feature drover does
// not serve, 404 otherwise.
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request) {
	for _, u := range unsupportedPrefixes {
		if strings.HasPrefix(r.URL.Path, u.prefix) {
			writeError(w, http.StatusNotImplemented, notServedMessage(u.feature)+": "+r.URL.Path, nil)
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s", r.URL.Path), nil)
}

// errNotServedf is the 501 of a feature this server cannot serve.
func errNotServedf(feature string) error {
	return fmt.Errorf("%w: %s", ErrNotImplemented, notServedMessage(feature))
}
