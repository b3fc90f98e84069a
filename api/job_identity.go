package api

import (
	"encoding/json"
	"slices"

	"github.com/droverhq/drover/structs"
)

// identityJSON is Nomad's WorkloadIdentity. drover signs the default
// identity of every task; the identity block says whether the task sees
// it (env: NOMAD_TOKEN, file: secrets/nomad_token).
type identityJSON struct {
	Name         string
	Audience     []string
	ChangeMode   string
	ChangeSignal string
	Env          bool
	File         bool
	Filepath     string
	ServiceName  string
	TTL          int64
}

// identity converts a task's identity block: the default identity only,
// with its default audience.
func (c *jobConversion) identity(taskPath string, raw json.RawMessage) *structs.WorkloadIdentity {
	if !isSet(raw) {
		return nil
	}
	var in identityJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		c.problem(taskPath, "identity: %v", err)
		return nil
	}
	path := taskPath + "identity: "
	c.refuse(path, map[string]bool{
		"Name " + in.Name: in.Name != "" && in.Name != "default",
		"Audience":        len(in.Audience) > 0 && !slices.Equal(in.Audience, []string{WorkloadAudience}),
		"ChangeMode":      in.ChangeMode != "", "ChangeSignal": in.ChangeSignal != "",
		"Filepath": in.Filepath != "", "ServiceName": in.ServiceName != "", "TTL": in.TTL > 0,
	})
	return &structs.WorkloadIdentity{Env: in.Env, File: in.File}
}

// WorkloadAudience is the audience of the identities drover signs.
const WorkloadAudience = "nomadproject.io"

func identityToJSON(w *structs.WorkloadIdentity) *identityJSON {
	if w == nil {
		return nil
	}
	return &identityJSON{Name: "default", Audience: []string{WorkloadAudience}, Env: w.Env, File: w.File}
}
