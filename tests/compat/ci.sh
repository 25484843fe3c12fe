#!/usr/bin/env bash
# Runs run.mjs against a portolan server it starts with the demo catalog, on the database given
# as $1: "sqlite" (a fresh file) or a postgres:// URL of an empty database.
# Usage (from the repository root, after `cargo build --release`): tests/compat/ci.sh sqlite
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
db="${1:-sqlite}"
work="$(mktemp -d)"
port="${COMPAT_PORT:-7117}"
trap 'kill "${pid:-0}" 2>/dev/null || true; wait "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/fixtures" "$work/data"
cat > "$work/portolan.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
[database]
data_dir = "$work/data"
[reading]
file_roots = ["$work/fixtures"]
TOML
if [ "$db" != "sqlite" ]; then
  export DATABASE_URL="$db"
fi
(cd "$here" && [ -d node_modules ] || npm ci --no-audit --no-fund --silent)
(cd "$root" && exec ./target/release/portolan serve --config "$work/portolan.toml") > "$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break
  sleep 0.2
done
if ! PORTOLAN_URL="http://127.0.0.1:$port" COMPAT_FIXTURES="$work/fixtures" node "$here/run.mjs" \
  || ! PORTOLAN_URL="http://127.0.0.1:$port" node "$here/openapi.mjs"; then
  echo "--- server log (last 40 lines)"; tail -40 "$work/server.log"
  exit 1
fi
