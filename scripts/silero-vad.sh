#!/usr/bin/env bash
# Fetches Silero VAD's ONNX weights once into a cache outside the repository
# and prints the path of the ONNX file on stdout (everything else goes to
# stderr). earshot converts it to whisper.cpp's ggml VAD format with its own
# Go code (`earshot models vad --onnx FILE`, which `make build` runs).
#
#   scripts/silero-vad.sh        fetch if needed, print .../silero_vad_v5.onnx
#   scripts/silero-vad.sh v6     the same for Silero v6
#
# Silero VAD (MIT, github.com/snakers4/silero-vad) as shipped in the npm
# package @ricky0123/vad-web@0.0.31 (ISC), files dist/silero_vad_v5.onnx and
# dist/silero_vad_v6.onnx. The integrity is the one the npm registry
# publishes for that tarball; it is checked before anything is extracted.
set -euo pipefail

NPM_PACKAGE="@ricky0123/vad-web@0.0.31"
NPM_INTEGRITY="sha512-ePVq8TvB21sdHSxVMZOEIf9JVa7MAYpaIaNXeGgsPOiMCN8xbPCdF2LS5aYj7VRR3ZxzutedgV9ZplV65IA1Fg=="

variant="${1:-v5}"
case "$variant" in
v5 | v6) ;;
*) echo "silero-vad: unknown variant $variant (v5 or v6)" >&2; exit 2 ;;
esac

log() { printf 'silero-vad: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

cache="${EARSHOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/earshot}/silero-vad/vad-web-0.0.31"
onnx="$cache/silero_vad_$variant.onnx"
if [ -f "$cache/.complete" ]; then
	printf '%s\n' "$onnx"
	exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm is missing; install it with: sudo apt-get install -y npm"
command -v node >/dev/null 2>&1 || die "node is missing; install it with: sudo apt-get install -y nodejs"
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
if [ ! -f "$cache/.complete" ]; then
	work="$cache.tmp"
	rm -rf "$work" "$cache"
	mkdir -p "$work"
	log "fetching $NPM_PACKAGE"
	(cd "$work" && npm pack --silent "$NPM_PACKAGE" >/dev/null 2>&1) || die "npm pack $NPM_PACKAGE failed (is the npm registry reachable?)"
	tgz="$(ls "$work"/*.tgz)"
	got="$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
	[ "$got" = "$NPM_INTEGRITY" ] || die "integrity mismatch for $NPM_PACKAGE: got $got, want $NPM_INTEGRITY"
	log "integrity ok ($NPM_INTEGRITY)"
	tar -xzf "$tgz" -C "$work" package/dist/silero_vad_v5.onnx package/dist/silero_vad_v6.onnx
	mkdir -p "$work/out"
	mv "$work"/package/dist/silero_vad_v5.onnx "$work"/package/dist/silero_vad_v6.onnx "$work/out/"
	printf '%s\n%s\n' "$NPM_PACKAGE" "$NPM_INTEGRITY" >"$work/out/source"
	mv "$work/out" "$cache"
	rm -rf "$work"
	touch "$cache/.complete"
	log "cached in $cache"
fi
printf '%s\n' "$onnx"
