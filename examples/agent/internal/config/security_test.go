package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/droverhq/drover"
)

// build parses src as one file laid over the defaults and builds it.
func build(t *testing.T, src string) (*Agent, error) {
	t.Helper()
	c, err := Parse([]byte(src), "agent.hcl")
	if err != nil {
		return nil, err
	}
	return Build(Merge(Defaults(), c))
}

func TestTLSACLAndLimitsBlocks(t *testing.T) {
	a, err := build(t, `
data_dir = "/opt/drover"
server {
  enabled                = true
  acl_token_gc_threshold = "2h"
}
client { enabled = true }
tls {
  http                   = true
  rpc                    = true
  ca_file                = "/etc/drover/ca.pem"
  cert_file              = "/etc/drover/agent.pem"
  key_file               = "/etc/drover/agent-key.pem"
  verify_server_hostname = true
  verify_https_client    = true
  rpc_upgrade_mode       = false
  tls_min_version        = "tls12"
}
acl {
  enabled                  = true
  replication_token        = "repl-secret"
  token_min_expiration_ttl = "5m"
  token_max_expiration_ttl = "72h"
}
limits {
  https_handshake_timeout   = "3s"
  http_max_conns_per_client = 0
  rpc_handshake_timeout     = "7s"
  rpc_max_conns_per_client  = 250
}`)
	require.NoError(t, err)
	want := &drover.TLSOptions{
		HTTP: true, RPC: true,
		CAFile: "/etc/drover/ca.pem", CertFile: "/etc/drover/agent.pem", KeyFile: "/etc/drover/agent-key.pem",
		VerifyServerHostname: true, VerifyHTTPSClient: true,
	}
	require.Equal(t, want, a.Server.TLS)
	require.Equal(t, want, a.Client.TLS, "the client gets the same material")
	require.NotSame(t, a.Server.TLS, a.Client.TLS)
	require.Equal(t, drover.ACLOptions{
		Enabled: true, ReplicationToken: "repl-secret",
		TokenMinExpirationTTL: 5 * time.Minute, TokenMaxExpirationTTL: 72 * time.Hour,
	}, a.Server.ACL)
	require.Equal(t, 2*time.Hour, a.Server.GC.ACLTokenGCThreshold)
	require.Equal(t, drover.Limits{
		HTTPSHandshakeTimeout: 3 * time.Second, HTTPMaxConnsPerClient: drover.Unlimited,
		RPCHandshakeTimeout: 7 * time.Second, RPCMaxConnsPerClient: 250,
	}, a.Server.Limits, "Nomad's 0 (no limit) is drover's Unlimited")
	require.Empty(t, a.Warnings)
}

func TestTLSACLAndLimitsDefaults(t *testing.T) {
	a, err := build(t, `
data_dir = "/opt/drover"
server { enabled = true }
tls {
  rpc       = true
  ca_file   = "/ca.pem"
  cert_file = "/cert.pem"
  key_file  = "/key.pem"
}
acl { enabled = true }
limits {}`)
	require.NoError(t, err)
	require.Equal(t, &drover.TLSOptions{RPC: true, CAFile: "/ca.pem", CertFile: "/cert.pem", KeyFile: "/key.pem"}, a.Server.TLS)
	require.Equal(t, drover.ACLOptions{Enabled: true}, a.Server.ACL, "unset TTLs take the library's defaults")
	require.Equal(t, drover.Limits{}, a.Server.Limits)
	require.Zero(t, a.Server.GC.ACLTokenGCThreshold)

	a, err = build(t, `
data_dir = "/opt/drover"
server { enabled = true }`)
	require.NoError(t, err)
	require.Nil(t, a.Server.TLS, "no tls block, no TLS")
	require.False(t, a.Server.ACL.Enabled)
}

