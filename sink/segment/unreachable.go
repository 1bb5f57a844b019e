package segment

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/backfillhq/backfill/internal/retry"
)

// DefaultRefusedTime is how long every attempt may be refused (connection
// refused) before the first request of a sink succeeds, before the sink gives
// up: an endpoint that never answered is most likely the wrong one. Once a
// request has succeeded, refusals are retried like any network error.
const DefaultRefusedTime = retry.RefusedTime

// UnreachableError is an endpoint that retrying cannot reach: its host name
// does not resolve, its TLS certificate is not trusted, or every connection
// was refused before any request had succeeded. It ends a run at once; the
// batch is not delivered.
type UnreachableError struct {
	// Endpoint is the base URL the sink sends to.
	Endpoint string
	// Cause says why, in a few words: `no such host "api.segmnet.io"`.
	Cause string
	// Err is the error of the last attempt.
	Err error
}

// Error names the endpoint and the cause.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s: %s", e.Endpoint, e.Cause)
}

// Unwrap returns the error of the last attempt.
func (e *UnreachableError) Unwrap() error { return e.Err }

// unreachable returns the *UnreachableError of err if no retry can fix it: a
// host name that does not resolve, or a TLS certificate that is not trusted.
// Otherwise it returns nil.
func unreachable(endpoint string, err error) *UnreachableError {
	if cause := retry.Unreachable(err); cause != "" {
		return &UnreachableError{Endpoint: endpoint, Cause: cause, Err: err}
	}
	return nil
}

// shortCause is the cause of a failed attempt in a few words, for a progress
// line: "503 Service Unavailable", "connection refused", "timed out". It
// never holds the write key: statuses are named by their code, and a network
// error by its innermost cause, without the request's URL.
func shortCause(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		if text := http.StatusText(se.Status); text != "" {
			return fmt.Sprintf("%d %s", se.Status, text)
		}
		return fmt.Sprintf("http %d", se.Status)
	}
	var dns *net.DNSError
	switch {
	case retry.IsRefused(err):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return "timed out"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed"
	case errors.As(err, &dns):
		return "dns: " + dns.Err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
