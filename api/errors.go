package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/droverhq/drover/server/events"
	"github.com/droverhq/drover/structs"
)

// statusOf maps an error to its HTTP status, message and, for invalid
// jobs, the list of problems.
func statusOf(err error) (int, string, []string) {
	var he *httpError
	var ve *structs.ValidationError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.code, he.msg, nil
	case errors.As(err, &ve):
		return http.StatusBadRequest, err.Error(), ve.Problems
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "request body larger than the limit of " + itoa(tooBig.Limit) + " bytes", nil
	case errors.Is(err, ErrNotImplemented):
		return http.StatusNotImplemented, err.Error(), nil
	case errors.Is(err, structs.ErrValidation), errors.Is(err, structs.ErrBadRequest), errors.Is(err, events.ErrBadTopic),
		errors.Is(err, structs.ErrUnknownRegion):
		return http.StatusBadRequest, err.Error(), nil
	case errors.Is(err, structs.ErrNotFound), errors.Is(err, events.ErrDisabled):
		return http.StatusNotFound, err.Error(), nil
	case errors.Is(err, structs.ErrPermissionDenied):
		return http.StatusForbidden, err.Error(), nil
	case errors.Is(err, events.ErrLagged):
		return http.StatusGone, err.Error(), nil
	case errors.Is(err, structs.ErrNoLeader), errors.Is(err, structs.ErrNotLeader),
		errors.Is(err, structs.ErrShutdown), errors.Is(err, events.ErrClosed),
		errors.Is(err, structs.ErrLeadershipLost), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, err.Error(), nil
	}
	return http.StatusInternalServerError, err.Error(), nil
}

func itoa(n int64) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = digits[n%10]
		n /= 10
	}
	return string(b[i:])
}
