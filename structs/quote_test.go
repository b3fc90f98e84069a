package structs

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestQuoteBoundsLongValues(t *testing.T) {
	require.Equal(t, `"web"`, Quote("web"))
	require.Equal(t, strings.Repeat("a", MaxQuotedBytes), Quote(strings.Repeat("a", MaxQuotedBytes))[1:MaxQuotedBytes+1])
	long := strings.Repeat("é", 100) // 200 bytes, two per character
	q := Quote(long)
	require.True(t, utf8.ValidString(q), "cut at a character boundary: %s", q)
	require.True(t, strings.HasSuffix(q, "…(200 bytes)"), q)
	require.Less(t, len(q), MaxQuotedBytes+32)
}

func TestValidationErrorsQuoteABoundedPrefixOfTheInput(t *testing.T) {
	huge := strings.Repeat("x/", 2<<20) // 4 MiB, invalid in several ways
	j := &Job{
		Id: huge, Type: huge, Datacenters: []string{huge},
		Constraints: []*Constraint{{LTarget: "${attr.x}", Operand: "regexp", RTarget: "(" + huge}},
		TaskGroups: []*TaskGroup{{Name: huge, Count: 1, Tasks: []*Task{
			{Name: huge, Driver: "mock", Artifacts: []*Artifact{{Source: huge, Destination: "/" + huge}}},
		}}},
	}
	j.Canonicalize(50)
	err := j.Validate(Limits{})
	require.ErrorIs(t, err, ErrValidation)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	for _, p := range verr.Problems {
		require.Less(t, len(p), 1024, "a problem quotes a bounded prefix: %.200s", p)
	}
	require.Less(t, len(err.Error()), 1024*len(verr.Problems))
	require.Contains(t, err.Error(), "…(4194304 bytes)")
}

func TestInvalidJobIDErrorIsSmall(t *testing.T) {
	j := goodJob()
	j.Id = strings.Repeat("a", 4<<20)
	j.Canonicalize(50)
	err := j.Validate(Limits{})
	require.ErrorIs(t, err, ErrValidation)
	require.Less(t, len(err.Error()), 1024, "%.300s", err.Error())
	require.Contains(t, err.Error(), "id is longer than")
}
