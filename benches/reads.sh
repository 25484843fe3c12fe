#!/usr/bin/env bash
# Read benchmark: wrk (Debian's package; installed if missing) on loopback against portolan
# serving the synthetic catalog (examples/gencatalog, the mix of ../shared/bench/backstage/gen.js),
# with the load shape of ../shared/bench/backstage: `wrk -t1 -c16`, by-name on random components
# and `by-query?filter=kind=component&limit=100`; plus facets and a full-text query. Each load runs
# RUNS times and the median requests/s, p50 and p99 are printed, with the read cache on and off.
# Then single-request latencies (median of 15) of facets and of a counted query, cache off.
#
# Usage: benches/reads.sh [RUNS] [SIZES...]   e.g. benches/reads.sh 3 10000 100000
# BACKEND=postgres (PG_URL, default postgres://postgres@127.0.0.1:5432/test) for PostgreSQL.
# READ_TIMEOUT_MS sets database.read_timeout_ms (0: reads without the timeout's transaction).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"; shift || true
SIZES=("${@:-10000 100000}"); SIZES=(${SIZES[*]})
BACKEND="${BACKEND:-sqlite}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
DURATION="${DURATION:-10s}"
WORK="${BENCH_DIR:-/tmp/portolan-bench}"
PORT=7191
command -v wrk >/dev/null || { sudo -n true 2>/dev/null && SUDO=sudo || SUDO=; $SUDO apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin portolan --example gencatalog
BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release/portolan}"
mkdir -p "$WORK"
cat > "$WORK/byname.lua" <<'LUA'
-- Random component lookups by name; C = number of components.
local C = tonumber(os.getenv("C") or "5000")
local tid = 0
setup = function(thread) tid = tid + 1; thread:set("seed", tid) end
init = function(args) math.randomseed(1000 + (seed or 1)) end
request = function()
  return wrk.format("GET", string.format("/api/catalog/entities/by-name/component/default/comp-%06d", math.random(0, C - 1)))
end
LUA

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { # wrk latency text (123.45us, 1.20ms, 2.00s) -> milliseconds
  awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f\n", v}'
}

start() { # size cache(true|false)
  local n=$1 cache=$2 data="$WORK/reads-$BACKEND-$1" url
  if [ "$BACKEND" = postgres ]; then
    url="${PG_URL%/*}/portolan_reads_$n"
    if ! psql "$PG_URL" -tAc "select 1 from pg_database where datname='portolan_reads_$n'" | grep -q 1; then
      psql "$PG_URL" -qc "create database portolan_reads_$n" >/dev/null
    fi
  else
    url="sqlite://$data/portolan.db"
  fi
  rm -rf "$data"; mkdir -p "$data"
  printf '[server]\nread_cache = %s\n' "$cache" > "$data/portolan.toml"
  if [ -n "${READ_TIMEOUT_MS:-}" ]; then printf '[database]\nread_timeout_ms = %s\n' "$READ_TIMEOUT_MS" >> "$data/portolan.toml"; fi
  RUST_LOG=warn "$BIN" serve --config "$data/portolan.toml" --bind 127.0.0.1:$PORT --database-url "$url" \
    --data-dir "$data" --catalog "$WORK/cat-$n" &
  PID=$!
  until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do sleep 0.05; done
}

load() { # name path-or-script -> "rps p50 p99" medians over RUNS (after a 2 s warm-up)
  local name=$1 target=$2 rps=() p50=() p99=() out
  for run in $(seq 0 "$RUNS"); do
    local d="$DURATION"; [ "$run" = 0 ] && d=2s
    if [[ "$target" == *.lua ]]; then
      out=$(C=$C wrk -t1 -c16 -d"$d" --latency -s "$target" "http://127.0.0.1:$PORT")
    else
      out=$(wrk -t1 -c16 -d"$d" --latency "http://127.0.0.1:$PORT$target")
    fi
    [ "$run" = 0 ] && continue
    rps+=("$(awk '/Requests\/sec/ {print $2}' <<<"$out")")
    p50+=("$(awk '$1=="50%" {print $2}' <<<"$out" | ms)")
    p99+=("$(awk '$1=="99%" {print $2}' <<<"$out" | ms)")
    if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers for $name:"; echo "$out"; exit 1; fi
  done
  printf '%-10s %-6s %-10s %10.0f %10.3f %10.3f   runs: %s\n' "$BACKEND" "$N" "$name" \
    "$(printf '%s\n' "${rps[@]}" | median)" "$(printf '%s\n' "${p50[@]}" | median)" "$(printf '%s\n' "${p99[@]}" | median)" "$(printf '%.0f ' "${rps[@]}")"
}

single() { # name path -> median ms of 15 requests
  local t=()
  for _ in $(seq 1 15); do
    t+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT$1" | awk '{printf "%.2f", $1*1000}')")
  done
  printf '%-10s %-6s %-40s %8s ms (median of 15)\n' "$BACKEND" "$N" "$1" "$(printf '%s\n' "${t[@]}" | median)"
}

for N in "${SIZES[@]}"; do
  [ -d "$WORK/cat-$N" ] || "${CARGO_TARGET_DIR:-target}"/release/examples/gencatalog "$N" "$WORK/cat-$N" >/dev/null
  C=$((N / 2))
  for cache in true false; do
    echo "== $N entities, $BACKEND, read_cache = $cache"
    printf '%-10s %-6s %-10s %10s %10s %10s\n' backend size route "req/s" "p50 ms" "p99 ms"
    start "$N" "$cache"
    load by-name "$WORK/byname.lua"
    load by-query "/api/catalog/entities/by-query?filter=kind=component&limit=100"
    load facets "/api/catalog/entity-facets?facet=kind&facet=spec.type"
    load fulltext "/api/catalog/entities/by-query?fullTextFilterTerm=comp-0001&limit=20"
    if [ "$cache" = false ]; then
      single "/api/catalog/entity-facets?facet=kind&facet=spec.type&facet=metadata.tags"
      single "/api/catalog/entities/by-query?filter=kind=component&limit=100&totalItems=include"
      single "/api/catalog/entities/by-query?fullTextFilterTerm=comp-0001&limit=20"
    fi
    kill $PID; wait $PID 2>/dev/null || true
  done
done
