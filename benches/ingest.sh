#!/usr/bin/env bash
# Bulk ingestion benchmark: from `portolan serve` start to "all queryable" (the first /healthz
# 200, which portolan answers only after the start-up catalog is loaded), on SQLite and
# PostgreSQL, for 1k, 10k and 100k synthetic entities (the same mix and files as
# ../shared/bench/backstage/gen.js), RUNS runs each; then RSS of the server after ingest.
#
# Usage: benches/ingest.sh [RUNS] [SIZES...]   e.g. benches/ingest.sh 3 1000 10000 100000
# PostgreSQL: PG_URL (default postgres://postgres@127.0.0.1:5432/test) names the server; a
# database portolan_bench is created afresh for each run. PORTOLAN_BIN names another build of
# the server (say, the previous commit's, for a side-by-side comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"; shift || true
SIZES=("${@:-1000 10000 100000}"); SIZES=(${SIZES[*]})
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
PG_BASE="${PG_URL%/*}"
WORK="${BENCH_DIR:-/tmp/portolan-bench}"
PORT=7190
cargo build --release --quiet --bin portolan --example gencatalog
BIN="${PORTOLAN_BIN:-${CARGO_TARGET_DIR:-target}/release/portolan}"
mkdir -p "$WORK"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_once() { # backend size -> "seconds rss_kib entities"
  local backend=$1 n=$2 data="$WORK/data-$1-$2" url
  rm -rf "$data"
  if [ "$backend" = postgres ]; then
    psql "$PG_URL" -qc "drop database if exists portolan_bench with (force)" -c "create database portolan_bench" >/dev/null
    url="$PG_BASE/portolan_bench"
  else
    url="sqlite://$data/portolan.db"
  fi
  local t0 t1 pid
  t0=$(date +%s.%N)
  RUST_LOG=warn "$BIN" serve --bind 127.0.0.1:$PORT --database-url "$url" --data-dir "$data" --catalog "$WORK/cat-$n" &
  pid=$!
  until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do sleep 0.01; done
  t1=$(date +%s.%N)
  local rss count
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  count=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^portolan_entities/ {s+=$2} END {print s}')
  kill $pid; wait $pid 2>/dev/null || true
  echo "$(echo "$t1 - $t0" | bc) $rss $count"
}

printf '%-9s %8s %12s %14s %10s\n' backend entities "median (s)" "runs (s)" "RSS (MiB)"
for n in "${SIZES[@]}"; do
  [ -d "$WORK/cat-$n" ] || "${CARGO_TARGET_DIR:-target}"/release/examples/gencatalog "$n" "$WORK/cat-$n" >/dev/null
  for backend in sqlite postgres; do
    times=(); rss=0; count=0
    for _ in $(seq 1 "$RUNS"); do
      read -r t r c < <(run_once "$backend" "$n")
      times+=("$t"); rss=$r; count=$c
    done
    med=$(printf '%s\n' "${times[@]}" | median)
    printf '%-9s %8s %12.2f %14s %10.1f\n' "$backend" "$count" "$med" "$(printf '%.2f ' "${times[@]}")" "$(echo "$rss / 1024" | bc -l)"
  done
done
