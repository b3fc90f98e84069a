package structs

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A cron in a time zone keeps its wall-clock time across a daylight
// saving change: 09:00 in New York is 14:00 UTC before the 2026 spring
// change (8 March) and 13:00 UTC after it.
func TestPeriodicTimeZoneAcrossDaylightSaving(t *testing.T) {
	p := &PeriodicConfig{Specs: []string{"0 9 * * *"}, TimeZone: "America/New_York"}
	at := time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC)
	var got []time.Time
	for range 4 {
		n, err := p.Next(at)
		require.NoError(t, err)
		got = append(got, n.UTC())
		at = n
	}
	require.Equal(t, []time.Time{
		time.Date(2026, 3, 7, 14, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 8, 13, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC),
	}, got)

	// The autumn change: 01:30 happens twice on 1 November 2026; the
	// cron launches once that day.
	p = &PeriodicConfig{Specs: []string{"30 1 * * *"}, TimeZone: "America/New_York"}
	at = time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC)
	var day []time.Time
	for range 3 {
		n, err := p.Next(at)
		require.NoError(t, err)
		day = append(day, n.UTC())
		at = n
	}
	require.Equal(t, time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), day[0], "01:30 EDT")
	require.Equal(t, time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC), day[1], "the next day, 01:30 EST: not twice on the 1st")
}

func TestLatestDueLaunchesOnlyTheLatestMissed(t *testing.T) {
	p := &PeriodicConfig{Specs: []string{"*/5 * * * *"}}
	last := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	due, err := p.LatestDue(last, last.Add(37*time.Minute))
	require.NoError(t, err)
	require.Equal(t, last.Add(35*time.Minute), due)
	due, err = p.LatestDue(last, last.Add(4*time.Minute))
	require.NoError(t, err)
	require.True(t, due.IsZero(), "nothing due yet")
	// Every second for a year: bounded work, still the latest second.
	p = &PeriodicConfig{Specs: []string{"* * * * * * *"}}
	now := last.Add(365 * 24 * time.Hour).Add(500 * time.Millisecond)
	due, err = p.LatestDue(last, now)
	require.NoError(t, err)
	require.Equal(t, now.Truncate(time.Second), due)
}

func TestPeriodicParameterizedAndScalingAreValidated(t *testing.T) {
	job := func() *Job {
		j := goodJob()
		j.Type = JobTypeBatch
		j.Canonicalize(50)
		return j
	}
	j := job()
	j.Periodic = &PeriodicConfig{Specs: []string{"bad cron"}, TimeZone: "Mars/Olympus"}
	requireProblemsLike(t, j.Validate(Limits{}), `job "web": periodic: cron "bad cron" is invalid`, `job "web": periodic: time_zone "Mars/Olympus" is invalid`)
	j = job()
	j.Parameterized = &ParameterizedJobConfig{Payload: "maybe", MetaRequired: []string{"a"}, MetaOptional: []string{"a"}}
	requireProblemsLike(t, j.Validate(Limits{}), `payload "maybe" is not one of`, `meta key "a" is both required and optional`)
	j = job()
	j.Type = JobTypeService
	j.Parameterized = &ParameterizedJobConfig{}
	requireProblemsLike(t, j.Validate(Limits{}), `only batch and sysbatch jobs can be parameterized`)
	j = job()
	j.TaskGroups[0].Scaling = &ScalingPolicy{Min: 2, Max: 1}
	requireProblemsLike(t, j.Validate(Limits{}), `scaling: min 2 is greater than max 1`)
	j = job()
	j.TaskGroups[0].Count = 5
	j.TaskGroups[0].Scaling = &ScalingPolicy{Min: 1, Max: 3}
	requireProblemsLike(t, j.Validate(Limits{}), `count 5 is outside the scaling bounds [1, 3]`)
	j = job()
	j.Parameterized = &ParameterizedJobConfig{}
	j.TaskGroups[0].Tasks[0].DispatchPayload = &DispatchPayloadConfig{File: "../../etc/passwd"}
	requireProblemsLike(t, j.Validate(Limits{}), `dispatch_payload: file "../../etc/passwd" must be inside the task directory`)
	j = job()
	j.TaskGroups[0].Tasks[0].DispatchPayload = &DispatchPayloadConfig{File: "in"}
	requireProblemsLike(t, j.Validate(Limits{}), `only tasks of parameterized jobs take a payload`)
}

func TestValidateDispatchNamesEveryKey(t *testing.T) {
	j := &Job{Id: "w", Parameterized: &ParameterizedJobConfig{Payload: DispatchPayloadForbidden, MetaRequired: []string{"a", "b"}, MetaOptional: []string{"c"}}}
	err := j.ValidateDispatch([]byte("x"), map[string]string{"a": "1", "c": "2", "z": "3"})
	requireProblemsLike(t, err, "a payload is forbidden", `meta key "z" is not allowed`, `required meta key "b" is missing`)
	require.NoError(t, j.ValidateDispatch(nil, map[string]string{"a": "1", "b": "2"}))
}

func FuzzPeriodicConfig(f *testing.F) {
	f.Add("*/5 * * * *", "Europe/Paris")
	f.Add("* * * * * * *", "")
	f.Add("@daily", "America/New_York")
	f.Fuzz(func(t *testing.T, spec, tz string) {
		j := &Job{Id: "f", Namespace: "default", Type: JobTypeBatch, Priority: 50,
			Periodic: &PeriodicConfig{Specs: []string{spec}, TimeZone: tz}}
		if j.Validate(Limits{}) != nil {
			return
		}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		_, _ = j.Periodic.LatestDue(at, at.Add(48*time.Hour))
	})
}

// requireProblemsLike checks that err is a *ValidationError with one
// problem containing each of want, and no others.
func requireProblemsLike(t *testing.T, err error, want ...string) {
	t.Helper()
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Problems, len(want), "%q", verr.Problems)
	for _, w := range want {
		found := false
		for _, p := range verr.Problems {
			found = found || strings.Contains(p, w)
		}
		require.True(t, found, "no problem says %q: %q", w, verr.Problems)
	}
}

func FuzzValidateDispatch(f *testing.F) {
	f.Add("required", "a", "b", []byte("x"), "a", "1")
	f.Add("forbidden", "", "", []byte{}, "z", "")
	f.Fuzz(func(t *testing.T, rule, required, optional string, payload []byte, key, value string) {
		j := &Job{Id: "f", Parameterized: &ParameterizedJobConfig{Payload: rule, MetaRequired: []string{required}, MetaOptional: []string{optional}}}
		err := j.ValidateDispatch(payload, map[string]string{key: value})
		if err == nil {
			// Accepted: the key is declared and every required key given.
			if key != required && key != optional {
				t.Fatalf("undeclared key %q accepted", key)
			}
			if required != key {
				t.Fatalf("required key %q missing but accepted", required)
			}
			if len(payload) > DispatchPayloadSizeLimit {
				t.Fatal("oversized payload accepted")
			}
		}
	})
}
