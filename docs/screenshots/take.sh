#!/usr/bin/env bash
# Retakes the screenshots in this directory: a fresh depot on a scratch database, a few
# packages and a Go module, then the browser flow of tests/browser/flow.mjs with screenshots
# of every page at 390 px and 1280 px in light and dark schemes.
#   cargo build --release && npm ci --prefix tests/browser && bash docs/screenshots/take.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
depot=$PWD/target/release/depot
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
printf 'screens-password\n' | "$depot" --db "$work/d.redb" user add alice --admin --password-stdin >/dev/null
"$depot" --db "$work/d.redb" serve --listen 127.0.0.1:0 >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q 'listening on' "$work/log" && break; sleep 0.1; done
base=$(grep -o 'listening on http://[0-9.:]*' "$work/log" | head -1 | sed 's/listening on //')
api="$base/api/packages/alice/generic"
put() { curl -sf -u alice:screens-password --upload-file "$1" "$api/$2" >/dev/null; }
head -c 180000 /dev/urandom >"$work/linux"; head -c 210000 /dev/urandom >"$work/mac"
for v in 1.0.0 1.1.0 1.2.0; do put "$work/linux" "tool/$v/tool-linux-amd64.tar.gz"; done
put "$work/linux" tool/2.0/tool-linux.tar.gz
put "$work/mac" tool/2.0/tool-mac.tar.gz
put "$work/linux" backup-scripts/0.3.1/backup-scripts.tar.gz
put "$work/mac" homelab-dashboard/2026.11.2/dashboard.zip
mkdir -p "$work/mod" && printf 'module example.com/hello\n\ngo 1.21\n' >"$work/mod/go.mod"
printf 'package hello\n\nfunc Hello() string { return "hello" }\n' >"$work/mod/hello.go"
"$depot" go zip --module example.com/hello --version v1.4.0 --output "$work/m.zip" "$work/mod" >/dev/null
curl -sf -u alice:screens-password --upload-file "$work/m.zip" "$base/api/packages/alice/go/upload" >/dev/null
node tests/browser/flow.mjs "$base" alice screens-password --screenshots docs/screenshots
