package pipeline

import (
	"context"
	"errors"
	"net"
	"strings"
)

// Principal is who is calling: the API key a request came with. Limits,
// usage and audit read it from the request's context (FromContext), so no
// surface passes it by hand.
type Principal struct {
	// KeyID identifies the key without revealing it ("" when auth is off).
	KeyID string
	// Name is the key's human name ("laptop", "ci").
	Name string
	// Scopes are what the key may do ("transcribe", "admin"); none means
	// every scope, as for the keys of earshot's first releases.
	Scopes []string
	// Anonymous is set when auth is off: anyone who can reach the server.
	Anonymous bool
	// Limits are the key's (0: none).
	Limits Limits
}

// Can reports whether p holds scope.
func (p Principal) Can(scope string) bool {
	if p.Anonymous || len(p.Scopes) == 0 {
		return true
	}
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Authenticator finds the principal an API key belongs to. A key that is
// wrong, unknown or revoked is ErrBadKey (or an *Error of kind
// Unauthenticated); any other error means the authenticator itself failed
// (a key store that is down) and is answered as Unavailable, never as a
// wrong key.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (Principal, error)
}

// Authentication errors.
var (
	ErrNoKey = Errorf(Unauthenticated, "invalid_api_key",
		"You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'; create one with 'earshot keys create --name NAME'.")
	ErrBadKey = Errorf(Unauthenticated, "invalid_api_key",
		"Incorrect API key provided. Use a key from 'earshot keys create' (listed by 'earshot keys list'), the server's EARSHOT_API_KEY, or the session key it printed at start.")
)

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext is the principal of the request ctx belongs to.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Authenticate checks key and returns ctx with its principal. With auth
// off (no Authenticator), every caller is the anonymous principal.
func (p *Pipeline) Authenticate(ctx context.Context, key string) (context.Context, error) {
	if p.cfg.Auth == nil {
		return WithPrincipal(ctx, Principal{Anonymous: true}), nil
	}
	if key == "" {
		return ctx, ErrNoKey
	}
	who, err := p.cfg.Auth.Authenticate(ctx, key)
	if err != nil {
		var e *Error
		switch {
		case errors.As(err, &e) && e.Kind == Unauthenticated:
			return ctx, e
		case errors.Is(err, context.Canceled):
			return ctx, Classify(err)
		}
		p.cfg.Logger.Error("authenticating a key failed", "error", err)
		return ctx, &Error{Kind: Unavailable, Code: "auth_unavailable", Err: err, RetryAfter: storeRetry,
			Message: "The server cannot reach its key store to check API keys right now; retry in a moment."}
	}
	return WithPrincipal(ctx, who), nil
}

// AuthEnabled reports whether requests need a key.
func (p *Pipeline) AuthEnabled() bool { return p.cfg.Auth != nil }

// Loopback reports whether host (a host name or IP, with or without a
// port) names this machine only: "localhost" or a loopback address.
func Loopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
