package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/droverhq/drover"
	"github.com/droverhq/drover/api"
	"github.com/droverhq/drover/driver/docker"
	execdriver "github.com/droverhq/drover/driver/exec"
	"github.com/droverhq/drover/driver/rawexec"
	"github.com/droverhq/drover/examples/agent/internal/config"
)

// Bounds of the HTTP API's connections: a request (headers and body) must
// be read within httpReadTimeout, and an idle keep-alive connection is
// closed after httpIdleTimeout.
const (
	httpReadTimeout = time.Minute
	httpIdleTimeout = 2 * time.Minute
)

// agent is one running agent: its server, client and HTTP listener.
type agent struct {
	flags    *config.Flags
	cfg      *config.Agent
	level    *slog.LevelVar
	logger   *slog.Logger
	registry *prometheus.Registry
	srv      *drover.Server
	cli      *drover.Client
	// client is the client as the HTTP API sees it, once it runs.
	client   clientAgent
	logs     *drover.LogBroadcaster
	docker   *docker.Driver
	http     *http.Server
	httpAddr string
	httpErr  chan error
	stdout   io.Writer
	stderr   io.Writer
}

// run starts the agent and serves until a stop signal; it returns the
// process exit code.
func run(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	flags, err := config.ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "==> Error:", err)
		return 1
	}
	cleanup, err := devDataDir(flags)
	if err != nil {
		fmt.Fprintln(stderr, "==> Error:", err)
		return 1
	}
	defer cleanup()
	a := &agent{flags: flags, level: new(slog.LevelVar), stdout: stdout, stderr: stderr, httpErr: make(chan error, 1)}
	if err := a.start(); err != nil {
		fmt.Fprintln(stderr, "==> Error starting agent:", err)
		a.stop(context.Background(), nil)
		return 1
	}
	return a.serve(signals)
}

// devDataDir gives -dev a temporary data dir unless one was set.
func devDataDir(f *config.Flags) (func(), error) {
	if !f.Dev || f.Overlay.DataDir != nil {
		return func() {}, nil
	}
	for _, p := range f.Configs {
		if c, err := config.Load([]string{p}); err == nil && c.DataDir != nil {
			return func() {}, nil
		}
	}
	dir, err := os.MkdirTemp("", "drover-dev-")
	if err != nil {
		return nil, err
	}
	f.Overlay.DataDir = &dir
	return func() { _ = os.RemoveAll(dir) }, nil
}

func (a *agent) load() (*config.Agent, error) {
	c, err := config.Resolve(a.flags)
	if err != nil {
		return nil, err
	}
	return config.Build(c)
}

