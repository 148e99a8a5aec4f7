package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/earshot-dev/earshot/pipeline"
)

// Accounts is what the key and usage routes need of the key store; main
// adapts earshot's store to it. Its errors are *pipeline.Error (a key that
// is not there: NotFound; a bad name or limit: Invalid) or, for a store
// that is down, anything else (503).
type Accounts interface {
	CreateKey(ctx context.Context, k NewKey, actor string) (secret string, key Key, err error)
	Keys(ctx context.Context) ([]Key, error)
	RevokeKey(ctx context.Context, id, actor string) (Key, error)
	Usage(ctx context.Context, q UsageQuery) ([]DayUsage, error)
}

// Limits are a key's limits on the wire (0: none).
type Limits struct {
	RPM                 int   `json:"rpm"`
	Concurrency         int   `json:"concurrency"`
	MaxUploadBytes      int64 `json:"max_upload_bytes"`
	MonthlyAudioSeconds int64 `json:"monthly_audio_seconds"`
}

// NewKey is the body of POST /v1/keys.
type NewKey struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes,omitempty"` // default: transcribe
	Limits Limits   `json:"limits"`
}

// Key is a key as GET /v1/keys shows it: never its secret, except once,
// in the answer to the POST that created it.
type Key struct {
	Object    string   `json:"object"` // "api_key"
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	Limits    Limits   `json:"limits"`
	CreatedAt int64    `json:"created_at"`
	RevokedAt *int64   `json:"revoked_at"`
	Secret    string   `json:"secret,omitempty"`
}

// UsageQuery selects usage: one key's ("" for all) on UTC days From..To.
type UsageQuery struct {
	KeyID    string
	From, To time.Time
}

// DayUsage is one key's usage on one UTC day.
type DayUsage struct {
	KeyID             string
	Day               time.Time
	Requests          int64
	AudioSeconds      float64
	ProcessingSeconds float64
}

// usageDay and usageTotal are GET /v1/usage's shapes.
type usageDay struct {
	Object            string  `json:"object"` // "usage.day"
	KeyID             string  `json:"key_id"`
	Date              string  `json:"date"`
	Requests          int64   `json:"requests"`
	AudioSeconds      float64 `json:"audio_seconds"`
	ProcessingSeconds float64 `json:"processing_seconds"`
}

type usageTotal struct {
	Requests          int64   `json:"requests"`
	AudioSeconds      float64 `json:"audio_seconds"`
	ProcessingSeconds float64 `json:"processing_seconds"`
}

type usageList struct {
	Object string     `json:"object"` // "list"
	KeyID  *string    `json:"key_id"` // null: every key
	Since  string     `json:"since"`
	Until  string     `json:"until"`
	Data   []usageDay `json:"data"`
	Total  usageTotal `json:"total"`
}

// The scopes the routes need.
const (
	scopeAdmin      = "admin"
	scopeTranscribe = "transcribe"
)

// noAccounts is the answer of the key routes on a server without a store.
var noAccounts = pipeline.Errorf(pipeline.NotFound, "unknown_url", "This server keeps no key store: key management and usage are not served.")

// actor names the caller in the audit log: the acting key's id, never its
// secret.
func actor(p pipeline.Principal) string {
	if p.Anonymous {
		return "http:anonymous"
	}
	return "key:" + p.KeyID
}

func principal(c *gin.Context) pipeline.Principal {
	p, _ := pipeline.FromContext(c.Request.Context())
	return p
}

// admin lets only callers with the admin scope through.
func (s *Server) admin(what string) gin.HandlerFunc {
	need := s.need(scopeAdmin, what)
	return func(c *gin.Context) {
		if s.cfg.Accounts == nil {
			s.fail(c, noAccounts)
			return
		}
		need(c)
	}
}

// need lets only callers holding scope through (403 otherwise).
func (s *Server) need(scope, what string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !principal(c).Can(scope) {
			s.fail(c, pipeline.Errorf(pipeline.Forbidden, "insufficient_permissions",
				"This API key cannot %s: that needs a key with the %s scope ('earshot keys create --scope %s').", what, scope, scope))
			return
		}
		c.Next()
	}
}

