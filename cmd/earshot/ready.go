package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// sampleAudio is the recording `make run` users have at hand (the
// repository's test data, relative to its root).
const sampleAudio = "testdata/audio/jfk.wav"

// printReady tells the person who started the server that it is ready and
// how to try it, in lines that can be pasted into a shell: it is called
// once the listener is open and the model is loaded, with the address the
// listener really has. sessionKey is the key made for this run, if any (it
// is printed as an export of EARSHOT_API_KEY, the name the examples read);
// auth says whether requests need a key at all; mcp whether /mcp is served.
func printReady(w io.Writer, addr net.Addr, sessionKey string, auth, mcp bool) {
	base := "http://" + dialable(addr)
	var b strings.Builder
	fmt.Fprintf(&b, "earshot: ready at %s", base)
	if mcp {
		fmt.Fprintf(&b, " (MCP at %s/mcp)", base)
	}
	b.WriteString("; try it:\n")
	header := ""
	switch {
	case sessionKey != "":
		fmt.Fprintf(&b, "  export EARSHOT_API_KEY=%s   # this run's key, kept in memory only\n", sessionKey)
		header = ` -H "Authorization: Bearer $EARSHOT_API_KEY"`
	case auth:
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