func (a *agent) start() error {
	cfg, err := a.load()
	if err != nil {
		return err
	}
	a.cfg = cfg
	a.level.Set(cfg.LogLevel)
	// nomad monitor streams the log through the broadcaster.
	a.logs = drover.NewLogBroadcaster(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: a.level}))
	a.logger = slog.New(a.logs)
	for _, w := range cfg.Warnings {
		a.logger.Warn(w)
	}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	servers := cfg.Client.Servers
	if cfg.ServerEnabled {
		so := cfg.Server
		so.Logger, so.Registerer = a.logger, a.registry
		so.DataDir = serverDataDir(a.logger, so.DataDir, cfg.EarlierServerDataDir)
		if a.srv, err = drover.NewServer(so); err != nil {
			return err
		}
		if len(servers) == 0 {
			servers = []string{a.srv.Addr()}
		}
		// The listener bounds connections per client address, and is
		// HTTPS with tls.http.
		ln, err := a.srv.ListenHTTP(cfg.HTTPAddr)
		if err != nil {
			return err
		}
		a.httpAddr = ln.Addr().String()
		opts := api.Options{Logger: a.logger, Client: cfg.ClientEnabled, Logs: a.logs}
		if cfg.ClientEnabled {
			opts.ClientAgent = &a.client
		}
		handler := a.srv.NewHTTPHandler(opts)
		a.http = &http.Server{
			Handler: a.telemetryGate(handler),
			// The TLS handshake and the request headers must arrive within
			// limits.https_handshake_timeout, the body within
			// httpReadTimeout; blocking queries and event streams, whose
			// responses take long, are not bounded.
			ReadHeaderTimeout: cfg.Server.WithDefaults().Limits.HTTPSHandshakeTimeout,
			ReadTimeout:       httpReadTimeout,
			IdleTimeout:       httpIdleTimeout,
			ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
		}
		go func() { a.httpErr <- a.http.Serve(ln) }()
	}
	if cfg.ClientEnabled {
		co := cfg.Client
		co.Servers, co.Logger, co.Registerer = servers, a.logger, a.registry
		if cfg.ExecEnabled {
			co.Drivers = append(co.Drivers, execdriver.NewWithOptions(execdriver.Options{Logger: a.logger, ChrootEnv: cfg.ChrootEnv}))
		}
		if cfg.DockerEnabled {
			dc := cfg.Docker
			dc.Logger = a.logger
			a.docker = docker.New(dc)
			co.Drivers = append(co.Drivers, a.docker)
		}
		if cfg.RawExec {
			co.Drivers = append(co.Drivers, rawexec.New(a.logger))
		}
		if a.cli, err = drover.NewClient(co); err != nil {
			return err
		}
		a.client.c.Store(a.cli)
		if !cfg.ServerEnabled {
			// A client alone serves its own allocations' endpoints
			// (/v1/client/*) and /v1/agent/self, for an operator on
			// this host.
			ln, err := a.cli.ListenHTTP(cfg.HTTPAddr)
			if err != nil {
				return err
			}
			a.httpAddr = ln.Addr().String()
			a.http = &http.Server{
				Handler:           a.cli.NewHTTPHandler(api.Options{Logger: a.logger, Client: true}),
				ReadHeaderTimeout: 5 * time.Second, ReadTimeout: httpReadTimeout, IdleTimeout: httpIdleTimeout,
				ErrorLog: slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
			}
			go func() { a.httpErr <- a.http.Serve(ln) }()
		}
	}
	a.printSummary()
	return nil
}

// telemetryGate refuses Prometheus-format metrics when telemetry turned
// them off, as Nomad does.
func (a *agent) telemetryGate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/metrics" && r.URL.Query().Get("format") == "prometheus" && !a.cfg.PrometheusMetrics {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnsupportedMediaType)
			fmt.Fprintln(w, `{"Error":"Prometheus metrics are disabled: set telemetry { prometheus_metrics = true }"}`)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *agent) printSummary() {
	c := a.cfg
	region, dc := c.Client.Region, c.Client.Datacenter
	if c.ServerEnabled {
		region, dc = c.Server.Region, c.Server.Datacenter
	}
	// The summary is written in one piece so that a reader of the output
	// never sees part of it.
	out := new(bytes.Buffer)
	defer func() { _, _ = a.stdout.Write(out.Bytes()) }()
	fmt.Fprintln(out, "==> Starting drover agent...")
	fmt.Fprintln(out, "==> drover agent configuration:")
	fmt.Fprintln(out)
	row := func(k, v string) { fmt.Fprintf(out, "%20s: %s\n", k, v) }
	if a.srv != nil {
		row("ACL", enabled(c.Server.ACL.Enabled))
		row("Advertise Addrs", fmt.Sprintf("HTTP: %s; RPC: %s", advertised(c.AdvertiseHTTP, a.httpAddr), a.srv.AdvertiseAddr()))
		row("Bind Addrs", fmt.Sprintf("HTTP: %s; RPC: %s", a.httpAddr, a.srv.Addr()))
	} else if a.http != nil {
		row("Bind Addrs", "HTTP: "+a.httpAddr)
	}
	row("Client", fmt.Sprint(c.ClientEnabled))
	row("Log Level", c.LogLevelName)
	row("Region", fmt.Sprintf("%s (DC: %s)", region, dc))
	row("Server", fmt.Sprint(c.ServerEnabled))
	row("TLS", tlsSummary(c))
	row("Version", drover.Version)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "==> drover agent started! Log data will stream in below:")
	fmt.Fprintln(out)
}

