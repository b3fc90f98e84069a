package acl

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// The schema of each kind of body: which arguments it takes and which blocks
// it holds (with how many labels).
var (
	policySchema = bodySchema{
		blocks: map[string]int{
			"namespace": 1, "node_pool": 1, "host_volume": 1,
			"node": 0, "agent": 0, "operator": 0, "quota": 0, "plugin": 0,
		},
	}
	namespaceSchema = bodySchema{attrs: []string{"policy", "capabilities"}, blocks: map[string]int{"variables": 0}}
	variablesSchema = bodySchema{blocks: map[string]int{"path": 1}}
	pathSchema      = bodySchema{attrs: []string{"capabilities"}}
	namedSchema     = bodySchema{attrs: []string{"policy", "capabilities"}}
	levelSchema     = bodySchema{attrs: []string{"policy"}}
	operatorSchema  = namedSchema
)

type bodySchema struct {
	attrs  []string
	blocks map[string]int
}

func (s bodySchema) hcl() *hcl.BodySchema {
	out := &hcl.BodySchema{}
	for _, a := range s.attrs {
		out.Attributes = append(out.Attributes, hcl.AttributeSchema{Name: a})
	}
	for _, b := range s.keys()[len(s.attrs):] {
		h := hcl.BlockHeaderSchema{Type: b}
		if s.blocks[b] == 1 {
			h.LabelNames = []string{"name"}
		}
		out.Blocks = append(out.Blocks, h)
	}
	return out
}

// keys lists the argument names and then the block types, sorted.
func (s bodySchema) keys() []string {
	blocks := make([]string, 0, len(s.blocks))
	for b := range s.blocks {
		blocks = append(blocks, b)
	}
	sort.Strings(blocks)
	return append(append([]string(nil), s.attrs...), blocks...)
}

func (s bodySchema) known(name string) bool {
	_, ok := s.blocks[name]
	for _, a := range s.attrs {
		ok = ok || a == name
	}
	return ok
}

// decoder turns the HCL (or JSON) text of a policy into a Policy, checking
// its structure; the values themselves are checked by Policy.validate.
type decoder struct {
	src []byte
}

func decode(rules string) (*Policy, error) {
	d := &decoder{src: []byte(rules)}
	var (
		file  *hcl.File
		diags hcl.Diagnostics
	)
	isJSON := false
	if trimmed := bytes.TrimLeft(d.src, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		isJSON = true
	}
	if err := parseSafely(func() error {
		if isJSON {
			if err := checkJSONShape(d.src); err != nil {
				return err
			}
			file, diags = hcljson.Parse(d.src, "policy.json")
			return nil
		}
		if err := checkNativeShape(d.src); err != nil {
			return err
		}
		file, diags = hclsyntax.ParseConfig(d.src, "policy.hcl", hcl.InitialPos)
		return nil
	}); err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		where := "policy"
		if body, ok := file.Body.(*hclsyntax.Body); ok {
			where = whereAt(body, diags)
		}
		return nil, d.diagErr(where, diags)
	}
	return d.policy(file.Body)
}

// parseSafely runs an HCL lexer and parser, turning a panic inside them into
// an error: the parsers are not ours, and a policy must never take the
// server down. (A stack overflow cannot be recovered: the shape checks run
// first to rule it out.)
func parseSafely(parse func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = invalidf("policy: the HCL parser failed on it")
		}
	}()
	return parse()
}

// whereAt names the innermost block that holds the first error of diags, as
// the decoder names blocks in its own errors, or "policy" when the error is
// outside every block. It only descends into blocks the schema allows where
// they stand: any other block type is input, of any length.
func whereAt(body *hclsyntax.Body, diags hcl.Diagnostics) string {
	var at *hcl.Range
	for _, diag := range diags {
		if diag.Severity == hcl.DiagError {
			at = diag.Subject
			break
		}
	}
	where, schema := "", policySchema
	for at != nil && body != nil {
		var inner *hclsyntax.Body
		for _, b := range body.Blocks {
			if _, known := schema.blocks[b.Type]; !known {
				continue
			}
			if r := b.Range(); r.Start.Byte <= at.Start.Byte && at.Start.Byte < r.End.Byte {
				where = blockWhere(where, b.Type, b.Labels)
				inner = b.Body
				schema = blockSchemas[b.Type]
				break
			}
		}
		body = inner
	}
	if where == "" {
		return "policy"
	}
	return where
}

// blockSchemas maps each block type to the schema of its body.
var blockSchemas = map[string]bodySchema{
	"namespace": namespaceSchema, "variables": variablesSchema, "path": pathSchema,
	"node_pool": namedSchema, "host_volume": namedSchema, "operator": operatorSchema,
	"node": levelSchema, "agent": levelSchema, "quota": levelSchema, "plugin": levelSchema,
}

