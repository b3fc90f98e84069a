package server

import (
	"bytes"
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"
)

func TestSerfLogsKeepTheirLevel(t *testing.T) {
	var b bytes.Buffer
	l := serfLogger(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Printf("[ERR] memberlist: failed to receive: %s", "boom")
	l.Printf("[WARN] serf: suspect node")
	l.Printf("[DEBUG] memberlist: stream connection")
	l.Printf("no prefix at all")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 4)
	require.Contains(t, lines[0], "level=ERROR")
	require.Contains(t, lines[0], `msg="memberlist: failed to receive: boom"`)
	require.Contains(t, lines[1], "level=WARN")
	require.Contains(t, lines[2], "level=DEBUG")
	require.Contains(t, lines[3], "level=INFO")
	require.Contains(t, lines[3], "component=serf")
}

func TestGossipKeysAndAddresses(t *testing.T) {
	_, err := DecodeGossipKey("c2hvcnQ=") // "short"
	require.ErrorContains(t, err, "32 bytes")
	_, err = DecodeGossipKey("not base64 at all!")
	require.ErrorContains(t, err, "base64")
	k, err := DecodeGossipKey("T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s=")
	require.NoError(t, err)
	require.Len(t, k, GossipKeyBytes)
	_, err = DecodeGossipKey("T9jncgl9mbLus-baTTa7q7nPSUrXwbDi2dhbtqir37s=") // URL alphabet
	require.NoError(t, err)

	require.Equal(t, "10.0.0.1:4648", withDefaultPort("10.0.0.1"))
	require.Equal(t, "server.example:4648", withDefaultPort("server.example"))
	require.Equal(t, "10.0.0.1:5000", withDefaultPort("10.0.0.1:5000"))
	host, port, err := splitHostPortDefault("10.0.0.1", 4648)
	require.NoError(t, err)
	require.Equal(t, "10.0.0.1", host)
	require.Equal(t, 4648, port)
	_, _, err = splitHostPortDefault("10.0.0.1:99999", 4648)
	require.Error(t, err)
	require.Equal(t, "127.0.0.1:80", advertisable("127.0.0.1:80"))
	require.NotContains(t, advertisable("0.0.0.0:4647"), "0.0.0.0")
}

func TestMembersWithBadTagsAreIgnored(t *testing.T) {
	good := map[string]string{tagRole: roleServer, tagRegion: "global", tagRaftID: "1a2b", tagRPCAddr: "10.0.0.1:4647", tagExpect: "3"}
	m, ok := parseMember(serf.Member{Name: "s1.global", Tags: good, Status: serf.StatusAlive})
	require.True(t, ok)
	require.Equal(t, uint64(0x1a2b), m.id)
	require.Equal(t, 3, m.expect)
	require.Equal(t, "s1", m.peer().Name)
	require.True(t, m.peer().Voter)
	for name, bad := range map[string]func(map[string]string){
		"not a server": func(t map[string]string) { t[tagRole] = "client" },
		"no raft id":   func(t map[string]string) { delete(t, tagRaftID) },
		"bad raft id":  func(t map[string]string) { t[tagRaftID] = "xyz" },
		"zero raft id": func(t map[string]string) { t[tagRaftID] = "0" },
		"no region":    func(t map[string]string) { delete(t, tagRegion) },
		"bad rpc addr": func(t map[string]string) { t[tagRPCAddr] = "nowhere" },
	} {
		tags := maps.Clone(good)
		bad(tags)
		_, ok := parseMember(serf.Member{Name: "x", Tags: tags})
		require.False(t, ok, name)
	}
	nv := maps.Clone(good)
	nv[tagNonVoter] = "1"
	m, ok = parseMember(serf.Member{Name: "s2.global", Tags: nv})
	require.True(t, ok)
	require.False(t, m.peer().Voter)
}
