package structs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestArtifactsLogsAndUserAreValidated(t *testing.T) {
	job := func(task *Task) *Job {
		j := &Job{Id: "j", TaskGroups: []*TaskGroup{{Name: "g", Count: 1, Tasks: []*Task{task}}}}
		j.Canonicalize(50)
		return j
	}
	good := &Task{Name: "t", Driver: "exec", Artifacts: []*Artifact{
		{Source: "https://example.com/app.tar.gz", Destination: "local/app",
			Options: map[string]string{"checksum": "sha256:" + strings.Repeat("ab", 32), "archive": "true"}},
		{Source: "/opt/shared/config.json"},
		{Source: "file:///opt/shared/x"},
	}, Logs: &LogConfig{MaxFiles: 3, MaxFileSizeMb: 5}, User: "nobody"}
	require.NoError(t, job(good).Validate(Limits{}))

	bad := &Task{Name: "t", Driver: "exec", Artifacts: []*Artifact{
		nil,
		{},
		{Source: "ftp://example.com/x"},
		{Source: "https://example.com/x", Destination: "../../etc"},
		{Source: "https://example.com/x", Destination: "/etc"},
		{Source: "https://example.com/x", Options: map[string]string{"checksum": "md5:abc"}},
		{Source: "https://example.com/x", Options: map[string]string{"checksum": "sha256:abcd"}},
		{Source: "https://example.com/x", Options: map[string]string{"archive": "maybe", "headers": "x"}},
	}, Logs: &LogConfig{MaxFiles: -1, MaxFileSizeMb: -1}, User: "../root"}
	err := job(bad).Validate(Limits{})
	require.ErrorIs(t, err, ErrValidation)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	for _, want := range []string{
		"artifact 0: is missing", "artifact 1: source is required", `scheme must be http, https or file`,
		`destination "../../etc"`, `destination "/etc"`, `checksum "md5:abc"`, `want 32 hex-encoded bytes`,
		`option archive must be true or false`, `unknown option "headers"`, "logs: max_files", "logs: max_file_size",
		`user "../root" must be a user name or id`,
	} {
		require.Contains(t, err.Error(), want)
	}
	require.Len(t, verr.Problems, 12, "every problem is reported")
}
