package api

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/droverhq/drover/structs"
)

// serviceJSON is Nomad's Service. drover runs its checks on the client
// (whatever the provider); a service with provider "nomad" is registered
// with the servers (native service discovery), one with provider
// "consul" (Nomad's default) nowhere.
type serviceJSON struct {
	Name              string
	Tags              []string
	CanaryTags        []string
	EnableTagOverride bool
	PortLabel         string
	AddressMode       string
	Address           string
	Checks            []*checkJSON
	CheckRestart      *checkRestartJSON
	Meta              map[string]string
	CanaryMeta        map[string]string
	TaskName          string
	OnUpdate          string
	Provider          string

	Connect         json.RawMessage
	Identity        json.RawMessage
	Weights         json.RawMessage
	TaggedAddresses map[string]string
	Cluster         string
	Kind            string
}

// checkJSON is Nomad's ServiceCheck; durations in nanoseconds.
type checkJSON struct {
	Name                   string
	Type                   string
	Command                string
	Args                   []string
	Path                   string
	Protocol               string
	PortLabel              string
	Expose                 bool
	AddressMode            string
	Advertise              string
	Interval               int64
	Timeout                int64
	InitialStatus          string
	Notes                  string
	TLSServerName          string
	TLSSkipVerify          bool
	Header                 map[string][]string
	Method                 string
	CheckRestart           *checkRestartJSON
	GRPCService            string
	GRPCUseTLS             bool
	TaskName               string
	SuccessBeforePassing   int
	FailuresBeforeCritical int
	FailuresBeforeWarning  int
	Body                   string
	OnUpdate               string
}

// checkRestartJSON is Nomad's CheckRestart; grace in nanoseconds.
type checkRestartJSON struct {
	Limit          int
	Grace          *int64
	IgnoreWarnings bool
}

func (c *jobConversion) services(path string, in []*serviceJSON) []*structs.Service {
	var out []*structs.Service
	for i, s := range in {
		if s == nil {
			c.problem(path, "service %d is null", i)
			continue
		}
		sp := fmt.Sprintf("%sservice %q: ", path, s.Name)
		c.refuse(sp, map[string]bool{
			"Connect": isSet(s.Connect), "Identity": isSet(s.Identity), "Cluster": s.Cluster != "" && s.Cluster != "default", "Kind": s.Kind != "",
			"AddressMode " + s.AddressMode: !hostAddressMode(s.AddressMode), "Address": s.Address != "",
		})
		c.refuse(sp, map[string]bool{"Provider " + s.Provider: s.Provider != "" && s.Provider != structs.ServiceProviderNomad && s.Provider != structs.ServiceProviderConsul})
		svc := &structs.Service{Name: s.Name, Port: s.PortLabel, Tags: s.Tags, Task: s.TaskName, Provider: s.Provider, Meta: s.Meta, AddressMode: s.AddressMode}
		for k, ck := range s.Checks {
			if ck == nil {
				c.problem(sp, "check %d is null", k)
				continue
			}
			svc.Checks = append(svc.Checks, c.check(sp, ck, s))
		}
		out = append(out, svc)
	}
	return out
}

func hostAddressMode(m string) bool { return m == "" || m == "auto" || m == "host" }

func (c *jobConversion) check(servicePath string, in *checkJSON, s *serviceJSON) *structs.ServiceCheck {
	cp := fmt.Sprintf("%scheck %q: ", servicePath, in.Name)
	c.refuse(cp, map[string]bool{
		"Expose": in.Expose, "AddressMode " + in.AddressMode: !hostAddressMode(in.AddressMode),
		"Advertise": in.Advertise != "", "TLSServerName": in.TLSServerName != "", "TLSSkipVerify": in.TLSSkipVerify,
		"Header": len(in.Header) > 0, "Body": in.Body != "", "GRPCService": in.GRPCService != "", "GRPCUseTLS": in.GRPCUseTLS,
		"SuccessBeforePassing": in.SuccessBeforePassing > 0, "FailuresBeforeCritical": in.FailuresBeforeCritical > 0,
		"FailuresBeforeWarning": in.FailuresBeforeWarning > 0,
	})
	out := &structs.ServiceCheck{
		Name: in.Name, Type: in.Type, Path: in.Path, Port: in.PortLabel, Method: in.Method, Protocol: in.Protocol,
		Command: in.Command, Args: in.Args, OnUpdate: in.OnUpdate, Task: in.TaskName,
	}
	if in.Interval != 0 {
		out.Interval = durationpb.New(time.Duration(in.Interval))
	}
	if in.Timeout != 0 {
		out.Timeout = durationpb.New(time.Duration(in.Timeout))
	}
	if out.OnUpdate == "" {
		out.OnUpdate = s.OnUpdate
	}
	cr := in.CheckRestart
	if cr == nil {
		cr = s.CheckRestart
	}
	if cr != nil {
		out.CheckRestart = &structs.CheckRestart{Limit: int32(clampInt(cr.Limit)), IgnoreWarnings: cr.IgnoreWarnings}
		if cr.Grace != nil {
			out.CheckRestart.Grace = durationpb.New(time.Duration(*cr.Grace))
		}
	}
	return out
}

func servicesToJSON(in []*structs.Service) []*serviceJSON {
	if len(in) == 0 {
		return nil
	}
	out := make([]*serviceJSON, 0, len(in))
	for _, s := range in {
		provider := s.Provider
		if provider == "" {
			provider = structs.ServiceProviderConsul
		}
		mode := s.AddressMode
		if mode == "" {
			mode = "auto"
		}
		sj := &serviceJSON{Name: s.Name, Tags: s.Tags, PortLabel: s.Port, TaskName: s.Task, Provider: provider, AddressMode: mode, Meta: s.Meta}
		for _, ck := range s.Checks {
			cj := &checkJSON{
				Name: ck.Name, Type: ck.Type, Command: ck.Command, Args: ck.Args, Path: ck.Path, Protocol: ck.Protocol,
				PortLabel: ck.Port, Interval: int64(ck.Interval.AsDuration()), Timeout: int64(ck.Timeout.AsDuration()),
				Method: ck.Method, TaskName: ck.Task, OnUpdate: ck.OnUpdate, AddressMode: "host",
			}
			if cr := ck.CheckRestart; cr != nil {
				cj.CheckRestart = &checkRestartJSON{Limit: int(cr.Limit), Grace: ptr(int64(cr.Grace.AsDuration())), IgnoreWarnings: cr.IgnoreWarnings}
			}
			sj.Checks = append(sj.Checks, cj)
		}
		out = append(out, sj)
	}
	return out
}
