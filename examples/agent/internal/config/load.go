package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// ErrConfig is matched by every error about the configuration itself.
var ErrConfig = errors.New("invalid agent configuration")

// Nomad settings the agent reads without applying, so a Nomad
// configuration loads with a warning rather than an error.
var (
	ignoredTopLevel = []string{
		"audit", "autopilot", "consul", "reporting", "sentinel", "ui", "vault", "keyring",
		"disable_update_check", "enable_debug", "enable_syslog", "syslog_facility", "log_json", "log_file",
		"log_rotate_bytes", "log_rotate_duration", "log_rotate_max_files", "plugin_dir", "disable_anonymous_signature",
		"http_api_response_headers", "addresses",
	}
	ignoredClient = []string{
		"alloc_dir", "alloc_mounts_dir", "network_interface", "network_speed", "cpu_total_compute", "memory_total_mb",
		"disk_total_mb", "disk_free_mb", "max_kill_timeout", "reserved", "host_network",
		"gc_interval", "gc_disk_usage_threshold", "gc_inode_usage_threshold", "gc_max_allocs", "gc_parallel_destroys",
		"no_host_uuid", "cni_path", "cni_config_dir", "bridge_network_name", "bridge_network_subnet", "template",
		"artifact", "node_pool", "preferred_address_family", "min_dynamic_port", "max_dynamic_port",
	}
	ignoredTelemetry = []string{
		"disable_hostname", "use_node_name", "publish_allocation_metrics", "publish_node_metrics", "statsd_address",
		"statsite_address", "datadog_address", "datadog_tags", "filter_default", "prefix_filter", "in_memory_collection_interval",
		"in_memory_retention_period", "disable_dispatched_job_summary_metrics", "disable_quota_utilization_metrics",
		"disable_rpc_rate_metrics_labels", "circonus_api_token",
	}
)

// Parse reads one configuration file's content; the name's extension
// picks HCL (.hcl) or JSON (.json).
func Parse(src []byte, filename string) (*Config, error) {
	p := hclparse.NewParser()
	var (
		f     *hcl.File
		diags hcl.Diagnostics
	)
	if strings.EqualFold(filepath.Ext(filename), ".json") {
		f, diags = p.ParseJSON(src, filename)
	} else {
		f, diags = p.ParseHCL(src, filename)
	}
	if diags.HasErrors() {
		return nil, fmt.Errorf("%w: %s", ErrConfig, diags.Error())
	}
	var c Config
	if diags := gohcl.DecodeBody(f.Body, nil, &c); diags.HasErrors() {
		return nil, fmt.Errorf("%w: %s", ErrConfig, diags.Error())
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	c.Files = []string{filename}
	return &c, nil
}

// finish reads the free-form blocks and the leftovers of each block.
func (c *Config) finish() error {
	var err error
	if c.Ignored, err = leftovers(c.Rest, "", ignoredTopLevel); err != nil {
		return err
	}
	if s := c.Server; s != nil {
		for name, used := range map[string]bool{
			"retry_join": s.RetryJoin != nil, "retry_interval": s.RetryInterval != nil,
			"retry_max": s.RetryMax != nil, "start_join": s.StartJoin != nil,
		} {
			if used {
				c.Deprecated = append(c.Deprecated, fmt.Sprintf("server.%s is deprecated: use the server_join block", name))
			}
		}
		sort.Strings(c.Deprecated)
	}
	if cl := c.Client; cl != nil {
		if err := cl.readKeyValues(); err != nil {
			return err
		}
		more, err := leftovers(cl.Rest, "client.", ignoredClient)
		if err != nil {
			return err
		}
		c.Ignored = append(c.Ignored, more...)
	}
	if t := c.Telemetry; t != nil {
		more, err := leftovers(t.Rest, "telemetry.", ignoredTelemetry)
		if err != nil {
			return err
		}
		c.Ignored = append(c.Ignored, more...)
	}
	for _, p := range c.Plugins {
		if err := c.readPlugin(p); err != nil {
			return err
		}
	}
	return nil
}

// leftovers accepts the known-but-ignored names in body, returning them,
// and refuses anything else the way Nomad refuses unknown keys.
func leftovers(body hcl.Body, prefix string, known []string) ([]string, error) {
	if body == nil {
		return nil, nil
	}
	schema := &hcl.BodySchema{}
	for _, k := range known {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: k})
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: k})
	}
	content, rest, diags := body.PartialContent(schema)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%w: %s", ErrConfig, diags.Error())
	}
	var out []string
	for name := range content.Attributes {
		out = append(out, prefix+name)
	}
	for _, b := range content.Blocks {
		out = append(out, prefix+b.Type)
	}
	// What is left is unknown: an empty schema refuses all of it.
	if _, diags := rest.Content(&hcl.BodySchema{}); diags.HasErrors() {
		return nil, fmt.Errorf("%w: %s", ErrConfig, diags.Error())
	}
	sort.Strings(out)
	return out, nil
}

