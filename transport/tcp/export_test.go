package tcp

import "time"

// HandshakeTimeoutOf exposes the handshake bound a Transport applies.
func HandshakeTimeoutOf(t Transport) time.Duration { return t.handshakeTimeout() }