func enabled(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

// tlsSummary says where TLS is on, as "RPC, HTTP", "RPC", "HTTP" or
// "disabled".
func tlsSummary(c *config.Agent) string {
	t := c.Server.TLS
	if !c.ServerEnabled {
		t = c.Client.TLS
	}
	var on []string
	if t != nil && t.RPC {
		on = append(on, "RPC")
	}
	if t != nil && t.HTTP && c.ServerEnabled {
		on = append(on, "HTTP")
	}
	if len(on) == 0 {
		return "disabled"
	}
	return strings.Join(on, ", ")
}

// advertised is the configured address, or the bound one when the
// configured port was 0 (pick a free one).
func advertised(configured, bound string) string {
	if strings.HasSuffix(configured, ":0") {
		return bound
	}
	return configured
}

// serve handles signals until the agent stops.
func (a *agent) serve(signals <-chan os.Signal) int {
	var srvDone, cliDone <-chan struct{}
	if a.srv != nil {
		srvDone = a.srv.Done()
	}
	if a.cli != nil {
		cliDone = a.cli.Done()
	}
	for {
		select {
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				a.reload()
			case syscall.SIGUSR1:
				a.dumpMetrics()
			default:
				return a.shutdown(sig, signals)
			}
		case err := <-a.httpErr:
			a.logger.Error("HTTP server stopped", "error", err)
			a.stop(context.Background(), nil)
			return 1
		case <-srvDone:
			a.logger.Error("server stopped", "error", a.srv.Err())
			a.stop(context.Background(), nil)
			return 1
		case <-cliDone:
			a.logger.Error("client stopped")
			a.stop(context.Background(), nil)
			return 1
		}
	}
}

// reload re-reads the configuration and applies what can change while
// running: the log level, the raft snapshot, heartbeat and garbage
// collection settings, and the TLS certificates, which are read again
// from their files even when the configuration does not load. Other
// changes are logged as waiting for a restart.
func (a *agent) reload() {
	a.reloadTLS()
	next, err := a.load()
	if err != nil {
		a.logger.Error("reloading configuration failed; keeping the running one", "error", err)
		return
	}
	old := a.cfg
	var restart []string
	if !reflect.DeepEqual(next.Server.TLS, old.Server.TLS) || !reflect.DeepEqual(next.Client.TLS, old.Client.TLS) {
		restart = append(restart, "tls settings (the certificate files are reloaded)")
	}
	if next.Server.ACL != old.Server.ACL || next.Server.GC.ACLTokenGCThreshold != old.Server.GC.ACLTokenGCThreshold {
		restart = append(restart, "acl settings")
	}
	if next.Server.Limits != old.Server.Limits {
		restart = append(restart, "limits")
	}
	if a.srv != nil {
		so := next.Server
		so.Logger, so.Registerer = a.logger, a.registry
		others, err := a.srv.ReloadOptions(so)
		if err != nil {
			a.logger.Error("reloading the server's settings failed; keeping the running ones", "error", err)
			return
		}
		for _, name := range others {
			switch name {
			case "TLS", "ACL", "Limits":
			default:
				restart = append(restart, name)
			}
		}
	}
	a.level.Set(next.LogLevel)
	a.cfg.LogLevel, a.cfg.LogLevelName = next.LogLevel, next.LogLevelName
	a.logger.Info("configuration reloaded", "log_level", next.LogLevelName)
	if len(restart) > 0 {
		a.logger.Warn("changed settings take effect only after a restart", "settings", strings.Join(restart, ", "))
	}
}

