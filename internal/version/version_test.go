package version

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseConstraintRefusesWhatCanNeverMatch(t *testing.T) {
	for _, s := range []string{">= 1.2, < 2.0", "~> 1.4", "= 5.15", "!= v2", "1.2.3-rc1+build"} {
		_, err := ParseConstraint(s, false)
		require.NoError(t, err, s)
	}
	for _, s := range []string{">= 1.2.3", "~> 1.4.0, != 1.4.2", ">= 1.4.2-alpha"} {
		_, err := ParseConstraint(s, true)
		require.NoError(t, err, s)
	}
	for _, tc := range []struct {
		s      string
		strict bool
		part   string
	}{
		{">= 1.x.y", false, "1.x.y"},
		{"~> abc", false, "abc"},
		{"", false, ""},
		{">= 1.0,", false, ""},
		{">= 1.2, < two", false, "two"},
		{">= 5.15", true, "5.15"},
		{"~> v1.2.3", true, "v1.2.3"},
		{"1.2.3-", true, "1.2.3-"},
	} {
		_, err := ParseConstraint(tc.s, tc.strict)
		var perr *ParseError
		require.True(t, errors.As(err, &perr), "%q: %v", tc.s, err)
		require.Equal(t, tc.part, perr.Part)
		require.Equal(t, tc.strict, perr.Strict)
	}
}

func TestMatches(t *testing.T) {
	require.True(t, Matches("5.15.0", ">= 5.10, < 6.0", false))
	require.True(t, Matches("5.15.0", "~> 5.15", false))
	require.False(t, Matches("5.15.0", "~> 5.14.1", false))
	require.False(t, Matches("1.4.2-beta.1", ">= 1.4.0", true))
	require.True(t, Matches("1.4.2-beta.1", ">= 1.4.2-alpha", true))
	require.False(t, Matches("5.15.0", "not a version", false))
	require.False(t, Matches("not a version", ">= 1", false))
}

// FuzzMatches: node attributes and job constraints are free text;
// comparing them never panics, a version always matches itself, and a
// constraint that matches something parses.
func FuzzMatches(f *testing.F) {
	for _, s := range [][2]string{{"1.2.3", ">= 1.2, < 2"}, {"1.4.2-beta.1", "~> 1.4"}, {"v2", "!= 2.0.0"}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, value, constraint string) {
		for _, strict := range []bool{false, true} {
			if Matches(value, constraint, strict) {
				if _, err := ParseConstraint(constraint, strict); err != nil {
					t.Fatalf("%q matches %q but does not parse: %v", value, constraint, err)
				}
			}
		}
		if v, ok := Parse(value, false); ok && v.Compare(v) != 0 {
			t.Fatalf("%q does not equal itself", value)
		}
	})
}
