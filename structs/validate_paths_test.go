package structs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNamesThatWouldEscapeADirectoryAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(j *Job)
		want   string
	}{
		{"task with a parent component", func(j *Job) { j.TaskGroups[0].Tasks[0].Name = "../../x" },
			`task 0: name "../../x": unsafe name: may not contain '/' or '\'`},
		{"task named ..", func(j *Job) { j.TaskGroups[0].Tasks[0].Name = ".." },
			`task 0: name "..": unsafe name: may not be "." or ".."`},
		{"task named .", func(j *Job) { j.TaskGroups[0].Tasks[0].Name = "." },
			`task 0: name ".": unsafe name`},
		{"task with a backslash", func(j *Job) { j.TaskGroups[0].Tasks[0].Name = `..\x` },
			`task 0: name "..\\x": unsafe name`},
		{"task with NUL", func(j *Job) { j.TaskGroups[0].Tasks[0].Name = "a\x00b" },
			`task 0: name "a\x00b": unsafe name: may not contain a NUL byte`},
		{"task named alloc", func(j *Job) { j.TaskGroups[0].Tasks[0].Name = "alloc" },
			`task 0: name "alloc" is reserved`},
		{"task name too long", func(j *Job) { j.TaskGroups[0].Tasks[0].Name = strings.Repeat("t", 129) },
			`unsafe name: is longer than 128 bytes`},
		{"group with a slash", func(j *Job) { j.TaskGroups[0].Name = "a/../../b" },
			`group 0: name "a/../../b": unsafe name`},
		{"group named ..", func(j *Job) { j.TaskGroups[0].Name = ".." },
			`group 0: name "..": unsafe name`},
		{"job id with a slash", func(j *Job) { j.Id = "../web" },
			`id may hold only letters, digits`},
		{"job id with a NUL", func(j *Job) { j.Id = "web\x00" },
			`id may hold only letters, digits`},
		{"job name with a NUL", func(j *Job) { j.Name = "web\x00" },
			`name may not contain a NUL byte`},
		{"artifact climbing out", func(j *Job) {
			j.TaskGroups[0].Tasks[0].Artifacts = []*Artifact{{Source: "https://example.com/x", Destination: "local/../../../x"}}
		}, `artifact 0: destination "local/../../../x" must be inside the task directory`},
		{"artifact climbing out with backslashes", func(j *Job) {
			j.TaskGroups[0].Tasks[0].Artifacts = []*Artifact{{Source: "https://example.com/x", Destination: `..\..\x`}}
		}, `must be inside the task directory`},
		{"artifact at an absolute path", func(j *Job) {
			j.TaskGroups[0].Tasks[0].Artifacts = []*Artifact{{Source: "https://example.com/x", Destination: `\etc`}}
		}, `must be inside the task directory`},
		{"artifact with NUL", func(j *Job) {
			j.TaskGroups[0].Tasks[0].Artifacts = []*Artifact{{Source: "https://example.com/x", Destination: "local/\x00"}}
		}, `may not contain a NUL byte`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := goodJob()
			j.Canonicalize(50)
			tc.modify(j)
			err := j.Validate(Limits{})
			require.ErrorIs(t, err, ErrValidation)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestSafeNamesAndDestinationsAreAccepted(t *testing.T) {
	j := goodJob()
	j.TaskGroups[0].Name = "api-v2.internal"
	j.TaskGroups[0].Tasks[0].Name = ".hidden_task-1"
	j.TaskGroups[0].Tasks[0].Artifacts = []*Artifact{
		{Source: "https://example.com/x"},
		{Source: "https://example.com/x", Destination: "local/a/../b"},
		{Source: "https://example.com/x", Destination: "."},
		{Source: "https://example.com/x", Destination: "secrets/"},
	}
	j.Canonicalize(50)
	require.NoError(t, j.Validate(Limits{}))
}

func TestCheckPathNameAndValidID(t *testing.T) {
	for _, ok := range []string{"web", "a.b", "..a", "a..", "é"} {
		require.NoError(t, CheckPathName(ok), ok)
	}
	for _, bad := range []string{"", ".", "..", "a/b", `a\b`, "a\x00", strings.Repeat("a", MaxNameLength+1)} {
		require.ErrorIs(t, CheckPathName(bad), ErrUnsafeName, bad)
	}
	require.True(t, ValidID("0f3c9a52-5b1e-4e5a-9b7e-3f1d2c4b5a69"))
	for _, bad := range []string{"", "..", "../x", ".a", "a/b", "a b", "a\x00", strings.Repeat("a", 129)} {
		require.False(t, ValidID(bad), bad)
	}
}

func TestVersionConstraintOperandsMustParse(t *testing.T) {
	withConstraint := func(op, target string) *Job {
		j := goodJob()
		j.TaskGroups[0].Constraints = []*Constraint{{LTarget: "${attr.kernel.version}", Operand: op, RTarget: target}}
		j.TaskGroups[0].Tasks[0].Affinities = []*Affinity{{LTarget: "${attr.kernel.version}", Operand: op, RTarget: target, Weight: 50}}
		j.Canonicalize(50)
		return j
	}
	for _, tc := range []struct{ op, target string }{
		{ConstraintVersion, ">= 1.2, < 2.0"}, {ConstraintVersion, "~> 1.4"}, {ConstraintVersion, "v2"},
		{ConstraintSemver, ">= 1.4.2-alpha"}, {ConstraintSemver, "~> 1.4.0"},
		{ConstraintVersion, "${meta.min_kernel}"}, // known only on each node
	} {
		require.NoError(t, withConstraint(tc.op, tc.target).Validate(Limits{}), "%s %s", tc.op, tc.target)
	}
	for _, tc := range []struct{ op, target, want string }{
		{ConstraintVersion, ">= 1.x.y", `constraint 0 ("${attr.kernel.version}" version ">= 1.x.y"): "1.x.y" is not a version`},
		{ConstraintVersion, "~> abc", `"abc" is not a version`},
		{ConstraintVersion, "", `"" is not a version`},
		{ConstraintSemver, ">= 5.15", `"5.15" is not a semantic version (major.minor.patch)`},
		{ConstraintSemver, "~> abc", `constraint 0 ("${attr.kernel.version}" semver "~> abc"): "abc" is not a semantic version`},
	} {
		err := withConstraint(tc.op, tc.target).Validate(Limits{})
		require.ErrorIs(t, err, ErrValidation)
		require.ErrorContains(t, err, tc.want)
		require.ErrorContains(t, err, `task "srv": affinity 0 ("${attr.kernel.version}" `+tc.op, "affinities are checked too")
	}
	j := withConstraint(ConstraintRegex, "(")
	require.ErrorContains(t, j.Validate(Limits{}), "constraint 0: bad regexp")
}
