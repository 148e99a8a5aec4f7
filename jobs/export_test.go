package jobs

import (
	"context"
	"net"
	"net/http"
)

// Kill stops the replica the way a dying one stops: running pieces are
// cancelled mid-way, not finished.
func (s *Service) Kill(ctx context.Context) error { return s.client.StopAndCancel(ctx) }

// LoopbackClient delivers webhooks the way the default client does, refusing
// internal addresses as it connects, where every name resolves to
// 127.0.0.1: a webhook_url that looks public but leads to this machine.
func LoopbackClient() *http.Client {
	d := &net.Dialer{Control: publicOnly}
	tr := &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}}
	return &http.Client{Transport: tr}
}
