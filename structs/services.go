package structs

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
)

// Service check types.
const (
	CheckTypeHTTP   = "http"
	CheckTypeTCP    = "tcp"
	CheckTypeScript = "script"
)

// Check on_update values: whether a check decides the allocation's health.
const (
	OnUpdateRequireHealthy = "require_healthy"
	OnUpdateIgnoreWarnings = "ignore_warnings"
	OnUpdateIgnore         = "ignore"
)

// Check statuses.
const (
	CheckPassing  = "passing"
	CheckWarning  = "warning"
	CheckCritical = "critical"
	CheckPending  = "pending"
)

// minCheckInterval is the shortest check interval and timeout Nomad
// accepts.
const minCheckInterval = time.Second

// canonicalizeServices names the group's and its tasks' services and
// checks as Nomad does, and fills in the checks' protocol, method and
// on_update.
func canonicalizeServices(j *Job, tg *TaskGroup) {
	for _, s := range tg.Services {
		canonicalizeService(s, j.Name+"-"+tg.Name)
	}
	for _, t := range tg.Tasks {
		if t == nil {
			continue
		}
		for _, s := range t.Services {
			canonicalizeService(s, j.Name+"-"+tg.Name+"-"+t.Name)
		}
	}
}

func canonicalizeService(s *Service, defaultName string) {
	if s == nil {
		return
	}
	if s.Name == "" {
		s.Name = defaultName
	}
	for _, c := range s.Checks {
		if c == nil {
			continue
		}
		if c.Name == "" {
			c.Name = "service: " + strconv.Quote(s.Name) + " check"
		}
		if c.Type == CheckTypeHTTP {
			if c.Protocol == "" {
				c.Protocol = "http"
			}
			if c.Method == "" {
				c.Method = "GET"
			}
		}
		if c.OnUpdate == "" {
			c.OnUpdate = OnUpdateRequireHealthy
		}
	}
}

// validateServices checks the services of a group and of its tasks: a
// port that names one of the group's ports (or is a number), and checks
// that can run.
func validateServices(p *problems, prefix string, tg *TaskGroup) {
	labels := map[string]bool{}
	for _, port := range tg.GetNetwork().GetPorts() {
		labels[port.GetLabel()] = true
	}
	tasks := map[string]bool{}
	for _, t := range tg.Tasks {
		tasks[t.GetName()] = true
	}
	for i, s := range tg.Services {
		validateService(p, prefix, i, s, labels, tasks, true)
	}
	for _, t := range tg.Tasks {
		if t == nil {
			continue
		}
		for i, s := range t.Services {
			validateService(p, prefix+"task "+Quote(t.Name)+": ", i, s, labels, tasks, false)
		}
	}
}

