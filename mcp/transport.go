package mcp

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/earshot-dev/earshot/pipeline"
)

// ServeStdio serves MCP on in and out (a process's stdin and stdout) until
// ctx ends or in is closed. Nothing but MCP is written to out; the
// transport's own errors go to errLog.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer, errLog io.Writer) error {
	st := server.NewStdioServer(s.mcp)
	st.SetErrorLogger(log.New(errLog, "earshot mcp: ", log.LstdFlags))
	return st.Listen(ctx, in, out)
}

// HTTPOptions configure the streamable HTTP transport.
type HTTPOptions struct {
	// Path is where the handler is mounted (default /mcp).
	Path string
	// AllowedOrigins are browser origins allowed besides, on a loopback
	// server, loopback ones ("https://app.example"). The server's own
	// origin is not implied: list it to serve pages of this host.
	AllowedOrigins []string
	// MaxBody bounds a request body (default 1.5 GiB: base64 audio).
	MaxBody int64
}

// HTTPHandler serves MCP over streamable HTTP. Close it when the HTTP
// server has stopped: it ends the MCP sessions and the sweeper of idle ones.
type HTTPHandler struct {
	http.Handler
	streamable *server.StreamableHTTPServer
}

// Close ends the sessions and stops the idle-session sweeper.
func (h *HTTPHandler) Close(ctx context.Context) error { return h.streamable.Shutdown(ctx) }

// HTTPHandler serves MCP over streamable HTTP. It refuses a browser request
// whose Origin is not allowed (403), against DNS rebinding and cross-site
// calls; authentication is the caller's (earshot serve mounts it behind
// its API keys).
func (s *Server) HTTPHandler(opts HTTPOptions) *HTTPHandler {
	if opts.Path == "" {
		opts.Path = "/mcp"
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 3 << 29
	}
	h := server.NewStreamableHTTPServer(s.mcp,
		server.WithEndpointPath(opts.Path),
		server.WithSessionIdleTTL(30*time.Minute),
		server.WithStreamableHTTPLogger(s.cfg.Logger),
	)
	return &HTTPHandler{streamable: h, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(origin, r, opts.AllowedOrigins) {
			http.Error(w, "Forbidden: the Origin "+origin+" may not use this MCP server (earshot serve --allow-origin allows one).", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, opts.MaxBody)
		h.ServeHTTP(w, r)
	})}
}

// originAllowed: a listed origin, or a loopback page talking to a loopback
// server. An Origin is never trusted for equalling the Host: under DNS
// rebinding both are the attacker's name.
func originAllowed(origin string, r *http.Request, allowed []string) bool {
	if slices.Contains(allowed, origin) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return pipeline.Loopback(u.Host) && pipeline.Loopback(r.Host)
}