// readKeyValues takes meta, options and chroot_env out of the client's
// leftovers, in block or map form.
func (cl *Client) readKeyValues() error {
	if cl.Rest == nil {
		return nil
	}
	names := []string{"meta", "options", "chroot_env"}
	schema := &hcl.BodySchema{}
	for _, n := range names {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: n})
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: n})
	}
	content, rest, diags := cl.Rest.PartialContent(schema)
	if diags.HasErrors() {
		return fmt.Errorf("%w: %s", ErrConfig, diags.Error())
	}
	cl.Rest = rest
	found := map[string]map[string]string{}
	add := func(kind, key string, v cty.Value, rng hcl.Range) error {
		s, err := asString(v)
		if err != nil {
			return fmt.Errorf("%w: %s: client.%s %q %v", ErrConfig, rng, kind, key, err)
		}
		if found[kind] == nil {
			found[kind] = map[string]string{}
		}
		found[kind][key] = s
		return nil
	}
	for name, a := range content.Attributes {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return fmt.Errorf("%w: %s", ErrConfig, diags.Error())
		}
		if !v.Type().IsObjectType() && !v.Type().IsMapType() {
			return fmt.Errorf("%w: %s: client.%s must be a map of strings", ErrConfig, a.NameRange, name)
		}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			if err := add(name, k.AsString(), ev, a.Range); err != nil {
				return err
			}
		}
	}
	for _, b := range content.Blocks {
		attrs, diags := b.Body.JustAttributes()
		if diags.HasErrors() {
			return fmt.Errorf("%w: %s", ErrConfig, diags.Error())
		}
		for key, a := range attrs {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				return fmt.Errorf("%w: %s", ErrConfig, diags.Error())
			}
			if err := add(b.Type, key, v, a.Range); err != nil {
				return err
			}
		}
	}
	if m, ok := found["meta"]; ok {
		cl.Meta = &KeyValues{Values: m}
	}
	if o, ok := found["options"]; ok {
		cl.Options = &KeyValues{Values: o}
	}
	if e, ok := found["chroot_env"]; ok {
		cl.ChrootEnv = &KeyValues{Values: e}
	}
	return nil
}

func asString(v cty.Value) (string, error) {
	switch {
	case v.IsNull():
		return "", errors.New("is null")
	case v.Type() == cty.String:
		return v.AsString(), nil
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1), nil
	case v.Type() == cty.Bool:
		return fmt.Sprint(v.True()), nil
	}
	return "", errors.New("must be a string")
}

// Load reads configuration files and directories in the order given; a
// directory's *.hcl and *.json files are read in lexical order. Later
// files override earlier ones setting by setting.
func Load(paths []string) (*Config, error) {
	out := &Config{}
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrConfig, err)
			}
			c, err := Parse(src, f)
			if err != nil {
				return nil, err
			}
			out = Merge(out, c)
		}
	}
	return out, nil
}

func expand(p string) ([]string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var files []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".hcl" || ext == ".json") {
			files = append(files, filepath.Join(p, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// Merge returns a with b laid over it: every setting b has replaces a's;
// blocks merge setting by setting; lists are replaced, maps merged,
// plugins and the bookkeeping lists appended.
func Merge(a, b *Config) *Config {
	out := &Config{}
	mergeValue(reflect.ValueOf(out).Elem(), reflect.ValueOf(a).Elem())
	mergeValue(reflect.ValueOf(out).Elem(), reflect.ValueOf(b).Elem())
	out.Plugins = append(append([]*Plugin(nil), a.Plugins...), b.Plugins...)
	out.Ignored = append(append([]string(nil), a.Ignored...), b.Ignored...)
	out.Deprecated = append(append([]string(nil), a.Deprecated...), b.Deprecated...)
	out.Files = append(append([]string(nil), a.Files...), b.Files...)
	return out
}

var bodyType = reflect.TypeOf((*hcl.Body)(nil)).Elem()

// mergeValue lays the set fields of src over dst (both structs).
func mergeValue(dst, src reflect.Value) {
	for i := 0; i < src.NumField(); i++ {
		sf, df := src.Field(i), dst.Field(i)
		if !df.CanSet() || sf.Type() == bodyType {
			continue
		}
		switch sf.Kind() {
		case reflect.Pointer:
			if sf.IsNil() {
				continue
			}
			if sf.Elem().Kind() == reflect.Struct {
				if df.IsNil() {
					df.Set(reflect.New(sf.Elem().Type()))
				}
				mergeValue(df.Elem(), sf.Elem())
				continue
			}
			v := reflect.New(sf.Elem().Type())
			v.Elem().Set(sf.Elem())
			df.Set(v)
		case reflect.Slice:
			if !sf.IsNil() {
				df.Set(reflect.AppendSlice(reflect.MakeSlice(sf.Type(), 0, sf.Len()), sf))
			}
		case reflect.Map:
			if sf.IsNil() {
				continue
			}
			if df.IsNil() {
				df.Set(reflect.MakeMap(sf.Type()))
			}
			for _, k := range sf.MapKeys() {
				df.SetMapIndex(k, sf.MapIndex(k))
			}
		}
	}
}
