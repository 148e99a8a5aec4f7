package models

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
)

// What Go's HTTP client returns, layer on layer, and the few words a user
// gets instead.
func TestReason(t *testing.T) {
	get := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.bin", Err: err}
	}
	dial := func(err error) error { return get(&net.OpError{Op: "dial", Net: "tcp", Err: err}) }
	tests := []struct {
		name        string
		err         error
		want        string
		unreachable bool
	}{
		{"no such host", dial(&net.DNSError{Name: "huggingface.co", Server: "10.0.0.1:53", Err: "no such host", IsNotFound: true}), "cannot resolve huggingface.co", true},
		{"resolver down", dial(&net.DNSError{Name: "huggingface.co", Server: "10.0.0.1:53", Err: "server misbehaving", IsTemporary: true}), "cannot resolve huggingface.co", true},
		{"refused", dial(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), "connection refused", true},
		{"no route", dial(&os.SyscallError{Syscall: "connect", Err: syscall.EHOSTUNREACH}), "no route to the host", true},
		{"network down", dial(&os.SyscallError{Syscall: "connect", Err: syscall.ENETUNREACH}), "the network is unreachable", true},
		{"reset mid-body", &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, "the connection was reset", false},
		{"hung up before answering", get(io.EOF), "the server closed the connection", false},
		{"cut mid-body", io.ErrUnexpectedEOF, "the server closed the connection", false},
		{"404", permanent{fmt.Errorf("the server has no %s (404)", "ggml-x.bin")}, "the server has no ggml-x.bin (404)", false},
		{"tls", get(errors.New("tls: failed to verify certificate")), "tls: failed to verify certificate", false},
		{"ours", errors.New("the connection closed at 5 of 10 bytes"), "the connection closed at 5 of 10 bytes", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &DownloadError{Name: "base", URL: "u", Err: tt.err}
			if got := e.Reason(); got != tt.want {
				t.Errorf("Reason() = %q, want %q", got, tt.want)
			}
			if got := e.Unreachable(); got != tt.unreachable {
				t.Errorf("Unreachable() = %v, want %v", got, tt.unreachable)
			}
			if !errors.Is(e, ErrDownload) || !errors.Is(e, tt.err) {
				t.Error("does not wrap ErrDownload and its cause")
			}
		})
	}
}