func validateService(p *problems, prefix string, i int, s *Service, labels, tasks map[string]bool, group bool) {
	if s == nil {
		p.addf(prefix, "service %d is missing", i)
		return
	}
	sp := prefix + "service " + Quote(s.Name) + ": "
	switch s.Provider {
	case "", ServiceProviderConsul:
	case ServiceProviderNomad:
		if !strings.Contains(s.Name, "${") && !ValidServiceName(s.Name) {
			p.addf(sp, "a service registered with provider %q needs a name of 1 to 63 letters, digits and dashes, not starting or ending with a dash", ServiceProviderNomad)
		}
	default:
		p.addf(sp, "provider %s is not one of nomad, consul", Quote(s.Provider))
	}
	if s.Port != "" && !portKnown(s.Port, labels) {
		p.addf(sp, "port %s is not a port label of the group's network nor a port number", Quote(s.Port))
	}
	if group && s.Task != "" && !tasks[s.Task] {
		p.addf(sp, "task %s is not a task of the group", Quote(s.Task))
	}
	names := map[string]bool{}
	for k, c := range s.Checks {
		if c == nil {
			p.addf(sp, "check %d is missing", k)
			continue
		}
		cp := sp + "check " + Quote(c.Name) + ": "
		if names[c.Name] {
			p.addf(sp, "check %s is defined more than once", Quote(c.Name))
		}
		names[c.Name] = true
		switch c.Type {
		case CheckTypeHTTP, CheckTypeTCP:
			port := c.Port
			if port == "" {
				port = s.Port
			}
			switch {
			case port == "":
				p.addf(cp, "a %s check needs a port (on the check or its service)", c.Type)
			case !portKnown(port, labels):
				p.addf(cp, "port %s is not a port label of the group's network nor a port number", Quote(port))
			}
			if c.Type == CheckTypeHTTP {
				if c.Path == "" {
					p.addf(cp, "path is required for an http check")
				}
				if c.Protocol != "http" && c.Protocol != "https" {
					p.addf(cp, "protocol %s is not one of http, https", Quote(c.Protocol))
				}
			}
		case CheckTypeScript:
			if c.Command == "" {
				p.addf(cp, "command is required for a script check")
			}
			if group && c.Task == "" && s.Task == "" {
				p.addf(cp, "a script check of a group service needs a task")
			}
			if group && c.Task != "" && !tasks[c.Task] {
				p.addf(cp, "task %s is not a task of the group", Quote(c.Task))
			}
		default:
			p.addf(cp, "type %s is not one of http, tcp, script", Quote(c.Type))
		}
		validateCheckDuration(p, cp, "interval", c.Interval)
		validateCheckDuration(p, cp, "timeout", c.Timeout)
		switch c.OnUpdate {
		case OnUpdateRequireHealthy, OnUpdateIgnoreWarnings, OnUpdateIgnore:
		default:
			p.addf(cp, "on_update %s is not one of require_healthy, ignore_warnings, ignore", Quote(c.OnUpdate))
		}
		if r := c.CheckRestart; r != nil {
			if r.Limit < 0 {
				p.addf(cp, "check_restart: limit must be >= 0, got %d", r.Limit)
			}
			if r.Grace.AsDuration() < 0 {
				p.addf(cp, "check_restart: grace must be >= 0")
			}
		}
	}
}

func validateCheckDuration(p *problems, prefix, name string, d *durationpb.Duration) {
	switch {
	case d == nil:
		p.addf(prefix, "%s is required", name)
	case d.CheckValid() != nil:
		p.addf(prefix, "%s: %v", name, d.CheckValid())
	case d.AsDuration() < minCheckInterval:
		p.addf(prefix, "%s must be at least %s, got %s", name, minCheckInterval, d.AsDuration())
	}
}

// portKnown reports whether port names one of labels or is a port number.
func portKnown(port string, labels map[string]bool) bool {
	if labels[port] {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n <= 65535
}

// Checks returns every check of the group's and its tasks' services, each
// with the service it belongs to and the task it runs for ("" for a group
// check without one).
func (tg *TaskGroup) Checks() []ServiceCheckRef {
	var out []ServiceCheckRef
	for _, s := range tg.GetServices() {
		for _, c := range s.GetChecks() {
			task := c.GetTask()
			if task == "" {
				task = s.GetTask()
			}
			out = append(out, ServiceCheckRef{Service: s, Check: c, Task: task})
		}
	}
	for _, t := range tg.GetTasks() {
		for _, s := range t.GetServices() {
			for _, c := range s.GetChecks() {
				out = append(out, ServiceCheckRef{Service: s, Check: c, Task: t.GetName()})
			}
		}
	}
	return out
}

// ServiceCheckRef is a check with the service and task it belongs to.
type ServiceCheckRef struct {
	Service *Service
	Check   *ServiceCheck
	Task    string
}

// Service providers.
const (
	// ServiceProviderNomad registers a service with the servers (native
	// service discovery).
	ServiceProviderNomad = "nomad"
	// ServiceProviderConsul is Nomad's default provider: drover runs the
	// service's checks but registers it nowhere.
	ServiceProviderConsul = "consul"
)

// ValidServiceName is Nomad's rule for the names of services it
// registers: an RFC 1123 label (letters, digits and dashes, 1 to 63, not
// starting or ending with a dash).
func ValidServiceName(name string) bool {
	if name == "" || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
