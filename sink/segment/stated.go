package segment

import "context"

// statedKey is the context key of the function that a RateLimiter passes
// down with each Send to be told a limit the server states.
type statedKey struct{}

// withStatedLimits returns ctx carrying f, to be told the limits per
// second the server states in answer to the requests sent with it.
func withStatedLimits(ctx context.Context, f func(perSecond float64)) context.Context {
	return context.WithValue(ctx, statedKey{}, f)
}

// StateLimit tells the adaptive RateLimiter that a request sent with ctx
// went through, if any, that the server stated a limit of perSecond
// requests per second (as HTTPSender reads it from a response's
// X-RateLimit-Limit or RateLimit-Policy header); the limiter's rate then
// follows it (see NewAdaptiveRateLimiter). It is how a sender at the
// bottom of a send stack reports the limit: each Send of the RateLimiter
// passes the limiter down in its context, so that any sink between them
// that passes ctx on (a wrapper, a fault injector in a test) delivers the
// limit without knowing of it. A limit that is not positive, or a ctx
// that did not come through an adaptive RateLimiter, is ignored. Safe
// for concurrent use.
func StateLimit(ctx context.Context, perSecond float64) {
	if !(perSecond > 0) {
		return
	}
	if f, ok := ctx.Value(statedKey{}).(func(float64)); ok && f != nil {
		f(perSecond)
	}
}
