package structs

import (
	"encoding/hex"
	"hash/fnv"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"
)

// SpecEqual reports whether two versions of a job ask for the same thing:
// they differ at most in the fields the servers maintain (status, version,
// indexes, times).
func SpecEqual(a, b *Job) bool {
	return proto.Equal(specOf(a), specOf(b))
}

func specOf(j *Job) *Job {
	c := proto.Clone(j).(*Job)
	c.Status, c.Version, c.CreateIndex, c.ModifyIndex, c.JobModifyIndex = "", 0, 0, 0, 0
	c.SubmitTime, c.StatusUpdatedAt, c.Stable = 0, 0, false
	return c
}

// ComputeNodeClass hashes what feasibility depends on besides a node's
// identity and resources: datacenter, node class, attributes, meta, the
// drivers and their health. Nodes with the same computed class pass or
// fail the same constraints, so a scheduler checks one of them for all,
// and a blocked evaluation wakes only for classes it could use.
func ComputeNodeClass(n *Node) string {
	h := fnv.New64a()
	write := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	write("dc", n.GetDatacenter(), "class", n.GetNodeClass())
	for _, m := range []map[string]string{n.GetAttributes(), n.GetMeta()} {
		keys := make([]string, 0, len(m))
		for k := range m {
			if !isUniqueAttribute(k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		write("map")
		for _, k := range keys {
			write(k, m[k])
		}
	}
	drivers := make([]string, 0, len(n.GetDrivers()))
	for name := range n.GetDrivers() {
		drivers = append(drivers, name)
	}
	slices.Sort(drivers)
	for _, name := range drivers {
		d := n.Drivers[name]
		write("driver", name, strconv.FormatBool(d.GetDetected()), strconv.FormatBool(d.GetHealthy()))
	}
	return "v1:" + hex.EncodeToString(h.Sum(nil))
}

// isUniqueAttribute reports whether an attribute or meta key is specific to
// one node (Nomad's "unique." namespace), so it is left out of the class.
func isUniqueAttribute(k string) bool {
	return len(k) >= 7 && k[:7] == "unique."
}
