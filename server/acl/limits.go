package acl

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// The HCL and JSON parsers descend recursively, taking kilobytes of stack
// for each level of nesting: 64 KiB of '[' is enough to overflow the stack
// and kill the process, which no recover can stop. So, before parsing, the
// rules are scanned (without recursion) and refused if they nest deeper than
// a policy ever needs or hold more expression syntax than one can use.
const (
	// maxNesting bounds brackets, braces, parentheses, quotes and template
	// sequences open at once. A policy needs 7 at most: namespace,
	// variables and path blocks, a list, a string; JSON a few more.
	maxNesting = 32
	// maxExpressionTokens bounds tokens that no valid policy holds
	// (operators, parentheses, numbers, interpolations...), each of which
	// may cost the parser a level of recursion. A few are let through so
	// that a mistaken value still gets a precise error.
	maxExpressionTokens = 16
	// maxStringParts bounds the pieces (lines of a heredoc, runs between
	// escapes) of one string: HCL's parser joins them in quadratic time.
	maxStringParts = 256
)

// checkNativeShape lexes HCL native syntax and checks it against the limits.
// Lexing errors are left for the parser to report.
func checkNativeShape(src []byte) error {
	tokens, _ := hclsyntax.LexConfig(src, "policy.hcl", hcl.InitialPos)
	depth, foreign, parts := 0, 0, 0
	for _, tok := range tokens {
		switch tok.Type {
		case hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
			depth++
			parts = 0
		case hclsyntax.TokenQuotedLit, hclsyntax.TokenStringLit:
			if parts++; parts > maxStringParts {
				return invalidf("policy: a string has more than %d lines or escapes (line %d, column %d)",
					maxStringParts, tok.Range.Start.Line, tok.Range.Start.Column)
			}
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack:
			depth++
		case hclsyntax.TokenOParen, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
			foreign++
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc,
			hclsyntax.TokenCParen, hclsyntax.TokenTemplateSeqEnd:
			depth = max(depth-1, 0)
		case hclsyntax.TokenIdent, hclsyntax.TokenEqual, hclsyntax.TokenComma, hclsyntax.TokenNewline,
			hclsyntax.TokenComment, hclsyntax.TokenEOF:
			// The whole language of policies.
		default:
			foreign++
		}
		if depth > maxNesting {
			return invalidf("policy: nests deeper than %d levels (line %d, column %d)",
				maxNesting, tok.Range.Start.Line, tok.Range.Start.Column)
		}
		if foreign > maxExpressionTokens {
			return invalidf("policy: values must be quoted strings or lists of them, and this holds more than %d other tokens (line %d, column %d)",
				maxExpressionTokens, tok.Range.Start.Line, tok.Range.Start.Column)
		}
	}
	return nil
}

// checkJSONShape checks the nesting of JSON arrays and objects, skipping
// strings.
func checkJSONShape(src []byte) error {
	depth, line := 0, 1
	inString, escaped := false, false
	for _, c := range src {
		if c == '\n' {
			line++
		}
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			if depth > maxNesting {
				return invalidf("policy: nests deeper than %d levels (line %d)", maxNesting, line)
			}
		case c == ']' || c == '}':
			depth = max(depth-1, 0)
		}
	}
	return nil
}
