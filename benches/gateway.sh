#!/usr/bin/env bash
# Gateway benchmark: wrk (Debian's package; installed if missing) on loopback against portolan's
# two key checks, `POST /api/gateway/check` and `GET /api/gateway/auth` (nginx auth_request),
# with `wrk -t1 -c16` and 16 valid keys of 16 subscriptions picked at random per request. Each
# load runs after a 2 s warm-up, RUNS times; medians of requests/s, p50 and p99 are printed.
# Then the quota tolerance: two instances on one database, each under `wrk -t1 -c8` for 5 s with
# the same key of a plan allowing QUOTA calls a day; the calls both let through (2xx) are
# counted against the quota.
#
# Usage: benches/gateway.sh [RUNS]
# TOLERANCE_RUNS=N repeats the quota tolerance N times (a fresh subscription each time);
# TOLERANCE_ONLY=1 skips the throughput loads.
# BACKEND=postgres (PG_URL, default postgres://postgres@127.0.0.1:5432/test) for PostgreSQL.
# BIN=path/to/portolan to use a binary already built (default: cargo build --release).
# WORKERS=N sets the server's `server.workers` (default: one core fewer than the machine has, so
# wrk, which runs here too, has a core of its own; WORKERS=0 is portolan's default, one worker
# per core, which oversubscribes the cores and measures the scheduler's time slices in the tail).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
BACKEND="${BACKEND:-sqlite}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
DURATION="${DURATION:-10s}"
QUOTA="${QUOTA:-20000}"
WORK="${BENCH_DIR:-/tmp/portolan-bench-gateway}"
PORT=7291
WORKERS="${WORKERS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}"
PORT2=7292
command -v wrk >/dev/null || { sudo -n true 2>/dev/null && SUDO=sudo || SUDO=; $SUDO apt-get install -y -qq wrk >/dev/null; }
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin portolan
  BIN=target/release/portolan
fi
rm -rf "$WORK"; mkdir -p "$WORK/catalog"
printf '[server]\nworkers = %s\n' "$WORKERS" > "$WORK/server.toml"

# A platform offering one API under a roomy plan and a tight one, and 17 consumers.
{
  cat <<'YAML'
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: bench-team}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: bench-api}
spec: {type: openapi, lifecycle: production, owner: bench-team, definition: "openapi: 3.0.0"}
---
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {name: bench-platform}
spec:
  owner: bench-team
  offerings:
    - api: bench-api
      plans:
        - {name: roomy, approval: auto, quota: {requests: 1000000000, period: month}, rateLimit: {requests: 1000000, period: second}}
YAML
  echo "        - {name: tight, approval: auto, quota: {requests: $QUOTA, period: day}}"
  for i in $(seq -w 0 40); do
    printf -- '---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: client-%s}\nspec: {type: service, lifecycle: production, owner: bench-team}\n' "$i"
  done
} > "$WORK/catalog/bench.yaml"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { # wrk latency text (123.45us, 1.20ms, 2.00s) -> milliseconds
  awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f\n", v}'
}

database() {
  if [ "$BACKEND" = postgres ]; then
    psql "$PG_URL" -qc "drop database if exists portolan_gateway_bench with (force)" -c "create database portolan_gateway_bench" >/dev/null
    echo "${PG_URL%/*}/portolan_gateway_bench"
  else
    echo "sqlite://$WORK/data/portolan.db"
  fi
}

PIDS=()
start() { # port url
  mkdir -p "$WORK/data"
  RUST_LOG=warn "$BIN" serve 2>>"$WORK/server-$1.log" --bind "127.0.0.1:$1" --database-url "$2" --data-dir "$WORK/data" --catalog "$WORK/catalog" --config "$WORK/server.toml" &
  PIDS+=($!)
  until curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; do sleep 0.05; done
}
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap stop EXIT

key_for() { # port consumer plan -> a key
  local sub
  sub=$(curl -sf -XPOST "http://127.0.0.1:$1/api/portal/subscriptions" -H 'content-type: application/json' \
    -d "{\"api\": \"bench-api\", \"plan\": \"$3\", \"consumer\": \"$2\"}" | sed -E 's/.*"id":"([^"]+)".*/\1/')
  curl -sf -XPOST "http://127.0.0.1:$1/api/portal/subscriptions/$sub/keys" -H 'content-type: application/json' -d '{}' |
    sed -E 's/.*"key":"([^"]+)".*/\1/'
}

