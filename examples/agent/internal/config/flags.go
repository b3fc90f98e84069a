package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Flags are the agent's command line: -dev, the -config paths, and the
// settings given as flags, which override every file.
type Flags struct {
	Dev     bool
	Configs []string
	// Overlay holds only the settings a flag set explicitly.
	Overlay *Config
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// ParseFlags reads the agent's flags, spelled as Nomad's agent spells them.
func ParseFlags(args []string, out io.Writer) (*Flags, error) {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(out)
	f := &Flags{Overlay: &Config{}}
	var (
		configs, retryJoin, startJoin, meta listFlag
		dataDir, name, region, dc, bind     string
		logLevel, servers, encrypt, class   string
		retryInterval, aclReplicationToken  string
		server, client, aclEnabled          bool
		bootstrapExpect, retryMax           int
	)
	fs.BoolVar(&f.Dev, "dev", false, "run a server and a client in one agent with development defaults")
	fs.Var(&configs, "config", "a configuration file or directory (repeatable; later ones override earlier ones)")
	fs.StringVar(&dataDir, "data-dir", "", "directory for the agent's state")
	fs.StringVar(&name, "node", "", "the agent's name")
	fs.StringVar(&region, "region", "", "the region to join")
	fs.StringVar(&dc, "dc", "", "the datacenter the agent is in")
	fs.StringVar(&bind, "bind", "", "the address the agent listens on")
	fs.StringVar(&logLevel, "log-level", "", "TRACE, DEBUG, INFO, WARN or ERROR")
	fs.BoolVar(&server, "server", false, "run a server")
	fs.BoolVar(&client, "client", false, "run a client")
	fs.IntVar(&bootstrapExpect, "bootstrap-expect", 0, "servers to wait for before bootstrapping")
	fs.StringVar(&encrypt, "encrypt", "", "gossip encryption key")
	fs.Var(&retryJoin, "retry-join", "a server to join, retrying (repeatable)")
	fs.StringVar(&retryInterval, "retry-interval", "", "wait between join attempts")
	fs.IntVar(&retryMax, "retry-max", 0, "join attempts before giving up (0: forever)")
	fs.Var(&startJoin, "join", "a server to join at start (deprecated form; repeatable)")
	fs.StringVar(&servers, "servers", "", "comma-separated server RPC addresses for the client")
	fs.StringVar(&class, "node-class", "", "the client's node class")
	fs.Var(&meta, "meta", "client metadata as key=value (repeatable)")
	fs.BoolVar(&aclEnabled, "acl-enabled", false, "turn ACLs on")
	fs.StringVar(&aclReplicationToken, "acl-replication-token", "", "the token non-authoritative regions replicate ACLs with")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %q", ErrConfig, fs.Args())
	}
	f.Configs = configs
	o := f.Overlay
	srv := func() *Server {
		if o.Server == nil {
			o.Server = &Server{}
		}
		return o.Server
	}
	cli := func() *Client {
		if o.Client == nil {
			o.Client = &Client{}
		}
		return o.Client
	}
	acl := func() *ACL {
		if o.ACL == nil {
			o.ACL = &ACL{}
		}
		return o.ACL
	}
	join := func() *ServerJoin {
		if srv().ServerJoin == nil {
			o.Server.ServerJoin = &ServerJoin{}
		}
		return o.Server.ServerJoin
	}
	var err error
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "data-dir":
			o.DataDir = ptr(dataDir)
		case "node":
			o.Name = ptr(name)
		case "region":
			o.Region = ptr(region)
		case "dc":
			o.Datacenter = ptr(dc)
		case "bind":
			o.BindAddr = ptr(bind)
		case "log-level":
			o.LogLevel = ptr(logLevel)
		case "server":
			srv().Enabled = ptr(server)
		case "client":
			cli().Enabled = ptr(client)
		case "bootstrap-expect":
			srv().BootstrapExpect = ptr(bootstrapExpect)
		case "encrypt":
			srv().Encrypt = ptr(encrypt)
		case "retry-join":
			join().RetryJoin = retryJoin
		case "retry-interval":
			join().RetryInterval = ptr(retryInterval)
		case "retry-max":
			join().RetryMax = ptr(retryMax)
		case "join":
			srv().StartJoin = startJoin
			o.Deprecated = append(o.Deprecated, "-join is deprecated: use -retry-join")
		case "servers":
			cli().Servers = splitList(servers)
		case "acl-enabled":
			acl().Enabled = ptr(aclEnabled)
		case "acl-replication-token":
			acl().ReplicationToken = ptr(aclReplicationToken)
		case "node-class":
			cli().NodeClass = ptr(class)
		case "meta":
			kv := &KeyValues{Values: map[string]string{}}
			for _, m := range meta {
				k, v, ok := strings.Cut(m, "=")
				if !ok || k == "" {
					err = fmt.Errorf("%w: -meta %q: want key=value", ErrConfig, m)
					return
				}
				kv.Values[k] = v
			}
			cli().Meta = kv
		}
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Resolve builds the agent's configuration from the flags: the defaults
// (or -dev's), then the -config files in order, then the flags.
func Resolve(f *Flags) (*Config, error) {
	base := Defaults()
	if f.Dev {
		base = Dev()
	}
	files, err := Load(f.Configs)
	if err != nil {
		return nil, err
	}
	return Merge(Merge(base, files), f.Overlay), nil
}
