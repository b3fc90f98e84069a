package interpolate

import (
	"google.golang.org/protobuf/proto"

	"github.com/droverhq/drover/structs"
)

// Service returns a copy of s with its name, port label, tags and its
// checks' names, paths, commands and arguments interpolated, as a client
// registers and checks it.
func (v Vars) Service(s *structs.Service) *structs.Service {
	if s == nil {
		return nil
	}
	out := proto.Clone(s).(*structs.Service)
	out.Name, out.Port, out.Tags = v.String(s.Name), v.String(s.Port), v.Strings(s.Tags)
	for i, c := range out.Checks {
		out.Checks[i] = v.Check(c)
	}
	return out
}

// Check returns a copy of c with its name, path, port label, command and
// arguments interpolated.
func (v Vars) Check(c *structs.ServiceCheck) *structs.ServiceCheck {
	if c == nil {
		return nil
	}
	out := proto.Clone(c).(*structs.ServiceCheck)
	out.Name, out.Path, out.Port = v.String(c.Name), v.String(c.Path), v.String(c.Port)
	out.Command, out.Args = v.String(c.Command), v.Strings(c.Args)
	return out
}
