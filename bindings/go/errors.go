package suprsend

import "context"

// Error is what every call of this package returns when it fails, as in suprsend-go.
//
// Code is the hub's HTTP status when the hub answered; otherwise 400 for an event or argument
// refused before anything was sent (413 when it is too large), and 500 for everything else (no
// answer, a context that ended, a closed client, a full queue, a failing outbox), the code
// suprsend-go and the bulk responses give such failures. Err, when set, says what kind of
// failure it was: a Status (errors.Is(err, suprsend.StatusValidation)), an error of the
// file system for an attachment (errors.Is(err, fs.ErrNotExist)), or the context's error
// (errors.Is(err, context.DeadlineExceeded)).
type Error struct {
	Code    int
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return ""
}

func (e *Error) Unwrap() error { return e.Err }

var (
	// ErrMissingAPIKey is returned by NewClient for an empty workspace key.
	ErrMissingAPIKey = &Error{Code: 400, Message: "suprsend: missing api_key"}
	// ErrMissingAPISecret is returned by NewClient for an empty workspace secret.
	ErrMissingAPISecret = &Error{Code: 400, Message: "suprsend: missing api_secret"}
)

// Status is a libsuprsend status code. A Status is an error, found in an *Error's chain:
// errors.Is(err, suprsend.StatusClosed).
type Status int

// The library's status codes (include/suprsend.h).
const (
	StatusArgument   Status = 1  // a bad argument: invalid UTF-8, malformed JSON, a bad option value
	StatusValidation Status = 2  // the event breaks a rule of the protocol (names, keys, tenant, ...)
	StatusTooLarge   Status = 3  // the event or a request body is over its size limit
	StatusAttachment Status = 4  // a local attachment could not be read
	StatusNetwork    Status = 5  // the hub could not be reached, or did not answer in time
	StatusHTTP       Status = 6  // the hub answered with an error status
	StatusTimeout    Status = 7  // a flush or close deadline passed; an event expired
	StatusQueueFull  Status = 8  // the background queue is full
	StatusStorage    Status = 9  // the durable outbox failed
	StatusClosed     Status = 10 // the client is closing or closed
	StatusInternal   Status = 99 // a bug in the library
)

func (s Status) Error() string { return statusName(int(s)) }

// codeFor is the Error.Code of a failure with this status and no HTTP answer.
func codeFor(status int) int {
	switch Status(status) {
	case StatusArgument, StatusValidation, StatusAttachment:
		return 400
	case StatusTooLarge:
		return 413
	}
	return 500
}

var statusWords = map[Status]string{
	StatusClosed:  "suprsend: the client is closed",
	StatusNetwork: "suprsend: no answer from the hub",
}

func newError(status int, message string) *Error {
	if message == "" {
		message = statusWords[Status(status)]
		if message == "" {
			message = "suprsend: " + statusName(status)
		}
	}
	return &Error{Code: codeFor(status), Message: message, Err: Status(status)}
}

// contextError is the *Error for a call whose context ended first.
func contextError(what string, ctx context.Context) *Error {
	err := ctx.Err()
	if err == nil {
		err = context.Canceled
	}
	return contextErrorOf(what, err)
}

func contextErrorOf(what string, err error) *Error {
	return &Error{Code: 500, Message: "suprsend: " + what + ": " + err.Error(), Err: err}
}