func TestSettingsDroverDoesNotApplyAreWarnedAbout(t *testing.T) {
	a, err := build(t, `
data_dir = "/opt/drover"
server { enabled = true }
tls {
  tls_min_version                 = "tls13"
  tls_cipher_suites               = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
  tls_prefer_server_cipher_suites = true
}
acl {
  enabled    = true
  token_ttl  = "30s"
  policy_ttl = "30s"
  role_ttl   = "1m"
}
limits {
  https_handshake_timeout = "0"
  rpc_handshake_timeout   = "0s"
}`)
	require.NoError(t, err)
	for _, w := range []string{
		`tls.tls_min_version = "tls13" is not applied: drover accepts TLS 1.2 and later`,
		"tls.tls_cipher_suites is read and ignored",
		"tls.tls_prefer_server_cipher_suites is read and ignored",
		"acl.token_ttl is read and ignored: tokens are resolved from the replicated state",
		"acl.policy_ttl is read and ignored: tokens are resolved from the replicated state",
		"acl.role_ttl is read and ignored: tokens are resolved from the replicated state",
		`limits.https_handshake_timeout = "0" would turn the timeout off`,
		`limits.rpc_handshake_timeout = "0s" would turn the timeout off`,
	} {
		require.True(t, containsPrefix(a.Warnings, w), "want a warning %q in %q", w, a.Warnings)
	}
	require.Equal(t, drover.Limits{}, a.Server.Limits, "the default timeouts apply")
	for _, w := range a.Warnings {
		require.NotContains(t, w, "is accepted but not applied", "tls, acl and limits are no longer ignored wholesale")
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func TestBadSecuritySettings(t *testing.T) {
	const head = "data_dir = \"/d\"\n"
	const files = "ca_file = \"/ca.pem\"\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n"
	cases := []struct{ name, src, want string }{
		{"rpc upgrade mode", "tls {\nrpc = true\nrpc_upgrade_mode = true\n" + files + "}", "tls.rpc_upgrade_mode = true is not supported"},
		{"tls 1.1", "tls { tls_min_version = \"tls11\" }", `tls.tls_min_version "tls11" is refused: drover requires TLS 1.2 or later`},
		{"tls 1.0", "tls { tls_min_version = \"tls10\" }", `tls.tls_min_version "tls10" is refused`},
		{"unknown tls version", "tls { tls_min_version = \"ssl3\" }", `tls.tls_min_version "ssl3" is not one of tls10, tls11, tls12, tls13`},
		{"missing ca", "tls {\nhttp = true\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n}", "tls.ca_file is required when tls.http or tls.rpc is true"},
		{"missing key", "tls {\nrpc = true\nca_file = \"/ca.pem\"\ncert_file = \"/c.pem\"\n}", "tls.key_file is required"},
		{"unknown tls setting", "tls { verify_everything = true }", `An argument named "verify_everything" is not expected here`},
		{"tls wrong type", "tls { rpc = \"yes please\" }", "a bool is required"},
		{"bad token ttl", "acl { token_ttl = \"soon\" }", `acl.token_ttl "soon" is not a duration`},
		{"negative max ttl", "acl { token_max_expiration_ttl = \"-1h\" }", `acl.token_max_expiration_ttl must not be negative, got "-1h"`},
		{"bad min ttl", "acl { token_min_expiration_ttl = \"1 minute\" }", `acl.token_min_expiration_ttl "1 minute" is not a duration`},
		{"min above max", "acl {\ntoken_min_expiration_ttl = \"2h\"\ntoken_max_expiration_ttl = \"1h\"\n}", "token_min_expiration_ttl (2h0m0s) is above token_max_expiration_ttl (1h0m0s)"},
		{"unknown acl setting", "acl { tokens = true }", `An argument named "tokens" is not expected here`},
		{"negative http conns", "limits { http_max_conns_per_client = -1 }", "limits.http_max_conns_per_client must be 0 (no limit) or more, got -1"},
		{"negative rpc conns", "limits { rpc_max_conns_per_client = -5 }", "limits.rpc_max_conns_per_client must be 0 (no limit) or more, got -5"},
		{"bad https timeout", "limits { https_handshake_timeout = \"fast\" }", `limits.https_handshake_timeout "fast" is not a duration`},
		{"negative rpc timeout", "limits { rpc_handshake_timeout = \"-5s\" }", `limits.rpc_handshake_timeout must not be negative`},
		{"unknown limit", "limits { rpc_rate = 10 }", `An argument named "rpc_rate" is not expected here`},
		{"bad token gc threshold", "server {\nenabled = true\nacl_token_gc_threshold = \"weekly\"\n}", `acl_token_gc_threshold "weekly" is not a duration`},
		{"negative token gc threshold", "server {\nenabled = true\nacl_token_gc_threshold = \"-1h\"\n}", "acl_token_gc_threshold must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := head + tc.src
			if !strings.Contains(tc.src, "server {") {
				src += "\nserver { enabled = true }\n"
			}
			_, err := build(t, src)
			require.ErrorIs(t, err, ErrConfig)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestSecurityBlocksMergeAcrossFilesAndFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600))
	}
	write("10-base.hcl", `data_dir = "/srv/drover"
server { enabled = true }
client { enabled = true }
tls {
  rpc       = true
  ca_file   = "/etc/drover/ca.pem"
  cert_file = "/etc/drover/old.pem"
  key_file  = "/etc/drover/old-key.pem"
}
acl {
  token_max_expiration_ttl = "12h"
}
limits {
  rpc_max_conns_per_client = 50
}`)
	write("20-rotate.hcl", `tls {
  cert_file = "/etc/drover/new.pem"
  key_file  = "/etc/drover/new-key.pem"
}
limits {
  http_max_conns_per_client = 0
}`)
	write("30-https.json", `{"tls": {"http": true, "verify_https_client": true}, "acl": {"replication_token": "r"}}`)

	f, err := ParseFlags([]string{"-config", dir, "-acl-enabled"}, io.Discard)
	require.NoError(t, err)
	c, err := Resolve(f)
	require.NoError(t, err)
	a, err := Build(c)
	require.NoError(t, err)
	want := &drover.TLSOptions{
		RPC: true, HTTP: true, VerifyHTTPSClient: true,
		CAFile: "/etc/drover/ca.pem", CertFile: "/etc/drover/new.pem", KeyFile: "/etc/drover/new-key.pem",
	}
	require.Equal(t, want, a.Server.TLS, "blocks merge setting by setting")
	require.Equal(t, want, a.Client.TLS)
	require.Equal(t, drover.ACLOptions{Enabled: true, ReplicationToken: "r", TokenMaxExpirationTTL: 12 * time.Hour}, a.Server.ACL)
	require.Equal(t, drover.Limits{RPCMaxConnsPerClient: 50, HTTPMaxConnsPerClient: drover.Unlimited}, a.Server.Limits)

	f, err = ParseFlags([]string{"-config", dir, "-acl-enabled=false", "-acl-replication-token", "flag"}, io.Discard)
	require.NoError(t, err)
	c, err = Resolve(f)
	require.NoError(t, err)
	a, err = Build(c)
	require.NoError(t, err)
	require.False(t, a.Server.ACL.Enabled)
	require.Equal(t, "flag", a.Server.ACL.ReplicationToken, "flags beat files")
}

func TestClientOnlyAgentGetsTheTLSMaterial(t *testing.T) {
	a, err := build(t, `
data_dir = "/opt/drover"
client {
  enabled = true
  servers = ["10.0.0.1:4647"]
}
tls {
  rpc                    = true
  verify_server_hostname = true
  ca_file                = "/ca.pem"
  cert_file              = "/client.pem"
  key_file               = "/client-key.pem"
}`)
	require.NoError(t, err)
	require.Equal(t, &drover.TLSOptions{
		RPC: true, VerifyServerHostname: true, CAFile: "/ca.pem", CertFile: "/client.pem", KeyFile: "/client-key.pem",
	}, a.Client.TLS)
	require.Nil(t, a.Server.TLS)
}
