package source

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
)

// StatusError is an HTTP answer other than 2xx.
type StatusError struct {
	Code   int
	Status string
}

func (e *StatusError) Error() string { return e.Status }

// Transient reports whether a call that failed with err may succeed if
// tried again soon: network errors, timeouts, 5xx, 408 and 429 may, and
// errors a kind marked Retryable; other answers and documents that do not
// parse will not.
func Transient(err error) bool {
	if errors.Is(err, errRetryable) {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests || se.Code == http.StatusRequestTimeout
	}
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

var errRetryable = errors.New("retryable")

type retryable struct{ err error }

func (r retryable) Error() string   { return r.err.Error() }
func (r retryable) Unwrap() []error { return []error{r.err, errRetryable} }

// Retryable marks err as transient: a backend that is busy, throttling or
// restarting, which a later attempt may find well. Kinds wrap the errors of
// their clients that mean so (HTTP and network errors are recognised
// without it).
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryable{err}
}
