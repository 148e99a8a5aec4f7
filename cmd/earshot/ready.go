package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// ready is what printReady says: the listener's address; the key made for
// this run, if any (printed as an export of EARSHOT_API_KEY, the name the
// examples read); whether requests need a key at all, /mcp is served, the
// server speaks TLS, and the playground is at /.
type ready struct {
	addr                       net.Addr
	sessionKey                 string
	auth, mcp, tls, playground bool
}

// sampleAudio is the recording `make run` users have at hand (the
// repository's test data, relative to its root).
const sampleAudio = "testdata/audio/jfk.wav"

// printReady tells the person who started the server that it is ready and
// how to try it, in lines that can be pasted into a shell: it is called
// once the listener is open and the model is loaded, with the address the
// listener really has.
func printReady(w io.Writer, r ready) {
	scheme := "http://"
	if r.tls {
		scheme = "https://"
	}
	base := scheme + dialable(r.addr)
	var b strings.Builder
	fmt.Fprintf(&b, "earshot: ready at %s", base)
	if r.mcp {
		fmt.Fprintf(&b, " (MCP at %s/mcp)", base)
	}
	b.WriteString("; try it:\n")
	if r.playground {
		fmt.Fprintf(&b, "  open %s/ in a browser: the playground (upload, record or speak live)\n", base)
	}
	header := ""
	switch {
	case r.sessionKey != "":
		fmt.Fprintf(&b, "  export EARSHOT_API_KEY=%s   # this run's key, kept in memory only\n", r.sessionKey)
		header = ` -H "Authorization: Bearer $EARSHOT_API_KEY"`
	case r.auth:
		b.WriteString("  # with your key in EARSHOT_API_KEY (earshot keys create --name NAME makes one)\n")
		header = ` -H "Authorization: Bearer $EARSHOT_API_KEY"`
	}
	file := sampleAudio
	if st, err := os.Stat(sampleAudio); err != nil || !st.Mode().IsRegular() {
		file = "audio.wav"
	}
	fmt.Fprintf(&b, "  curl %s/v1/transcriptions%s -F file=@%s -F mode=agent\n", base, header, file)
	io.WriteString(w, b.String())
}

// dialable is addr as a client on this machine reaches it: a server on
// every interface (0.0.0.0, and :: which Go listens on for IPv4 too) is
// reached at 127.0.0.1.
func dialable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP != nil && !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}
