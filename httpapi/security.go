package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/earshot-dev/earshot/pipeline"
)

// headers sets the security headers of every response. The API answers
// JSON, text and event streams that no browser should sniff, frame or
// cache; a mounted handler that serves pages (the playground) sets its
// own Content-Security-Policy over this one.
func (s *Server) headers(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if strings.HasPrefix(c.Request.URL.Path, "/v1/") {
		h.Set("Cache-Control", "no-store") // transcripts, usage and keys are private
	}
	c.Next()
}

// door keeps out what a key would keep out when there is none. With auth
// off (a loopback server without keys) anyone who can reach the port is
// let in, so:
//   - a request whose Host is not a loopback name (or one of
//     Config.AllowedHosts) is refused: a web page the user opens must not
//     reach the API by pointing its own domain at 127.0.0.1 (DNS
//     rebinding);
//   - a request from a browser page of another site (an Origin that is
//     neither loopback nor one of Config.CORSOrigins) is refused: a
//     multipart POST needs no CORS preflight, so the browser would send
//     it.
//
// With auth on, keys do this: a page cannot attach one without a
// preflight, which CORS refuses unless configured.
func (s *Server) door(c *gin.Context) {
	if s.cfg.Pipeline.AuthEnabled() {
		c.Next()
		return
	}
	if !s.hostAllowed(c.Request.Host) {
		s.fail(c, pipeline.Errorf(pipeline.Forbidden, "host_not_allowed",
			"This earshot serves without API keys, so it answers only requests addressed to localhost or a loopback address, not to %s (a web page must not reach it by DNS rebinding). Create a key ('earshot keys create') or list the name with --allow-host.",
			quoteHost(c.Request.Host)))
		return
	}
	if origin := c.GetHeader("Origin"); origin != "" && !s.originAllowed(origin) {
		s.fail(c, pipeline.Errorf(pipeline.Forbidden, "origin_not_allowed",
			"This earshot serves without API keys and does not answer pages of %s; --cors-origin allows one.", quoteHost(origin)))
		return
	}
	c.Next()
}

func (s *Server) hostAllowed(host string) bool {
	if pipeline.Loopback(host) {
		return true
	}
	name := host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		name = host[:i]
	}
	for _, h := range s.cfg.AllowedHosts {
		if h == "*" || strings.EqualFold(h, host) || strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

// originAllowed: a configured CORS origin, or a page served from this
// machine (a loopback origin).
func (s *Server) originAllowed(origin string) bool {
	if slices.Contains(s.cfg.CORSOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") && pipeline.Loopback(u.Host)
}

// cors answers browsers from the configured origins only; with none
// configured (the default) no CORS header is ever sent, so no page of
// another site can read an answer.
func (s *Server) cors(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin == "" || len(s.cfg.CORSOrigins) == 0 {
		c.Next()
		return
	}
	h := c.Writer.Header()
	h.Add("Vary", "Origin")
	if !slices.Contains(s.cfg.CORSOrigins, origin) {
		c.Next()
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
	if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id, Mcp-Session-Id, Mcp-Protocol-Version")
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

// quoteHost quotes an outside name for a message, cut short.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "..."
	}
	return strconv.Quote(h)
}
