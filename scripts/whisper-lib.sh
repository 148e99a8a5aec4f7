#!/usr/bin/env bash
# Builds whisper.cpp as static libraries for earshot's cgo layer, once per
# (source, version, flags, CPU) key, in a cache outside the repository, and
# prints the build's root on stdout. Everything else goes to stderr.
#
#   scripts/whisper-lib.sh            build if needed, print the root
#   scripts/whisper-lib.sh --env      build if needed, print CGO_CFLAGS/CGO_LDFLAGS
#                                     exports for eval (what make uses)
#   WHISPER_CPP_DIR=/src/whisper.cpp  use that checkout instead of the pinned source
#   EARSHOT_CUDA=1                    build with CUDA (ggml-cuda); needs nvcc
#
# The root holds include/ (whisper.h, ggml*.h), lib/ (libwhisper.a, libggml*.a),
# bin/ (whisper-cli, whisper-server, built from the same sources for benchmarks)
# and ldflags (the link line for cgo).
set -euo pipefail

# whisper.cpp 1.9.1, as shipped in the npm package nodejs-whisper@0.3.1
# (folder package/cpp/whisper.cpp/). The integrity is the one the npm registry
# publishes for that tarball; it is checked before anything is extracted.
NPM_PACKAGE="nodejs-whisper@0.3.1"
NPM_INTEGRITY="sha512-ceoilUVraRuR5FnNyXpGQT2auAR48Oc3AQBEmkXnVpSn9iN6yVRzQBFCqVTGWbk6Wdi95NhvwXNzFvuR7erLWw=="
WHISPER_VERSION="1.9.1"

# earshot's changes to the pinned source: scripts/whisper.cpp.patch, applied
# before the build. whisper_full_with_state is meant to be called again and
# again on one state (earshot keeps one per worker), but unpatched:
# - it keeps the text it decoded last in the state (prompt_past0/1) and,
#   unless no_context is set, prompts the next call with it: one caller's
#   words would condition the decoding of the next caller's audio on that
#   worker, and the same audio would give different text from one request to
#   the next. Patched, each call starts with none (within a call, text still
#   carries from one 30 s window to the next, as whisper intends);
# - it reseeds the random generators of decoders 1..n on every call but
#   never decoder 0's, so temperature fallback sampled differently depending
#   on what the worker ran before;
# - it computes no_speech_prob from row 0 of the logits, which a prompt of
#   several tokens (always: SOT, language, task) never writes, so the figure
#   was whatever an earlier decode left there. Patched, it is read at the SOT
#   token, as OpenAI's whisper does.
PATCH_FILE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/whisper.cpp.patch"

mode="${1:-root}"

log() { printf 'whisper-lib: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() { [ "$(id -u)" = 0 ]; }

# need TOOL DEBIAN_PACKAGE: installs the package with apt when running as root,
# otherwise stops with the exact command to run.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if as_root && command -v apt-get >/dev/null 2>&1; then
		log "installing $2 (for $1)"
		if [ -z "${EARSHOT_APT_UPDATED:-}" ]; then
			DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
			export EARSHOT_APT_UPDATED=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
		command -v "$1" >/dev/null 2>&1 && return 0
	fi
	die "$1 is missing; install it with: sudo apt-get install -y $2"
}

need cmake cmake
need g++ g++
need make make
need patch patch

cache_root="${EARSHOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/earshot}/whisper"

cmake_flags=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF
	-DWHISPER_BUILD_TESTS=OFF -DWHISPER_BUILD_EXAMPLES=ON -DWHISPER_BUILD_SERVER=ON
	-DWHISPER_SDL2=OFF -DWHISPER_CURL=OFF -DGGML_NATIVE=ON -DGGML_OPENMP=ON)
if [ "${EARSHOT_CUDA:-0}" = 1 ]; then
	cmake_flags+=(-DGGML_CUDA=ON)
fi

if [ -n "${WHISPER_CPP_DIR:-}" ]; then
	[ -f "$WHISPER_CPP_DIR/include/whisper.h" ] || die "WHISPER_CPP_DIR=$WHISPER_CPP_DIR has no include/whisper.h"
	src_id="dir:$(cd "$WHISPER_CPP_DIR" && pwd)"
	if git -C "$WHISPER_CPP_DIR" rev-parse HEAD >/dev/null 2>&1; then
		src_id="$src_id@$(git -C "$WHISPER_CPP_DIR" rev-parse HEAD)$(git -C "$WHISPER_CPP_DIR" diff --quiet || echo -dirty)"
	fi
