package driver

import (
	"net"
	"strconv"
	"strings"
)

// Environment variable prefixes. Every variable a task is given about
// itself is set under drover's prefix and, with the same value, under
// Nomad's, so that jobs written for Nomad keep working.
const (
	EnvPrefix      = "DROVER_"
	NomadEnvPrefix = "NOMAD_"
)

// Where a driver that gives a task a root of its own (exec's chroot, a
// container) mounts the task's directories in it, as Nomad does.
const (
	// AllocDirInTask is the allocation's shared directory.
	AllocDirInTask = "/alloc"
	// LocalDirInTask is the task's local/.
	LocalDirInTask = "/local"
	// SecretsDirInTask is the task's secrets/.
	SecretsDirInTask = "/secrets"
)

// EnvInOwnRoot returns a copy of env whose directory variables
// (ALLOC_DIR, TASK_DIR and SECRETS_DIR, drover's and Nomad's) name the
// directories where a task with a root of its own finds them.
func EnvInOwnRoot(env map[string]string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = v
	}
	for _, p := range []string{EnvPrefix, NomadEnvPrefix} {
		for name, dir := range map[string]string{
			"ALLOC_DIR": AllocDirInTask, "TASK_DIR": LocalDirInTask, "SECRETS_DIR": SecretsDirInTask,
		} {
			if _, ok := out[p+name]; ok {
				out[p+name] = dir
			}
		}
	}
	return out
}

// Port is a network port reserved for a task, published to it as
// <prefix>PORT_<label> and friends.
type Port struct {
	// Label names the port in the job, e.g. "http".
	Label string
	// HostIP is the address the port is reachable on.
	HostIP string
	// Value is the port on the host.
	Value int
	// To is the port the task listens on when it differs from Value
	// (mapped ports); 0 means Value.
	To int
}

// TaskEnv is what a task is told about itself through its environment.
// Map turns it into variables; the client fills it in for every task and
// drivers hand the result to the task unchanged.
type TaskEnv struct {
	AllocID    string
	AllocName  string
	AllocIndex int
	// AllocDir is the directory every task of the allocation shares.
	AllocDir string
	// TaskDir is the task's private directory ("local" under its root).
	TaskDir string
	// SecretsDir is the task's directory for secrets.
	SecretsDir string
	TaskName   string
	GroupName  string
	JobID      string
	JobName    string
	Namespace  string
	Region     string
	Datacenter string
	NodeID     string
	NodeName   string
	NodeClass  string
	// CPULimit (MHz) and MemoryLimit (MB) are what the task reserved.
	CPULimit    int64
	MemoryLimit int64
	Ports       []Port
	// Meta is the job's, group's and task's meta merged, published as
	// <prefix>META_<key>.
	Meta map[string]string
	// Env is the task's own env block; it is applied last and wins.
	Env map[string]string
}

// Map returns the environment as variables.
func (e *TaskEnv) Map() map[string]string {
	facts := map[string]string{
		"ALLOC_ID":       e.AllocID,
		"SHORT_ALLOC_ID": shortID(e.AllocID),
		"ALLOC_NAME":     e.AllocName,
		"ALLOC_INDEX":    strconv.Itoa(e.AllocIndex),
		"ALLOC_DIR":      e.AllocDir,
		"TASK_DIR":       e.TaskDir,
		"SECRETS_DIR":    e.SecretsDir,
		"TASK_NAME":      e.TaskName,
		"GROUP_NAME":     e.GroupName,
		"JOB_ID":         e.JobID,
		"JOB_NAME":       e.JobName,
		"NAMESPACE":      e.Namespace,
		"REGION":         e.Region,
		"DC":             e.Datacenter,
		"NODE_ID":        e.NodeID,
		"NODE_NAME":      e.NodeName,
		"NODE_CLASS":     e.NodeClass,
		"CPU_LIMIT":      strconv.FormatInt(e.CPULimit, 10),
		"MEMORY_LIMIT":   strconv.FormatInt(e.MemoryLimit, 10),
	}
	for _, p := range e.Ports {
		label := envName(p.Label)
		to := p.To
		if to == 0 {
			to = p.Value
		}
		host := strconv.Itoa(p.Value)
		facts["IP_"+label] = p.HostIP
		facts["PORT_"+label] = strconv.Itoa(to)
		facts["ADDR_"+label] = net.JoinHostPort(p.HostIP, strconv.Itoa(to))
		facts["HOST_IP_"+label] = p.HostIP
		facts["HOST_PORT_"+label] = host
		facts["HOST_ADDR_"+label] = net.JoinHostPort(p.HostIP, host)
	}
	for k, v := range e.Meta {
		facts["META_"+envName(k)] = v
	}
	env := make(map[string]string, 2*len(facts)+len(e.Env))
	for k, v := range facts {
		env[EnvPrefix+k] = v
		env[NomadEnvPrefix+k] = v
	}
	for k, v := range e.Env {
		env[k] = v
	}
	return env
}

// shortID is the first eight characters of an id, as Nomad shows them.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// envName makes a label usable in a variable name: characters other than
// letters, digits and '_' become '_'.
func envName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, s)
}
