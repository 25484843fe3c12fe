#!/usr/bin/env bash
# UI benchmark: server render time and page weight of every UI page, with the 10k synthetic
# catalog (examples/gencatalog) loaded beside the demo catalog (whose products, platforms,
# offerings and 30 days of demo-traffic give the pages their data), SQLite, read cache on.
#
# Render time: curl's time to first byte on loopback (the whole page is rendered before the
# first byte leaves), median of RUNS requests after one warm-up. Weight: the HTML plus the CSS
# and scripts it loads, uncompressed.
#
# Usage: benches/ui.sh [RUNS] [SIZE]   e.g. benches/ui.sh 21 10000
# BIN=path/to/portolan skips the build and runs that binary. READ_CACHE=false turns the read
# cache off (what a render costs right after a catalog change).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-21}"
SIZE="${2:-10000}"
WORK="${BENCH_DIR:-/tmp/portolan-bench-ui}"
PORT="${PORT:-7192}"
TARGET="${CARGO_TARGET_DIR:-target}"
[ -n "${BIN:-}" ] || cargo build --release --quiet --bin portolan --example gencatalog
BIN="${BIN:-$TARGET/release/portolan}"
mkdir -p "$WORK"
[ -d "$WORK/cat-$SIZE" ] || "$TARGET/release/examples/gencatalog" "$SIZE" "$WORK/cat-$SIZE" >/dev/null
data="$WORK/data-$SIZE"; rm -rf "$data"; mkdir -p "$data"
# READ_CACHE=false: every render reads the database (the first render after a catalog change).
extra=()
if [ "${READ_CACHE:-true}" = false ]; then
  printf '[server]\nread_cache = false\n' > "$WORK/no-cache.toml"; extra=(--config "$WORK/no-cache.toml")
fi
RUST_LOG=warn "$BIN" serve "${extra[@]}" --bind 127.0.0.1:$PORT --data-dir "$data" --catalog "$WORK/cat-$SIZE,catalog-info" >"$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do sleep 0.1; done
"$BIN" demo-traffic --url "http://127.0.0.1:$PORT" --days 30 >/dev/null
base="http://127.0.0.1:$PORT"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
pages=(
  "/" "/catalog" "/catalog?kind=Component&page=3" "/catalog?q=comp-0001"
  "/catalog/component/default/comp-000123" "/catalog/component/default/cart-service"
  "/products" "/products/default/checkout" "/platforms" "/platforms/default/inventory"
  "/apis" "/apis/default/availability-api" "/subscriptions" "/approvals"
  "/dashboard" "/dashboard?platform=platform%3Adefault%2Finventory&range=30d"
  "/governance" "/governance/graph?entity=component%3Adefault%2Fcart-service"
)
printf '%-62s %10s %10s %12s\n' page status ms_median weight_bytes
for p in "${pages[@]}"; do
  curl -s -o "$WORK/page.html" "$base$p"
  status=$(curl -s -o /dev/null -w '%{http_code}' "$base$p")
  t=$(for _ in $(seq "$RUNS"); do curl -s -o /dev/null -w '%{time_starttransfer}\n' "$base$p"; done | median)
  weight=$(wc -c <"$WORK/page.html")
  for a in $(grep -o '\(src\|href\)="/ui/assets/[^"]*\.\(css\|js\)"' "$WORK/page.html" | sed 's/.*="\(.*\)"/\1/' | sort -u); do
    weight=$((weight + $(curl -s "$base$a" | wc -c)))
  done
  printf '%-62s %10s %10.1f %12d\n' "$p" "$status" "$(echo "$t * 1000" | bc -l)" "$weight"
done