else
	src_id="npm:$NPM_PACKAGE:$NPM_INTEGRITY:$(sha256sum <"$PATCH_FILE" | cut -c1-64)"
fi
# A native build is only valid on the CPU it was made for.
cpu_id="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m)"
key="$WHISPER_VERSION-$(printf '%s\n%s\n%s\n' "$src_id" "${cmake_flags[*]}" "$cpu_id" | sha256sum | cut -c1-16)"
root="$cache_root/$key"

emit() {
	if [ "$mode" = --env ]; then
		printf 'export CGO_CFLAGS=%q CGO_LDFLAGS=%q\n' "-I$root/include" "$(cat "$root/ldflags")"
	else
		printf '%s\n' "$root"
	fi
	exit 0
}

[ -f "$root/.complete" ] && emit

mkdir -p "$cache_root"
# One build at a time per key; a second caller waits, then finds it complete.
exec 9>"$root.lock"
flock 9
[ -f "$root/.complete" ] && emit
rm -rf "$root"
work="$root.tmp"
rm -rf "$work"
mkdir -p "$work"

if [ -n "${WHISPER_CPP_DIR:-}" ]; then
	src="$(cd "$WHISPER_CPP_DIR" && pwd)"
	log "using whisper.cpp from $src"
else
	need npm npm
	need node nodejs
	log "fetching $NPM_PACKAGE"
	(cd "$work" && npm pack --silent "$NPM_PACKAGE" >/dev/null) || die "npm pack $NPM_PACKAGE failed (is the npm registry reachable?)"
	tgz="$(ls "$work"/nodejs-whisper-*.tgz)"
	got="$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
	[ "$got" = "$NPM_INTEGRITY" ] || die "integrity mismatch for $NPM_PACKAGE: got $got, want $NPM_INTEGRITY"
	log "integrity ok ($NPM_INTEGRITY)"
	tar -xzf "$tgz" -C "$work" package/cpp/whisper.cpp
	rm -f "$tgz"
	src="$work/package/cpp/whisper.cpp"
	grep -q "VERSION $WHISPER_VERSION" "$src/CMakeLists.txt" || die "$NPM_PACKAGE does not hold whisper.cpp $WHISPER_VERSION"
	patch -d "$src" -p1 --forward --batch --quiet <"$PATCH_FILE" || die "cannot apply $PATCH_FILE to $NPM_PACKAGE"
	log "patched src/whisper.cpp ($(basename "$PATCH_FILE"))"
fi

jobs="$(nproc 2>/dev/null || echo 2)"
log "building whisper.cpp ($key) with $jobs jobs; a cold build takes a few minutes"
cmake -S "$src" -B "$work/build" "${cmake_flags[@]}" >"$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log" >&2; die "cmake configure failed (log: $work/cmake.log)"; }
cmake --build "$work/build" -j "$jobs" --target whisper whisper-cli whisper-server >>"$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log" >&2; die "cmake build failed (log: $work/cmake.log)"; }

mkdir -p "$work/out/include" "$work/out/lib" "$work/out/bin"
cp "$src/include/whisper.h" "$src"/ggml/include/*.h "$work/out/include/"
find "$work/build" -name 'lib*.a' -exec cp {} "$work/out/lib/" \;
cp "$work/build/bin/whisper-cli" "$work/build/bin/whisper-server" "$work/out/bin/"

libs="-lwhisper -lggml"
for l in "$work"/out/lib/libggml-*.a; do
	n="$(basename "$l" .a)"; n="${n#lib}"
	[ "$n" = ggml-base ] && continue
	libs="$libs -l$n"
done
libs="$libs -lggml-base"
extra="-lstdc++ -lm -lpthread -fopenmp"
if [ "${EARSHOT_CUDA:-0}" = 1 ]; then
	cuda_lib="${CUDA_HOME:-/usr/local/cuda}/lib64"
	extra="$extra -L$cuda_lib -L$cuda_lib/stubs -lcudart -lcublas -lcublasLt -lcuda -ldl -lrt"
fi
printf -- '-L%s %s %s\n' "$root/lib" "$libs" "$extra" >"$work/out/ldflags"
printf '%s\n' "$src_id" "${cmake_flags[*]}" >"$work/out/source"

rm -rf "$root"
mv "$work/out" "$root"
rm -rf "$work"
touch "$root/.complete"
log "built $root"
emit
