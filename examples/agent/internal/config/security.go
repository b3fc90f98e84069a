package config

import (
	"time"

	"github.com/droverhq/drover"
)

// security is what the tls, acl and limits blocks give the server and
// the client.
type security struct {
	tls    *drover.TLSOptions
	acl    drover.ACLOptions
	limits drover.Limits
}

// buildSecurity reads the tls, acl and limits blocks. bad reports an
// error, warn a setting read but not applied.
func buildSecurity(c *Config, bad, warn func(string, ...any)) security {
	return security{
		tls:    buildTLS(c.TLS, bad, warn),
		acl:    buildACL(c.ACL, bad, warn),
		limits: buildLimits(c.Limits, bad, warn),
	}
}

// copyTLS returns a copy of the TLS options, so that the server's and
// the client's options never share one.
func (s security) copyTLS() *drover.TLSOptions {
	if s.tls == nil {
		return nil
	}
	t := *s.tls
	return &t
}

// buildTLS reads the tls block. Nomad's settings that drover cannot honour
// are refused when ignoring them would weaken what the operator asked
// for, and warned about otherwise.
func buildTLS(t *TLS, bad, warn func(string, ...any)) *drover.TLSOptions {
	if t == nil {
		return nil
	}
	if deref(t.RPCUpgradeMode) {
		bad("tls.rpc_upgrade_mode = true is not supported: drover's RPC port has no plain-TCP fallback; turn tls.rpc on in every agent of the region at once")
	}
	if v := t.TLSMinVersion; v != nil {
		switch *v {
		case "tls12":
		case "tls13":
			warn("tls.tls_min_version = %q is not applied: drover accepts TLS 1.2 and later, and TLS 1.3 is used whenever both ends support it", *v)
		case "tls10", "tls11":
			bad("tls.tls_min_version %q is refused: drover requires TLS 1.2 or later", *v)
		default:
			bad("tls.tls_min_version %q is not one of tls10, tls11, tls12, tls13", *v)
		}
	}
	if t.TLSCipherSuites != nil {
		warn("tls.tls_cipher_suites is read and ignored: drover uses Go's default cipher suites")
	}
	if t.TLSPreferServerCipherSuites != nil {
		warn("tls.tls_prefer_server_cipher_suites is read and ignored: Go orders cipher suites itself")
	}
	o := &drover.TLSOptions{
		HTTP: deref(t.HTTP), RPC: deref(t.RPC),
		CAFile: deref(t.CAFile), CertFile: deref(t.CertFile), KeyFile: deref(t.KeyFile),
		VerifyServerHostname: deref(t.VerifyServerHostname), VerifyHTTPSClient: deref(t.VerifyHTTPSClient),
	}
	if !o.HTTP && !o.RPC {
		return o
	}
	missing := false
	for _, f := range []struct{ name, value string }{{"ca_file", o.CAFile}, {"cert_file", o.CertFile}, {"key_file", o.KeyFile}} {
		if f.value == "" {
			bad("tls.%s is required when tls.http or tls.rpc is true", f.name)
			missing = true
		}
	}
	if missing {
		// Reported here; the options' own validation would repeat it.
		return nil
	}
	return o
}

// buildACL reads the acl block.
func buildACL(a *ACL, bad, warn func(string, ...any)) drover.ACLOptions {
	if a == nil {
		return drover.ACLOptions{}
	}
	for _, ttl := range []struct {
		name  string
		value *string
	}{{"token_ttl", a.TokenTTL}, {"policy_ttl", a.PolicyTTL}, {"role_ttl", a.RoleTTL}} {
		if ttl.value != nil {
			nonNegative("acl."+ttl.name, *ttl.value, bad)
			warn("acl.%s is read and ignored: tokens are resolved from the replicated state", ttl.name)
		}
	}
	o := drover.ACLOptions{Enabled: deref(a.Enabled), ReplicationToken: deref(a.ReplicationToken)}
	if v := a.TokenMinExpirationTTL; v != nil {
		o.TokenMinExpirationTTL = nonNegative("acl.token_min_expiration_ttl", *v, bad)
	}
	if v := a.TokenMaxExpirationTTL; v != nil {
		o.TokenMaxExpirationTTL = nonNegative("acl.token_max_expiration_ttl", *v, bad)
	}
	return o
}

// buildLimits reads the limits block: a connection limit of 0 is Nomad's
// "no limit", drover's Unlimited.
func buildLimits(l *Limits, bad, warn func(string, ...any)) drover.Limits {
	if l == nil {
		return drover.Limits{}
	}
	conns := func(name string, v *int) int {
		switch {
		case v == nil:
			return 0
		case *v == 0:
			return drover.Unlimited
		case *v < 0:
			bad("limits.%s must be 0 (no limit) or more, got %d", name, *v)
			return 0
		}
		return *v
	}
	timeout := func(name string, v *string) time.Duration {
		if v == nil {
			return 0
		}
		if d, err := time.ParseDuration(*v); err == nil && d == 0 {
			warn("limits.%s = %q would turn the timeout off; drover always bounds handshakes, so the default (5s) applies", name, *v)
			return 0
		}
		return nonNegative("limits."+name, *v, bad)
	}
	return drover.Limits{
		HTTPSHandshakeTimeout: timeout("https_handshake_timeout", l.HTTPSHandshakeTimeout),
		HTTPMaxConnsPerClient: conns("http_max_conns_per_client", l.HTTPMaxConnsPerClient),
		RPCHandshakeTimeout:   timeout("rpc_handshake_timeout", l.RPCHandshakeTimeout),
		RPCMaxConnsPerClient:  conns("rpc_max_conns_per_client", l.RPCMaxConnsPerClient),
	}
}

// nonNegative parses a duration setting, reporting one that does not
// parse or is negative.
func nonNegative(name, v string, bad func(string, ...any)) time.Duration {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		bad("%s %q is not a duration (like \"30s\" or \"1h\")", name, v)
		return 0
	case d < 0:
		bad("%s must not be negative, got %q", name, v)
		return 0
	}
	return d
}