// blockWhere names a block for errors: `namespace "dev"`, `node block`,
// `namespace "dev" variables block`, `namespace "dev" variables path "a"`.
func blockWhere(parent, typ string, labels []string) string {
	name := typ + " block"
	if len(labels) > 0 {
		name = typ + " " + quote(labels[0])
	}
	switch {
	case parent == "":
		return name
	case typ == "path":
		return strings.TrimSuffix(parent, " block") + " " + name
	default:
		return parent + " " + name
	}
}

func (d *decoder) policy(body hcl.Body) (*Policy, error) {
	content, err := d.content(body, "policy", policySchema)
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	for _, b := range content.Blocks {
		switch b.Type {
		case "namespace":
			ns, err := d.namespace(b)
			if err != nil {
				return nil, err
			}
			p.Namespaces = append(p.Namespaces, ns)
		case "node_pool", "host_volume":
			r, err := d.named(b)
			if err != nil {
				return nil, err
			}
			if b.Type == "node_pool" {
				p.NodePools = append(p.NodePools, r)
			} else {
				p.HostVolumes = append(p.HostVolumes, r)
			}
		case "operator":
			if p.Operator != nil {
				return nil, d.duplicate(b)
			}
			where := blockWhere("", b.Type, nil)
			c, err := d.content(b.Body, where, operatorSchema)
			if err != nil {
				return nil, err
			}
			p.Operator = &OperatorRule{}
			if p.Operator.Policy, _, err = d.stringAttr(c, "policy", where); err != nil {
				return nil, err
			}
			if p.Operator.Capabilities, err = d.listAttr(c, "capabilities", where); err != nil {
				return nil, err
			}
		default: // node, agent, quota, plugin
			dst := map[string]**LevelRule{"node": &p.Node, "agent": &p.Agent, "quota": &p.Quota, "plugin": &p.Plugin}[b.Type]
			if *dst != nil {
				return nil, d.duplicate(b)
			}
			where := blockWhere("", b.Type, nil)
			c, err := d.content(b.Body, where, levelSchema)
			if err != nil {
				return nil, err
			}
			lvl, set, err := d.stringAttr(c, "policy", where)
			if err != nil {
				return nil, err
			}
			if !set {
				return nil, invalidf("%s: policy is required (%s)", where, d.pos(b.DefRange))
			}
			*dst = &LevelRule{Policy: lvl}
		}
	}
	return p, nil
}

func (d *decoder) namespace(b *hcl.Block) (NamespaceRule, error) {
	ns := NamespaceRule{Name: b.Labels[0]}
	where := blockWhere("", b.Type, b.Labels)
	c, err := d.content(b.Body, where, namespaceSchema)
	if err != nil {
		return ns, err
	}
	if ns.Policy, _, err = d.stringAttr(c, "policy", where); err != nil {
		return ns, err
	}
	if ns.Capabilities, err = d.listAttr(c, "capabilities", where); err != nil {
		return ns, err
	}
	for i, vb := range c.Blocks {
		if i > 0 {
			return ns, invalidf("%s: more than one variables block (%s)", where, d.pos(vb.DefRange))
		}
		vwhere := blockWhere(where, vb.Type, nil)
		vc, err := d.content(vb.Body, vwhere, variablesSchema)
		if err != nil {
			return ns, err
		}
		ns.Variables = make([]VariablesRule, 0, len(vc.Blocks))
		for _, pb := range vc.Blocks {
			v := VariablesRule{Path: pb.Labels[0]}
			pwhere := blockWhere(vwhere, pb.Type, pb.Labels)
			pc, err := d.content(pb.Body, pwhere, pathSchema)
			if err != nil {
				return ns, err
			}
			if v.Capabilities, err = d.listAttr(pc, "capabilities", pwhere); err != nil {
				return ns, err
			}
			ns.Variables = append(ns.Variables, v)
		}
	}
	return ns, nil
}

func (d *decoder) named(b *hcl.Block) (NamedRule, error) {
	r := NamedRule{Name: b.Labels[0]}
	where := blockWhere("", b.Type, b.Labels)
	c, err := d.content(b.Body, where, namedSchema)
	if err != nil {
		return r, err
	}
	if r.Policy, _, err = d.stringAttr(c, "policy", where); err != nil {
		return r, err
	}
	if r.Capabilities, err = d.listAttr(c, "capabilities", where); err != nil {
		return r, err
	}
	return r, nil
}

func (d *decoder) duplicate(b *hcl.Block) error {
	return invalidf("policy: more than one %s block (%s)", b.Type, d.pos(b.DefRange))
}

