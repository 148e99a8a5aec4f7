#!/usr/bin/env bash
# Writes turns.wav (16 kHz mono 16-bit: silence, a sentence, a pause, a
# sentence, silence) and turns.txt (where the speech is, in ms), from
# espeak-ng and sox: sudo apt-get install -y espeak-ng sox.
set -euo pipefail
cd "$(dirname "$0")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
say() { # text out: speech with its own leading and trailing silence cut
	espeak-ng -v en-us -s 160 -w "$tmp/raw.wav" "$1"
	sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 "$2" silence 1 0.02 1% reverse silence 1 0.02 1% reverse
}
say "Please book a table for two at seven tonight." "$tmp/a.wav"
say "And send the confirmation to my phone." "$tmp/b.wav"
sox -n -r 16000 -c 1 -b 16 "$tmp/lead.wav" trim 0 0.8
sox -n -r 16000 -c 1 -b 16 "$tmp/gap.wav" trim 0 1.6
sox -n -r 16000 -c 1 -b 16 "$tmp/tail.wav" trim 0 1.2
sox "$tmp/lead.wav" "$tmp/a.wav" "$tmp/gap.wav" "$tmp/b.wav" "$tmp/tail.wav" turns.wav
ms() { soxi -D "$1" | awk '{printf "%d", $1*1000 + 0.5}'; }
a=$(ms "$tmp/a.wav"); b=$(ms "$tmp/b.wav")
{ echo "800 $((800 + a))"; echo "$((800 + a + 1600)) $((800 + a + 1600 + b))"; } >turns.txt
