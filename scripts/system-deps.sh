#!/usr/bin/env bash
# Installs the system tools earshot's tests and runtime use, when this
# machine allows it (root with apt), and otherwise names the exact command.
#   scripts/system-deps.sh run    ffmpeg (decodes Ogg/Opus/WebM/MP4/AAC)
#   scripts/system-deps.sh test   ffmpeg, python3-httpx, curl, node+npm, openssl (the client examples;
#                                 openssl makes the TLS certificate of the realtime example;
#                                 chromium is the browser the playground's test drives)
set -euo pipefail
want=(ffmpeg:ffmpeg)
if [ "${1:-run}" = test ]; then
	want+=(curl:curl python3-httpx:python3-httpx node:nodejs npm:npm openssl:openssl chromium:chromium)
fi
missing=()
for w in "${want[@]}"; do
	tool="${w%%:*}" pkg="${w#*:}"
	case "$tool" in
	python3-httpx) /usr/bin/python3 -c 'import httpx' 2>/dev/null || python3 -c 'import httpx' 2>/dev/null || missing+=("$pkg") ;;
	*) command -v "$tool" >/dev/null 2>&1 || missing+=("$pkg") ;;
	esac
done
[ ${#missing[@]} = 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "system-deps: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
	exit 0
fi
echo "system-deps: missing ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
[ "${1:-run}" = test ] && exit 1
exit 0 # at run time these are optional: earshot says what it cannot decode
