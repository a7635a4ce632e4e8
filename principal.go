package plinth

import "context"

// Anonymous is the principal of requests that carry no identity. Until
// authentication lands every request is anonymous, but every audited action
// already records who did it.
const Anonymous = "anonymous"

// System is the principal of what the platform does on its own: an
// automatic rollback, the first admin token, the prediction log's batches.
const System = "plinth"

type principalKey struct{}

// WithPrincipal returns a context carrying the acting principal.
func WithPrincipal(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, principalKey{}, who)
}

// PrincipalFrom returns the principal in ctx, or Anonymous.
func PrincipalFrom(ctx context.Context) string {
	if who, ok := ctx.Value(principalKey{}).(string); ok && who != "" {
		return who
	}
	return Anonymous
}

type requestIDKey struct{}

// WithRequestID returns a context carrying the id of the request being
// served, so work done for it (a prediction log record) can name it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
