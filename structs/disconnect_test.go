package structs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestValidateMaxClientDisconnect(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window *durationpb.Duration
		want   string
	}{
		{"unset", nil, ""},
		{"positive", durationpb.New(5 * time.Minute), ""},
		{"negative", durationpb.New(-time.Second), `job "web": group "api": max_client_disconnect must be >= 0`},
		{"malformed", &durationpb.Duration{Seconds: 1, Nanos: -1}, `job "web": group "api": max_client_disconnect: ` +
			(&durationpb.Duration{Seconds: 1, Nanos: -1}).CheckValid().Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := goodJob()
			j.TaskGroups[0].MaxClientDisconnect = tc.window
			j.Canonicalize(50)
			err := j.Validate(Limits{})
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			requireProblems(t, err, tc.want)
		})
	}
}

func TestCanonicalizeDropsAZeroDisconnectWindow(t *testing.T) {
	zero, unset := goodJob(), goodJob()
	zero.TaskGroups[0].MaxClientDisconnect = durationpb.New(0)
	zero.Canonicalize(50)
	unset.Canonicalize(50)
	require.Nil(t, zero.TaskGroups[0].MaxClientDisconnect)
	require.True(t, SpecEqual(zero, unset), "a zero window and none are the same job")

	set := goodJob()
	set.TaskGroups[0].MaxClientDisconnect = durationpb.New(time.Minute)
	set.Canonicalize(50)
	require.Equal(t, time.Minute, set.TaskGroups[0].MaxClientDisconnect.AsDuration())
	require.False(t, SpecEqual(set, unset))
}

func TestAllocationDisconnectWindow(t *testing.T) {
	job := goodJob()
	job.TaskGroups = append(job.TaskGroups, &TaskGroup{Name: "cache", MaxClientDisconnect: durationpb.New(time.Minute)})
	at := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name          string
		alloc         *Allocation
		window        time.Duration
		canDisconnect bool
		expiry        time.Time
	}{
		{"group without a window", &Allocation{Job: job, TaskGroup: "api", DesiredStatus: AllocDesiredRun, ClientStatus: AllocClientRunning},
			0, false, time.Time{}},
		{"group with a window", &Allocation{Job: job, TaskGroup: "cache", DesiredStatus: AllocDesiredRun, ClientStatus: AllocClientRunning},
			time.Minute, true, time.Time{}},
		{"pending counts too", &Allocation{Job: job, TaskGroup: "cache", DesiredStatus: AllocDesiredRun, ClientStatus: AllocClientPending},
			time.Minute, true, time.Time{}},
		{"already stopping", &Allocation{Job: job, TaskGroup: "cache", DesiredStatus: AllocDesiredStop, ClientStatus: AllocClientRunning},
			time.Minute, false, time.Time{}},
		{"finished", &Allocation{Job: job, TaskGroup: "cache", DesiredStatus: AllocDesiredRun, ClientStatus: AllocClientComplete},
			time.Minute, false, time.Time{}},
		{"no job", &Allocation{TaskGroup: "cache", DesiredStatus: AllocDesiredRun, ClientStatus: AllocClientRunning},
			0, false, time.Time{}},
		{"disconnected", &Allocation{Job: job, TaskGroup: "cache", DesiredStatus: AllocDesiredRun, ClientStatus: AllocClientUnknown,
			DisconnectedAt: at.UnixNano()}, time.Minute, true, at.Add(time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.alloc
			require.Equal(t, tc.window, a.DisconnectWindow())
			require.Equal(t, tc.canDisconnect, a.CanDisconnect())
			exp, ok := a.DisconnectExpiry()
			require.Equal(t, !tc.expiry.IsZero(), ok)
			require.Equal(t, !tc.expiry.IsZero(), a.Disconnected())
			require.True(t, exp.Equal(tc.expiry), "expiry %v, want %v", exp, tc.expiry)
		})
	}
	unknown := &Allocation{DesiredStatus: AllocDesiredRun, ClientStatus: AllocClientUnknown}
	require.False(t, unknown.ClientTerminal(), "an unknown allocation may still be running")
	require.False(t, unknown.IsTerminal())
}