// content checks that body holds only the keys of schema, then decodes it.
// Unknown keys are reported here, with the key quoted, rather than through
// HCL's diagnostics.
func (d *decoder) content(body hcl.Body, where string, schema bodySchema) (*hcl.BodyContent, error) {
	type key struct {
		name string
		rng  hcl.Range
	}
	var keys []key
	if sb, ok := body.(*hclsyntax.Body); ok {
		for _, a := range sb.Attributes {
			keys = append(keys, key{a.Name, a.NameRange})
		}
		for _, b := range sb.Blocks {
			keys = append(keys, key{b.Type, b.TypeRange})
		}
	} else {
		attrs, diags := body.JustAttributes()
		if diags.HasErrors() {
			return nil, d.diagErr(where, diags)
		}
		for _, a := range attrs {
			keys = append(keys, key{a.Name, a.NameRange})
		}
	}
	// Report the first unknown key in the text, whatever the map order.
	sort.Slice(keys, func(i, j int) bool { return keys[i].rng.Start.Byte < keys[j].rng.Start.Byte })
	for _, k := range keys {
		if !schema.known(k.name) {
			return nil, invalidf("%s: unknown key %s (%s; want %s)",
				where, quote(k.name), d.pos(k.rng), strings.Join(schema.keys(), ", "))
		}
	}
	content, diags := body.Content(schema.hcl())
	if diags.HasErrors() {
		return nil, d.diagErr(where, diags)
	}
	return content, nil
}

// stringAttr returns the string value of the argument name, and whether it is
// set at all.
func (d *decoder) stringAttr(c *hcl.BodyContent, name, where string) (string, bool, error) {
	attr, ok := c.Attributes[name]
	if !ok {
		return "", false, nil
	}
	if se, native := attr.Expr.(hclsyntax.Expression); native && !isLiteralString(se) {
		return "", true, d.notLiteral(attr, where, "a quoted string")
	}
	v, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return "", true, d.diagErr(where, diags)
	}
	if !v.IsWhollyKnown() || v.IsNull() || v.Type() != cty.String {
		return "", true, d.notLiteral(attr, where, "a quoted string")
	}
	return v.AsString(), true, nil
}

// listAttr returns the value of the argument name, which must be a list of
// strings; nil when it is not set.
func (d *decoder) listAttr(c *hcl.BodyContent, name, where string) ([]string, error) {
	attr, ok := c.Attributes[name]
	if !ok {
		return nil, nil
	}
	if se, native := attr.Expr.(hclsyntax.Expression); native {
		tuple, ok := se.(*hclsyntax.TupleConsExpr)
		if !ok {
			return nil, d.notLiteral(attr, where, "a list of quoted strings")
		}
		for _, e := range tuple.Exprs {
			if !isLiteralString(e) {
				return nil, d.notLiteral(attr, where, "a list of quoted strings")
			}
		}
	}
	v, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return nil, d.diagErr(where, diags)
	}
	if !v.IsWhollyKnown() || v.IsNull() || !(v.Type().IsTupleType() || v.Type().IsListType()) {
		return nil, d.notLiteral(attr, where, "a list of quoted strings")
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			return nil, d.notLiteral(attr, where, "a list of quoted strings")
		}
		out = append(out, e.AsString())
	}
	return out, nil
}

// isLiteralString reports whether e is a quoted string (or heredoc) made of
// literal text only: no interpolation, directive or other expression, so
// evaluating it costs nothing and needs no context.
func isLiteralString(e hclsyntax.Expression) bool {
	t, ok := e.(*hclsyntax.TemplateExpr)
	if !ok {
		return false
	}
	for _, part := range t.Parts {
		lit, ok := part.(*hclsyntax.LiteralValueExpr)
		if !ok || lit.Val.Type() != cty.String {
			return false
		}
	}
	return true
}

func (d *decoder) notLiteral(attr *hcl.Attribute, where, want string) error {
	return invalidf("%s: %s must be %s, not %s (%s)",
		where, attr.Name, want, quote(d.text(attr.Expr.Range())), d.pos(attr.Expr.Range()))
}

// diagErr turns the first error of HCL's diagnostics into an error. It
// keeps HCL's short summary and position and leaves out the detail, which may
// quote the input at any length; what the diagnostic points at is quoted
// instead, cut short.
func (d *decoder) diagErr(where string, diags hcl.Diagnostics) error {
	for _, diag := range diags {
		if diag.Severity != hcl.DiagError {
			continue
		}
		msg := clip(diag.Summary, 80)
		if diag.Subject == nil {
			return invalidf("%s: %s", where, msg)
		}
		if t := d.text(*diag.Subject); t != "" {
			msg += " at " + quote(t)
		}
		return invalidf("%s: %s (%s)", where, msg, d.pos(*diag.Subject))
	}
	return invalidf("%s: could not be decoded", where)
}

// text returns the source text in r, or "" if r lies outside it.
func (d *decoder) text(r hcl.Range) string {
	if r.Start.Byte < 0 || r.End.Byte > len(d.src) || r.Start.Byte > r.End.Byte {
		return ""
	}
	return string(d.src[r.Start.Byte:r.End.Byte])
}

func (d *decoder) pos(r hcl.Range) string {
	return fmt.Sprintf("line %d, column %d", r.Start.Line, r.Start.Column)
}

// clip cuts s to at most n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}