// reloadTLS reads the TLS certificates and CA again from their files. New
// connections use them at once; on error the agent keeps those it had.
func (a *agent) reloadTLS() {
	tlsOn := func(t *drover.TLSOptions) bool { return t != nil && (t.RPC || t.HTTP) }
	failed := false
	if a.srv != nil && tlsOn(a.cfg.Server.TLS) {
		if err := a.srv.Reload(); err != nil {
			a.logger.Error("reloading the server's TLS certificates failed; keeping the current ones", "error", err)
			failed = true
		}
	}
	if a.cli != nil && tlsOn(a.cfg.Client.TLS) {
		if err := a.cli.Reload(); err != nil {
			a.logger.Error("reloading the client's TLS certificates failed; keeping the current ones", "error", err)
			failed = true
		}
	}
	if !failed && (tlsOn(a.cfg.Server.TLS) || tlsOn(a.cfg.Client.TLS)) {
		a.logger.Info("TLS certificates reloaded")
	}
}

// dumpMetrics prints every metric to stderr, in Prometheus' text form.
func (a *agent) dumpMetrics() {
	families, err := a.registry.Gather()
	if err != nil {
		a.logger.Warn("gathering metrics", "error", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "==> metrics at %s\n", time.Now().UTC().Format(time.RFC3339))
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			name := f.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				fmt.Fprintf(&b, "%s %g\n", name, m.GetCounter().GetValue())
			case m.Gauge != nil:
				fmt.Fprintf(&b, "%s %g\n", name, m.GetGauge().GetValue())
			case m.Histogram != nil:
				fmt.Fprintf(&b, "%s count=%d sum=%g\n", name, m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum())
			case m.Summary != nil:
				fmt.Fprintf(&b, "%s count=%d sum=%g\n", name, m.GetSummary().GetSampleCount(), m.GetSummary().GetSampleSum())
			case m.Untyped != nil:
				fmt.Fprintf(&b, "%s %g\n", name, m.GetUntyped().GetValue())
			}
		}
	}
	_, _ = io.WriteString(a.stderr, b.String())
}

// shutdown stops the agent after a stop signal; a second one stops it at once.
func (a *agent) shutdown(sig os.Signal, signals <-chan os.Signal) int {
	leave := (sig == syscall.SIGINT && a.cfg.LeaveOnInterrupt) || (sig == syscall.SIGTERM && a.cfg.LeaveOnTerminate)
	a.logger.Info("caught signal, shutting down", "signal", sig.String(), "leave", leave)
	if leave && a.cli != nil && a.cfg.DrainOnShutdown != nil {
		a.logger.Info("draining the client's node before it stops")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan struct{})
	go func() {
		a.stop(ctx, sig)
		close(done)
	}()
	select {
	case <-done:
		a.logger.Info("agent stopped")
		return 0
	case sig := <-signals:
		a.logger.Error("second signal: stopping at once", "signal", sig.String())
		return 1
	}
}

// stop closes the HTTP listener, then the client, then the server (whose
// Shutdown writes everything to its data dir). It is safe on a partly
// started agent; sig is the stop signal (nil: a failure, no leaving).
func (a *agent) stop(ctx context.Context, sig os.Signal) {
	if a.http != nil {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := a.http.Shutdown(hctx); err != nil {
			_ = a.http.Close()
		}
		cancel()
	}
	if a.cli != nil {
		// The client honours leave_on_interrupt / leave_on_terminate (and
		// with them drain_on_shutdown) for the signal.
		_ = a.cli.ShutdownOnSignal(ctx, sig)
	}
	if a.docker != nil {
		// Containers keep running; the next agent reattaches to them.
		_ = a.docker.Close()
	}
	if a.srv != nil {
		leave := (sig == syscall.SIGINT && a.cfg.LeaveOnInterrupt) || (sig == syscall.SIGTERM && a.cfg.LeaveOnTerminate)
		if leave {
			// Out of the raft peer set and the gossip pool, then stopped.
			if err := a.srv.Leave(ctx); err != nil {
				a.logger.Error("leaving the cluster failed; stopping without leaving", "error", err)
			}
		}
		_ = a.srv.Shutdown(ctx)
	}
}
