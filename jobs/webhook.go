package jobs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// SignatureHeader carries a webhook's signature:
//
//	Earshot-Signature: t=1767225600,v1=5257a869...
//
// where v1 is the hex HMAC-SHA256, under the webhook secret, of the
// timestamp, a full stop and the raw body ("1767225600.{...}"). A
// receiver recomputes it, compares in constant time, and refuses
// timestamps far from its clock (replays). Earshot-Webhook-Id is the job's
// id: a delivery retried after a lost answer carries the same one.
const SignatureHeader = "Earshot-Signature"

// Signature is the SignatureHeader value for body sent at t.
func Signature(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a SignatureHeader value against body, accepting
// timestamps within tolerance of now.
func Verify(secret, body []byte, header string, now time.Time, tolerance time.Duration) bool {
	var ts, sig string
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return false
	}
	t := time.Unix(sec, 0)
	if t.Before(now.Add(-tolerance)) || t.After(now.Add(tolerance)) {
		return false
	}
	want := Signature(secret, body, t)
	return hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig))
}

// CheckWebhookURL refuses what cannot be delivered to: not http(s), no
// host.
func CheckWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("webhook_url must be an absolute http:// or https:// URL")
	}
	return nil
}

// errInternalAddress is a webhook refused for where it points.
var errInternalAddress = errors.New("jobs: webhook to an internal address")

// internal reports whether a webhook must not reach ip unless the server
// allows it (Config.WebhookPrivate): a key's holder could otherwise make
// earshot POST to this machine, the private network, or a cloud's metadata
// service (169.254.169.254).
func internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(ip) // carrier-grade NAT, shared address space
}

// publicOnly refuses, as a connection is made (so after DNS, and for
// every redirect), an address internal says a webhook must not reach.
func publicOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip, err := netip.ParseAddr(host); err != nil || internal(ip) {
		return fmt.Errorf("%w: %s is loopback, private or link-local (earshot serve --jobs-webhook-private allows it)", errInternalAddress, host)
	}
	return nil
}

// webhookClient delivers webhooks: 15 s a delivery, internal addresses
// refused unless private, no proxy from the environment (a proxy would
// reach what the check refuses).
func webhookClient(private bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if !private {
		d.Control = publicOnly
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = d.DialContext
	return &http.Client{Timeout: 15 * time.Second, Transport: tr}
}

// checkWebhookHost refuses at submission a webhook_url whose host is
// plainly internal (localhost, or an internal address written out); names
// that resolve to one are refused when delivered.
func checkWebhookHost(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return errInternalAddress
	}
	if ip, err := netip.ParseAddr(host); err == nil && internal(ip) {
		return errInternalAddress
	}
	return nil
}

// webhookArgs is one webhook delivery.
type webhookArgs struct {
	JobID string `json:"job_id"`
	URL   string `json:"url"`
}

func (webhookArgs) Kind() string { return "earshot_webhook" }
func (webhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueWebhooks, MaxAttempts: 10}
}

// notify enqueues the finished job's webhook, in the transaction that
// finished it.
func (s *Service) notify(ctx context.Context, tx pgx.Tx, id, hook string) error {
	if hook == "" {
		return nil
	}
	_, err := s.client.InsertTx(ctx, tx, webhookArgs{JobID: id, URL: hook}, nil)
	return err
}

// Event is a webhook's body: the finished job, without its result (GET
// the job for it), and why it failed.
type Event struct {
	Type  string      `json:"type"` // transcription.job.succeeded, .failed, .cancelled
	Job   *Job        `json:"job"`
	Error *EventError `json:"error,omitempty"`
}

// EventError is a job's error as a webhook carries it.
type EventError struct {
	Kind    string `json:"kind"`
	Code    string `json:"code,omitempty"`
	Param   string `json:"param,omitempty"`
	Message string `json:"message"`
}

type webhookWorker struct {
	river.WorkerDefaults[webhookArgs]
	s *Service
}

func (w *webhookWorker) Timeout(*river.Job[webhookArgs]) time.Duration { return 30 * time.Second }

func (w *webhookWorker) Work(ctx context.Context, job *river.Job[webhookArgs]) error {
	sent, err := w.deliver(ctx, job)
	c := &w.s.counters
	var cancel *rivertype.JobCancelError
	switch {
	case errors.Is(err, errInternalAddress):
		c.hooksRefused.Add(1)
	case err == nil && sent:
		c.hooksDelivered.Add(1)
	case err == nil: // the job has expired: nothing to deliver
	case errors.As(err, &cancel) || job.Attempt >= job.MaxAttempts:
		c.hooksFailed.Add(1)
	}
	return err
}

// deliver posts the job's event once, reporting whether it was taken.
func (w *webhookWorker) deliver(ctx context.Context, job *river.Job[webhookArgs]) (bool, error) {
	s := w.s
	j, err := s.scan(s.cfg.Pool.QueryRow(ctx, s.t.sql(`SELECT `+jobColumns+` FROM {job} WHERE id = $1`), job.Args.JobID))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ev := Event{Type: "transcription.job." + string(j.Status), Job: j}
	if j.Error != nil {
		ev.Error = &EventError{Kind: j.Error.Kind.String(), Code: j.Error.Code, Param: j.Error.Param, Message: j.Error.Message}
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.Args.URL, bytes.NewReader(body))
	if err != nil {
		return false, river.JobCancel(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "earshot-webhooks")
	req.Header.Set("Earshot-Webhook-Id", j.ID)
	req.Header.Set(SignatureHeader, Signature(s.cfg.WebhookSecret, body, s.cfg.Now()))
	resp, err := s.cfg.HTTPClient.Do(req)
	if errors.Is(err, errInternalAddress) {
		s.cfg.Logger.Warn("job webhook refused: it points at an internal address", "job", j.ID, "error", err)
		return false, river.JobCancel(err) // retrying cannot help
	}
	if err != nil {
		return false, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return false, fmt.Errorf("jobs: webhook %s answered %s", job.Args.URL, resp.Status)
	}
	return true, nil
}

// isForeignKey reports a foreign key violation (a job deleted while one of
// its pieces was being stored).
func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}
