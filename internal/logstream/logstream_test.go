package logstream

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSubscribersGetTheirLevelAndFormat(t *testing.T) {
	var host bytes.Buffer
	b := New(slog.NewTextHandler(&host, &slog.HandlerOptions{Level: slog.LevelInfo}))
	log := slog.New(b).With("agent", "server")
	debugJSON, cancelJSON := b.Subscribe(slog.LevelDebug, true)
	warnText, cancelText := b.Subscribe(slog.LevelWarn, false)

	log.Debug("fine detail", "n", 1)
	log.Warn("look out")

	require.NotContains(t, host.String(), "fine detail", "the host's level is kept")
	require.Contains(t, host.String(), "look out")
	line := string(<-debugJSON)
	require.Contains(t, line, `"msg":"fine detail"`)
	require.Contains(t, line, `"agent":"server"`, "attributes of With reach subscribers")
	require.Contains(t, string(<-debugJSON), `"msg":"look out"`)
	require.True(t, strings.HasPrefix(string(<-warnText), "time="), "text for a text subscriber")
	require.Empty(t, warnText, "the debug line is below this subscriber's level")

	cancelJSON()
	cancelText()
	_, open := <-debugJSON
	require.False(t, open, "cancel closes the stream")
	require.False(t, b.Enabled(t.Context(), slog.LevelDebug), "without subscribers the host's level decides")
	log.Info("after")
	cancelJSON() // a second cancel is harmless
}

func TestASlowSubscriberLosesLinesWithoutBlocking(t *testing.T) {
	b := New(slog.DiscardHandler)
	_, cancel := b.Subscribe(slog.LevelInfo, false)
	defer cancel()
	log := slog.New(b)
	for range subscriberBuffer * 2 {
		log.Info("line") // never blocks, though nobody reads
	}
}
