#!/usr/bin/env bash
# Runs every example against a real earshot server on a synthetic model
# (random weights: the text is meaningless, the exchange is real). CI runs it.
#   examples/run.sh path/to/earshot
set -euo pipefail
cd "$(dirname "$0")"
bin="$(cd .. && realpath "${1:-bin/earshot}")"
root="$(cd .. && pwd)"
tmp="$(mktemp -d)"
tlspid=""
trap 'kill "$pid" $tlspid 2>/dev/null || true; wait "$pid" $tlspid 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$bin" models synth --size test --out "$tmp/model.bin" 2>/dev/null
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export EARSHOT_URL="http://127.0.0.1:$port" EARSHOT_API_KEY="esk_example_$RANDOM$RANDOM" EARSHOT_HOME="$tmp/home"
"$bin" serve --addr "127.0.0.1:$port" --model "$tmp/model.bin" --threads 2 2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 100); do curl -sf "$EARSHOT_URL/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$EARSHOT_URL/readyz" >/dev/null || { cat "$tmp/serve.log"; exit 1; }

# Debian's python3-httpx installs into the system Python.
py="$(command -v /usr/bin/python3 || command -v python3)"
echo "== python (httpx)"; (cd python && "$py" transcribe.py)
echo "== node (openai SDK)"; (cd node && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; } && node transcribe.mjs)
echo "== curl"; curl/transcribe.sh
echo "== without a key: 401"
code="$(curl -s -o /dev/null -w '%{http_code}' -F file=@../testdata/audio/jfk.wav "$EARSHOT_URL/v1/audio/transcriptions")"
[ "$code" = 401 ] || { echo "got $code"; exit 1; }
# The MCP TypeScript SDK (what Claude Desktop and Claude Code speak) against
# earshot mcp over stdio and against /mcp of the server above.
echo "== mcp (MCP TypeScript SDK)"
(cd mcp && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; } &&
	EARSHOT_BIN="$bin" EARSHOT_MODEL="$tmp/model.bin" AUDIO="$root/testdata/audio/jfk.wav" node client.mjs stdio 2>"$tmp/mcp.log" &&
	AUDIO="$root/testdata/audio/jfk.wav" node client.mjs http) || { cat "$tmp/mcp.log" "$tmp/serve.log"; exit 1; }
# Live transcription with the openai package's own Realtime clients (Node and
# browser-style): they always dial wss://, so a second server serves TLS with
# a certificate made for this run.
echo "== realtime (openai SDK Realtime clients, wss://)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
tlsport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" serve --addr "127.0.0.1:$tlsport" --model "$tmp/model.bin" --threads 2 --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" 2>"$tmp/tls.log" &
tlspid=$!
for _ in $(seq 100); do curl -sf --cacert "$tmp/cert.pem" "https://127.0.0.1:$tlsport/readyz" >/dev/null && break; sleep 0.1; done
(cd realtime && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; } &&
	NODE_EXTRA_CA_CERTS="$tmp/cert.pem" EARSHOT_TLS_URL="https://127.0.0.1:$tlsport" node realtime.mjs) || { cat "$tmp/tls.log"; exit 1; }
# The browser playground at / in a real Chromium (Debian's, driven by
# playwright-core): upload, a wrong key, record and live from a fake
# microphone playing jfk.wav, copy-as. Screenshots: the folder it prints.
echo "== playground (playwright-core + Chromium)"
(cd playground && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; } &&
	AUDIO="$root/testdata/audio/jfk.wav" node playground.mjs) || { cat "$tmp/serve.log"; exit 1; }
echo "examples: 8 passed, 0 failed"
