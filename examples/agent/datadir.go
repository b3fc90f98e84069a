package main

import (
	"log/slog"
	"os"
	"path/filepath"
)

// serverDataDir is the data dir the agent's server runs on. The server
// keeps its files in <its data dir>/server, and the agent gives it
// <data_dir>, so they are in <data_dir>/server. Earlier versions gave it
// <data_dir>/server, which put them one level further down, in
// <data_dir>/server/server: when that directory exists and the server
// has no raft log at the new place, the agent goes on with the earlier
// data dir, so the server keeps its state, and says so.
func serverDataDir(logger *slog.Logger, dataDir, earlier string) string {
	if earlier == "" || dataDir == "" {
		return dataDir
	}
	nested := filepath.Join(earlier, "server")
	if fi, err := os.Stat(nested); err != nil || !fi.IsDir() {
		return dataDir
	}
	if _, err := os.Lstat(filepath.Join(dataDir, "server", "raft.db")); err == nil {
		return dataDir
	}
	logger.Warn("the server's data is in the nested directory of earlier versions; running on it",
		"dir", nested, "move_to", filepath.Join(dataDir, "server"),
		"how", "stop the agent, move what "+nested+" holds up one level, remove the empty directory, start again")
	return earlier
}