// createKey serves POST /v1/keys.
func (s *Server) createKey(c *gin.Context) {
	nk, err := readNewKey(c.GetHeader("Content-Type"), http.MaxBytesReader(c.Writer, c.Request.Body, maxJSONBytes))
	if err != nil {
		s.fail(c, err)
		return
	}
	secret, k, err := s.cfg.Accounts.CreateKey(c.Request.Context(), nk, actor(principal(c)))
	if err != nil {
		s.fail(c, err)
		return
	}
	k.Object, k.Secret = "api_key", secret
	c.JSON(http.StatusCreated, k)
}

// listKeys serves GET /v1/keys.
func (s *Server) listKeys(c *gin.Context) {
	if err := onlyParams(c.Request.URL.Query(), "GET /v1/keys"); err != nil {
		s.fail(c, err)
		return
	}
	ks, err := s.cfg.Accounts.Keys(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	for i := range ks {
		ks[i].Object, ks[i].Secret = "api_key", ""
	}
	if ks == nil {
		ks = []Key{}
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": ks})
}

// revokeKey serves DELETE /v1/keys/{id}.
func (s *Server) revokeKey(c *gin.Context) {
	k, err := s.cfg.Accounts.RevokeKey(c.Request.Context(), c.Param("id"), actor(principal(c)))
	if err != nil {
		s.fail(c, err)
		return
	}
	k.Object, k.Secret = "api_key", ""
	c.JSON(http.StatusOK, k)
}

// usage serves GET /v1/usage: the calling key's usage by UTC day; an
// admin's is every key's, or one key's with ?key=.
func (s *Server) usage(c *gin.Context) {
	if s.cfg.Accounts == nil {
		s.fail(c, noAccounts)
		return
	}
	p := principal(c)
	q, err := parseUsageQuery(c.Request.URL.Query(), time.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	switch {
	case p.Can(scopeAdmin):
	case q.KeyID == "":
		q.KeyID = p.KeyID
	case q.KeyID != p.KeyID:
		s.fail(c, pipeline.Errorf(pipeline.Forbidden, "insufficient_permissions",
			"This API key can read its own usage only; every key's needs the admin scope."))
		return
	}
	days, err := s.cfg.Accounts.Usage(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := usageList{Object: "list", Since: q.From.Format(time.DateOnly), Until: q.To.Format(time.DateOnly), Data: []usageDay{}}
	if q.KeyID != "" {
		out.KeyID = &q.KeyID
	}
	for _, d := range days {
		out.Data = append(out.Data, usageDay{Object: "usage.day", KeyID: d.KeyID, Date: d.Day.UTC().Format(time.DateOnly),
			Requests: d.Requests, AudioSeconds: d.AudioSeconds, ProcessingSeconds: d.ProcessingSeconds})
		out.Total.Requests += d.Requests
		out.Total.AudioSeconds += d.AudioSeconds
		out.Total.ProcessingSeconds += d.ProcessingSeconds
	}
	c.JSON(http.StatusOK, out)
}

// maxJSONBytes bounds an admin route's JSON body.
const maxJSONBytes = 64 << 10

// readNewKey reads POST /v1/keys's body. It must be declared JSON: a page
// of another site can send text/plain without a CORS preflight, but not
// application/json.
func readNewKey(contentType string, body io.Reader) (NewKey, error) {
	var nk NewKey
	ct, _, err := mime.ParseMediaType(contentType)
	if err != nil || ct != "application/json" {
		return nk, pipeline.InvalidParam("", "Send the key as a JSON object with Content-Type: application/json (got %s).", strconv.Quote(contentType))
	}
	b, err := io.ReadAll(body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nk, &pipeline.Error{Kind: pipeline.TooLarge, Code: "body_too_large", Message: fmt.Sprintf("The body is larger than %d bytes.", maxJSONBytes)}
	}
	if err != nil {
		return nk, pipeline.InvalidParam("", "The body could not be read: %v.", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nk); err != nil {
		return nk, jsonError(err)
	}
	if dec.More() {
		return nk, pipeline.InvalidParam("", "The body holds more than one JSON value.")
	}
	if strings.TrimSpace(nk.Name) == "" {
		return nk, pipeline.InvalidParam("name", "name is required: a name for the key, such as \"ci\".")
	}
	for _, sc := range nk.Scopes {
		if sc != "transcribe" && sc != scopeAdmin {
			return nk, pipeline.InvalidParam("scopes", "%s is not a scope; the scopes are transcribe and admin.", strconv.Quote(sc))
		}
	}
	l := nk.Limits
	for _, f := range []struct {
		name string
		v    int64
	}{{"limits.rpm", int64(l.RPM)}, {"limits.concurrency", int64(l.Concurrency)},
		{"limits.max_upload_bytes", l.MaxUploadBytes}, {"limits.monthly_audio_seconds", l.MonthlyAudioSeconds}} {
		if f.v < 0 {
			return nk, pipeline.InvalidParam(f.name, "%s cannot be negative (0 is no limit).", f.name)
		}
	}
	return nk, nil
}

// jsonError says what is wrong with a JSON body, naming the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return pipeline.InvalidParam(te.Field, "%s must be %s, not a JSON %s.", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return pipeline.InvalidParam(f, "%s is not a field of a new key, which takes name, scopes and limits (rpm, concurrency, max_upload_bytes, monthly_audio_seconds).", strconv.Quote(f))
	}
	return pipeline.InvalidParam("", "The body is not valid JSON: %s.", strings.TrimPrefix(msg, "json: "))
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "a whole number"
	case k == "slice":
		return "a list"
	case k == "struct":
		return "an object"
	}
	return "a " + k
}

// onlyParams refuses any query parameter of a route that takes none.
func onlyParams(q url.Values, route string, allowed ...string) error {
	for k := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			takes := "no parameters"
			if len(allowed) > 0 {
				takes = strings.Join(allowed, ", ")
			}
			return pipeline.InvalidParam(k, "%s is not a parameter of %s, which takes %s.", strconv.Quote(k), route, takes)
		}
	}
	return nil
}

