// Package plinth holds the few things every domain of the platform shares:
// the error type with its codes and the principal acting on a request.
//
// Domain packages (track, registry, ...) return *Error values for anything a
// caller can act on; the HTTP edge maps the code to a status exactly once.
package plinth

import (
	"context"
	"errors"
	"fmt"
)

// Error codes. They are part of the API: clients switch on them.
const (
	EINVALID      = "invalid"      // the request is malformed or fails validation
	ENOTFOUND     = "not_found"    // the object does not exist
	ECONFLICT     = "conflict"     // the request contradicts the current state
	EUNAUTHORIZED = "unauthorized" // no or bad credentials
	EFORBIDDEN    = "forbidden"    // credentials lack the permission
	EUNAVAILABLE  = "unavailable"  // not ready yet; try again
	EOVERLOADED   = "overloaded"   // too much work queued; back off and retry
	ETIMEOUT      = "timeout"      // the request ran out of its time budget
	EINTERNAL     = "internal"     // a bug or a broken dependency; details are logged, not shown
)

// Error is an error a user can act on. Field names the offending input
// (a JSON path such as "metrics[3].value") when there is one.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error naming the offending field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns an ENOTFOUND error for the kind and name of an object.
func NotFound(kind, name string) *Error {
	return &Error{Code: ENOTFOUND, Message: fmt.Sprintf("%s %q not found", kind, name)}
}

// ErrorCode returns the code of the first *Error in err's chain, ETIMEOUT for
// a context deadline, EINTERNAL for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ETIMEOUT
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the message of an
// *Error, and a generic text for anything else so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the request ran out of time"
	}
	return "internal error"
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return ErrorCode(err) == code }