load() { # name script -> "rps p50 p99" medians over RUNS (after a 2 s warm-up)
  local name=$1 script=$2 rps=() p50=() p99=() out
  for run in $(seq 0 "$RUNS"); do
    local d="$DURATION"; [ "$run" = 0 ] && d=2s
    out=$(wrk -t1 -c16 -d"$d" --latency -s "$script" "http://127.0.0.1:$PORT")
    [ "$run" = 0 ] && continue
    if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers for $name:"; echo "$out"; exit 1; fi
    rps+=("$(awk '/Requests\/sec/ {print $2}' <<<"$out")")
    p50+=("$(awk '$1=="50%" {print $2}' <<<"$out" | ms)")
    p99+=("$(awk '$1=="99%" {print $2}' <<<"$out" | ms)")
  done
  printf '%-10s %-14s %10.0f %10.3f %10.3f   runs: %s\n' "$BACKEND" "$name" \
    "$(printf '%s\n' "${rps[@]}" | median)" "$(printf '%s\n' "${p50[@]}" | median)" "$(printf '%s\n' "${p99[@]}" | median)" "$(printf '%.0f ' "${rps[@]}")"
}

URL=$(database)
start "$PORT" "$URL"
KEYS=()
for i in $(seq -w 0 15); do KEYS+=("$(key_for "$PORT" "client-$i" roomy)"); done
LUA_KEYS=$(printf '"%s",' "${KEYS[@]}")
cat > "$WORK/check.lua" <<LUA
local keys = {${LUA_KEYS%,}}
local bodies = {}
for i, k in ipairs(keys) do bodies[i] = '{"key":"' .. k .. '","api":"bench-api"}' end
init = function(args) math.randomseed(42) end
request = function()
  return wrk.format("POST", "/api/gateway/check", {["Content-Type"] = "application/json"}, bodies[math.random(1, #bodies)])
end
response = function(status, headers, body)
  if not string.find(body, '"allowed":true', 1, true) then error("refused: " .. body) end
end
LUA
cat > "$WORK/auth.lua" <<LUA
local keys = {${LUA_KEYS%,}}
init = function(args) math.randomseed(42) end
request = function()
  return wrk.format("GET", "/api/gateway/auth?api=bench-api", {["X-Api-Key"] = keys[math.random(1, #keys)]})
end
LUA
if [ -z "${TOLERANCE_ONLY:-}" ]; then
  echo "server.workers = $WORKERS (0: one per core) on $(nproc) cores, wrk -t1 -c16 beside it"
  printf '%-10s %-14s %10s %10s %10s\n' backend route 'req/s' 'p50 ms' 'p99 ms'
  load check "$WORK/check.lua"
  load auth "$WORK/auth.lua"
fi

# Quota tolerance: two instances, one key, QUOTA calls a day.
start "$PORT2" "$URL"
allowed() { # wrk output -> requests answered 2xx
  local total non
  total=$(awk '/requests in/ {print $1}' "$1")
  non=$(awk '/Non-2xx/ {print $5}' "$1")
  echo $((total - ${non:-0}))
}
for t in $(seq 1 "${TOLERANCE_RUNS:-1}"); do
  TIGHT=$(key_for "$PORT" "client-$((15 + t))" tight)
  cat > "$WORK/tight.lua" <<LUA
request = function() return wrk.format("GET", "/api/gateway/auth?api=bench-api", {["X-Api-Key"] = "$TIGHT"}) end
LUA
  wrk -t1 -c8 -d5s -s "$WORK/tight.lua" "http://127.0.0.1:$PORT" > "$WORK/a.txt" &
  WA=$!
  wrk -t1 -c8 -d5s -s "$WORK/tight.lua" "http://127.0.0.1:$PORT2" > "$WORK/b.txt" &
  WB=$!
  wait "$WA" "$WB"
  A=$(allowed "$WORK/a.txt"); B=$(allowed "$WORK/b.txt")
  RATE=$(awk '/Requests\/sec/ {s+=$2} END {printf "%.0f", s}' "$WORK/a.txt" "$WORK/b.txt")
  echo "quota $QUOTA/day, two instances ($BACKEND): allowed $A + $B = $((A + B)) (over by $((A + B - QUOTA)), $(awk -v o=$((A + B - QUOTA)) -v q="$QUOTA" 'BEGIN {printf "%.2f", 100*o/q}')%); $RATE checks/s in total"
done