// parseUsageQuery reads ?since=&until=&key= (dates as 2026-05-01 or RFC
// 3339, UTC days, both inclusive). since defaults to the first day of this
// month (what the monthly quota counts), until to today.
func parseUsageQuery(q url.Values, now time.Time) (UsageQuery, error) {
	if err := onlyParams(q, "GET /v1/usage", "since", "until", "key"); err != nil {
		return UsageQuery{}, err
	}
	for k, v := range q {
		if len(v) > 1 {
			return UsageQuery{}, pipeline.InvalidParam(k, "Give %s once.", k)
		}
	}
	now = now.UTC()
	out := UsageQuery{KeyID: q.Get("key"),
		From: time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC),
		To:   time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)}
	if len(out.KeyID) > 128 {
		return UsageQuery{}, pipeline.InvalidParam("key", "key is a key's id (as GET /v1/keys lists it), at most 128 bytes.")
	}
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"since", &out.From}, {"until", &out.To}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		t, err := parseDay(v)
		if err != nil {
			return UsageQuery{}, pipeline.InvalidParam(f.name, "%s must be a date such as 2026-05-01 (or an RFC 3339 time), got %s.", f.name, quoteHost(v))
		}
		*f.t = t
	}
	if out.To.Before(out.From) {
		return UsageQuery{}, pipeline.InvalidParam("until", "until (%s) is before since (%s).", out.To.Format(time.DateOnly), out.From.Format(time.DateOnly))
	}
	return out, nil
}

// parseDay reads a date or an RFC 3339 time as its UTC day.
func parseDay(v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, v); err != nil {
			return time.Time{}, err
		}
	}
	t = t.UTC()
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, errors.New("out of range")
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
}
