#!/usr/bin/env bash
# Transcribe a file with earshot using curl, as with OpenAI's API.
#   EARSHOT_URL=http://127.0.0.1:8080 EARSHOT_API_KEY=esk_... ./transcribe.sh audio.wav
set -euo pipefail
url="${EARSHOT_URL:-http://127.0.0.1:8080}"
file="${1:-$(dirname "$0")/../../testdata/audio/jfk.wav}"

curl -sS --fail-with-body "$url/v1/audio/transcriptions" \
  -H "Authorization: Bearer $EARSHOT_API_KEY" \
  -F file=@"$file" \
  -F model=whisper-1 \
  -F response_format=text
