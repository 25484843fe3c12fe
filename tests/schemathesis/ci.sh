#!/usr/bin/env bash
# API fuzzing: schemathesis (pinned in requirements.txt, installed in a venv) against
# /api/openapi.json of a release server it starts in guest mode with the demo catalog, every
# check on. Short and bounded: SCHEMATHESIS_MAX_EXAMPLES cases per operation (default 25) and
# SCHEMATHESIS_MAX_TIME seconds in all (default 240). Fails on any 5xx or any answer that breaks
# the documented schema.
# Usage (from the repository root, after `cargo build --release`):
#   tests/schemathesis/ci.sh [sqlite | postgres://.../empty_database]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
db="${1:-sqlite}"
port="${SCHEMATHESIS_PORT:-7118}"
venv="${SCHEMATHESIS_VENV:-$root/target/schemathesis-venv}"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; wait "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

if ! [ -x "$venv/bin/st" ] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

mkdir -p "$work/data" "$work/files"
cat > "$work/portolan.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
[database]
data_dir = "$work/data"
[reading]
file_roots = ["$work/files"]
TOML
if [ "$db" != "sqlite" ]; then
  export DATABASE_URL="$db"
fi
bin="${CARGO_TARGET_DIR:-$root/target}/release/portolan"
(cd "$root" && exec "$bin" serve --config "$work/portolan.toml") > "$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break
  sleep 0.2
done

status=0
"$venv/bin/st" --config-file "$here/schemathesis.toml" run "http://127.0.0.1:$port/api/openapi.json" \
  --checks all \
  --exclude-path /api/gateway/auth \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-240}" \
  --seed "${SCHEMATHESIS_SEED:-16}" \
  --workers 2 \
  --request-timeout 10 \
  --generation-database none \
  --no-color \
  --report junit --report-dir "${SCHEMATHESIS_REPORT_DIR:-$work/report}" \
  ${SCHEMATHESIS_ARGS:-} || status=$?
if grep -q '"level":"ERROR"\|ERROR' "$work/server.log"; then
  echo "--- the server logged errors:"; grep 'ERROR' "$work/server.log" | head -20
  status=1
fi
if [ "$status" != 0 ]; then
  echo "--- server log (last 40 lines)"; tail -40 "$work/server.log"
fi
exit "$status"
