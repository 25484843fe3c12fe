#!/usr/bin/env bash
# Usage benchmark (issues 13 and 30), four figures on one backend (run it once per backend):
#  1. HTTP intake: events/s with batches of 5,000 events from 4 concurrent posters (curl), an
#     event counted only once its batch is committed (the answer comes after the commit); the
#     totals are checked against what was sent.
#  2. NATS intake: events/s with two instances sharing the durable consumer on the NATS at
#     NATS_URL (127.0.0.1:4222); one instance is killed (kill -9) half-way, and the totals must
#     be exact after the redelivery (the run fails otherwise).
#  3. Views: a 90-day consumption summary and a 12-week adoption for a platform with 1,000
#     consumers and 50 APIs (5,000 active pairs; 90 days of daily traffic backfilled), curl's
#     time_total, median of 11 requests after a warm-up.
#  4. NATS scaling: 1, 2 and 4 instances (SCALE="1 2 4") on one durable consumer, no kill, events/s
#     until the consumer has nothing pending or unacknowledged; totals checked exact.
# After 1 it also prints how long the folder took to merge what was acknowledged.
# Each of 1 and 2 runs RUNS times (default 3) and prints every run and the median.
#
# Usage: benches/usage.sh [RUNS]
# BACKEND=postgres (PG_URL, default postgres://postgres@127.0.0.1:5432/test) for PostgreSQL.
# BIN=path/to/portolan to use a binary already built (default: cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
BACKEND="${BACKEND:-sqlite}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
BATCHES="${BATCHES:-80}"          # batches of 5,000 per run (HTTP and NATS)
WORK="${BENCH_DIR:-/tmp/portolan-bench-usage-$BACKEND}"
PORT=7391
PORT2=7392
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin portolan
  BIN="${CARGO_TARGET_DIR:-target}/release/portolan"
fi
rm -rf "$WORK"; mkdir -p "$WORK/catalog" "$WORK/batches"

# The platform: 50 APIs, 1,000 consumers declaring 5 each (5,000 pairs).
python3 - "$WORK" <<'PY'
import json, sys, datetime, random
work = sys.argv[1]
out = ["apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: bench-team}\nspec: {type: team, children: []}\n"]
apis = [f"api-{a:02d}" for a in range(50)]
for a in apis:
    out.append(f"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {{name: {a}}}\nspec: {{type: openapi, lifecycle: production, owner: bench-team, definition: \"openapi: 3.0.0\"}}\n")
out.append("apiVersion: portolan.dev/v1alpha1\nkind: Platform\nmetadata: {name: bench-platform}\nspec:\n  owner: bench-team\n  providesApis: [" + ", ".join(apis) + "]\n")
pairs = []
for c in range(1000):
    mine = [apis[(c + 10 * k) % 50] for k in range(5)]
    pairs += [(f"client-{c:04d}", a) for a in mine]
    out.append(f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: client-{c:04d}}}\nspec: {{type: service, lifecycle: production, owner: bench-team, consumesApis: [{', '.join(mine)}]}}\n")
open(f"{work}/catalog/bench.yaml", "w").write("---\n".join(out))
rnd = random.Random(13)
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
# Eight distinct live batches of 5,000 events (the last 30 minutes, every pair once).
for b in range(8):
    events = []
    for i, (c, a) in enumerate(pairs):
        t = now - datetime.timedelta(seconds=60 + rnd.randrange(1800))
        events.append({"time": fmt(t), "api": a, "consumer": c, "calls": 1, "errors": int(rnd.random() < 0.02), "latencyMs": round(5 + rnd.expovariate(1 / 30), 2)})
    json.dump(events, open(f"{work}/batches/live-{b}.json", "w"))
# 90 days of daily traffic for every pair (backfill), one batch of 5,000 per day.
for d in range(1, 91):
    day = (now - datetime.timedelta(days=d)).replace(hour=12, minute=0, second=0)
    events = []
    for (c, a) in pairs:
        calls = 100 + rnd.randrange(100)
        # The buckets add up to the event's calls (the intake rejects an event whose do not).
        fast, mid = calls // 2, calls * 4 // 10
        events.append({"time": fmt(day), "api": a, "consumer": c, "calls": calls, "errors": rnd.randrange(3),
                       "latency": {"buckets": {"12": fast, "40": mid, "180": calls - fast - mid}}})
    json.dump(events, open(f"{work}/batches/day-{d}.json", "w"))
PY

# A few NATS client operations over the plain protocol (no client library needed).
cat >"$WORK/nats.py" <<'PY'
import json, socket, sys, time
op, host = sys.argv[1], sys.argv[2]
h, p = host.split(":")
s = socket.create_connection((h, int(p)))
s.recv(4096)
s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.bench 1\r\n')
def request(subject, body=b""):
    s.sendall(b"PUB %s _INBOX.bench %d\r\n%s\r\n" % (subject.encode(), len(body), body))
    buf = b""
    while True:
        buf += s.recv(65536)
        i = buf.find(b"MSG _INBOX.bench")
        j = buf.find(b"\r\n", i) if i >= 0 else -1
        if j >= 0:
            n = int(buf[i:j].split()[-1])
            if len(buf) >= j + 2 + n:
                return buf[j + 2 : j + 2 + n]
if op == "wait":
    for _ in range(600):
        if b'"error"' not in request("$JS.API.STREAM.INFO." + sys.argv[3]):
            break
        time.sleep(0.1)
    else:
        sys.exit("the stream was never created")
elif op == "delete":
    request("$JS.API.STREAM.DELETE." + sys.argv[3])
elif op == "pending":
    # Messages not yet delivered plus delivered but not acknowledged, of a durable consumer.
    info = json.loads(request("$JS.API.CONSUMER.INFO.%s.%s" % (sys.argv[3], sys.argv[4])))
    print(info.get("num_pending", -1) + info.get("num_ack_pending", -1) if "error" not in info else -1)
elif op == "publish":
    subject, folder, n, tag = sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
    # The bodies encoded once, so the publisher is never what is measured.
    bodies = [open(f"{folder}/live-{b}.json", "rb").read() for b in range(8)]
    for i in range(n):
        msg = b'{"id": "%s-%d", "events": %s}' % (tag.encode(), i, bodies[i % 8])
        s.sendall(b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(msg), msg))
    s.sendall(b"PING\r\n")
    buf = b""
    while b"PONG" not in buf:
        buf += s.recv(4096)
PY

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

database() {
  if [ "$BACKEND" = postgres ]; then
    psql "$PG_URL" -qc "drop database if exists portolan_usage_bench with (force)" -c "create database portolan_usage_bench" >/dev/null
    echo "${PG_URL%/*}/portolan_usage_bench"
  else
    echo "sqlite://$WORK/data/portolan.db"
  fi
}

PIDS=()
start() { # port url [config]
  mkdir -p "$WORK/data"
  local extra=()
  [ -n "${3:-}" ] && extra=(--config "$3")
  RUST_LOG=warn "$BIN" serve "${extra[@]}" --bind "127.0.0.1:$1" --database-url "$2" --data-dir "$WORK/data" \
    --catalog "$WORK/catalog" 2>>"$WORK/server-$1.log" &
  PIDS+=($!)
  until curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; do sleep 0.05; done
}
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

calls() { # port -> total calls of the platform over 91 days
  local from; from=$(date -u -d '91 days ago' +%Y-%m-%dT%H:%M:%SZ)
  curl -sf "http://127.0.0.1:$1/api/portal/consumption?platform=bench-platform&bucket=day&from=$from" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["calls"])'
}

# Waits until the folder has merged every acknowledged record, and prints how long that took
# after "$1". A binary before issue 30 has no folder and no /api/usage/status: nothing to wait for.
drained() {
  local t0; t0=$(now)
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/api/usage/status" || return 0
  until [ "$(curl -sf "http://127.0.0.1:$PORT/api/usage/status" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["unfolded"]["records"])')" = 0 ]; do sleep 0.05; done
  echo "folded: $1 $(python3 -c "print(round($(now) - $t0, 2))") s"
}

nats_config() { # tag ack_wait_secs -> $WORK/nats.toml: a stream, subjects and consumer of the tag's own
  cat >"$WORK/nats.toml" <<TOML
[usage]
nats_url = "$NATS_URL"
nats_stream = "PORTOLAN_USAGE_$1"
nats_subjects = "bench$1.usage.>"
nats_consumer = "bench-$1"
nats_ack_wait_secs = $2
TOML
}

host=${NATS_URL#nats://}

post() { # port file [query]
  curl -sf -o /dev/null -H 'content-type: application/json' --data-binary "@$2" "http://127.0.0.1:$1/api/usage/events${3:-}"
}

URL=$(database)
start "$PORT" "$URL"
echo "backend: $BACKEND, binary: $BIN, machine: $(nproc) cores"

# 1. HTTP intake (ONLY=views skips 1, 2 and 4; ONLY=http stops after 1; ONLY=scale runs 4 alone).
ONLY="${ONLY:-all}"
http_rates=()
for run in $(seq "$RUNS"); do
  case "$ONLY" in views|scale) break ;; esac
  before=$(calls "$PORT")
  t0=$(now)
  posters=()
  for poster in 0 1 2 3; do
    ( for i in $(seq "$poster" 4 $((BATCHES - 1))); do post "$PORT" "$WORK/batches/live-$((i % 8)).json"; done ) &
    posters+=($!)
  done
  wait "${posters[@]}"
  t1=$(now)
  after=$(calls "$PORT")
  sent=$((BATCHES * 5000))
  [ $((after - before)) -eq "$sent" ] || { echo "HTTP run $run: counted $((after - before)) of $sent" >&2; exit 1; }
  rate=$(python3 -c "print(round($sent / ($t1 - $t0)))")
  http_rates+=("$rate")
  echo "http intake run $run: $sent events in $(python3 -c "print(round($t1 - $t0, 2))") s = $rate events/s"
done
case "$ONLY" in all|http) echo "HTTP intake median: $(printf '%s\n' "${http_rates[@]}" | median) events/s (batches of 5000, 4 posters)" ;; esac
# The folder after the answers: how long until every acknowledged record is merged into the rollups.
drained "the backlog after the last answer was merged in"
[ "$ONLY" = http ] && exit 0
if [ "$ONLY" != scale ]; then

# 3. Views (before NATS, on the same server): backfill 90 days, then time the two views.
for d in $(seq 1 90); do post "$PORT" "$WORK/batches/day-$d.json" "?backfill=true"; done
# Every backfilled event must have been counted: 90 days of 5,000 events.
bad=$(curl -sf "http://127.0.0.1:$PORT/api/portal/consumption?platform=bench-platform&bucket=day&from=$(date -u -d '91 days ago' +%Y-%m-%dT%H:%M:%SZ)&to=$(date -u -d '12 hours ago' +%Y-%m-%dT%H:%M:%SZ)" |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["series"]; print(sum(1 for p in s if p["calls"] and p["calls"] < 5000 * 100))')
[ "$bad" = 0 ] || { echo "the backfill was not counted whole ($bad days short)" >&2; exit 1; }
# The views are timed once the folder has merged the backfill (the records it has not merged yet
# are read as they are, which costs while 450,000 events wait).
drained "the 90-day backfill (450,000 events) was merged, after its last answer, in"
# PostgreSQL's statistics after a bulk load, as autovacuum would gather them a minute later
# (without them the planner expects ~50 rows and sorts 55,000 on disk).
[ "$BACKEND" = postgres ] && psql "$URL" -qc "ANALYZE" >/dev/null
from=$(date -u -d '90 days ago' +%Y-%m-%dT%H:%M:%SZ)
view() { # path -> median ms of 11
  curl -sf -o /dev/null "http://127.0.0.1:$PORT$1"
  for _ in $(seq 11); do curl -sf -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT$1"; done |
    awk '{printf "%.1f\n", $1 * 1000}' | median
}
c_ms=$(view "/api/portal/consumption?platform=bench-platform&from=$from&bucket=day")
a_ms=$(view "/api/portal/adoption?platform=bench-platform&weeks=12")
echo "views: 90-day consumption summary $c_ms ms, 12-week adoption $a_ms ms (median of 11; 1000 consumers, 50 APIs, 5000 pairs)"
cleanup; PIDS=()
[ "$ONLY" = views ] && exit 0

# 2. NATS intake: two instances on one durable consumer, one killed half-way.
nats_rates=()
for run in $(seq "$RUNS"); do
  URL=$(database)
  tag="B$$R$run"
  nats_config "$tag" 2
  start "$PORT" "$URL" "$WORK/nats.toml"
  start "$PORT2" "$URL" "$WORK/nats.toml"
  # The stream exists once an instance has connected; publish when it does.
  python3 "$WORK/nats.py" wait "$host" "PORTOLAN_USAGE_$tag"
  before=$(calls "$PORT2")
  t0=$(now)
  python3 "$WORK/nats.py" publish "$host" "bench$tag.usage.gw" "$WORK/batches" "$BATCHES" "$tag"
  sent=$((BATCHES * 5000))
  killed=
  while :; do
    got=$(( $(calls "$PORT2") - before ))
    if [ -z "$killed" ] && [ "$got" -ge $((sent / 2)) ]; then kill -9 "${PIDS[0]}"; killed=1; fi
    [ "$got" -ge "$sent" ] && break
    sleep 0.2
  done
  t1=$(now)
  sleep 3 # past another ack wait: any redelivery is in
  got=$(( $(calls "$PORT2") - before ))
  [ "$got" -eq "$sent" ] || { echo "NATS run $run: counted $got of $sent" >&2; exit 1; }
  rate=$(python3 -c "print(round($sent / ($t1 - $t0)))")
  nats_rates+=("$rate")
  echo "nats intake run $run: $sent events in $(python3 -c "print(round($t1 - $t0, 2))") s = $rate events/s (one instance killed half-way; totals exact)"
  cleanup; PIDS=()
  python3 "$WORK/nats.py" delete "$host" "PORTOLAN_USAGE_$tag"
done
echo "NATS intake median: $(printf '%s\n' "${nats_rates[@]}" | median) events/s (2 instances, kill -9 of one half-way, totals exact)"
fi # not ONLY=scale
if [ "$ONLY" = scale ]; then cleanup; PIDS=(); fi

# 4. Scaling: 1, 2 and 4 instances (processes) on one durable consumer and one database, no kill;
# the messages are published once every instance is up, and the clock stops when the consumer has
# nothing pending or unacknowledged; the totals are checked exact. Each run also prints where the
# cores went meanwhile (/proc/stat and the instances' /proc/PID/stat): idle, and portolan's share.
machine_ticks() { awk '/^cpu / {print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat; }   # -> busy+idle, idle
own_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
for n in ${SCALE:-1 2 4}; do
  scale_rates=()
  for run in $(seq "$RUNS"); do
    URL=$(database)
    tag="S$$N${n}R$run"
    nats_config "$tag" 30
    for i in $(seq "$n"); do start $((PORT + 10 + i)) "$URL" "$WORK/nats.toml"; done
    python3 "$WORK/nats.py" wait "$host" "PORTOLAN_USAGE_$tag"
    sleep 1 # every instance has opened the durable consumer
    before=$(calls $((PORT + 11)))
    read -r all0 idle0 < <(machine_ticks); own0=$(own_ticks "${PIDS[@]}")
    t0=$(now)
    python3 "$WORK/nats.py" publish "$host" "bench$tag.usage.gw" "$WORK/batches" "$BATCHES" "$tag"
    until [ "$(python3 "$WORK/nats.py" pending "$host" "PORTOLAN_USAGE_$tag" "bench-$tag")" = 0 ]; do sleep 0.05; done
    t1=$(now)
    read -r all1 idle1 < <(machine_ticks); own1=$(own_ticks "${PIDS[@]}")
    sent=$((BATCHES * 5000))
    got=$(( $(calls $((PORT + 11))) - before ))
    [ "$got" -eq "$sent" ] || { echo "scaling $n run $run: counted $got of $sent" >&2; exit 1; }
    rate=$(python3 -c "print(round($sent / ($t1 - $t0)))")
    scale_rates+=("$rate")
    echo "nats intake, $n instance(s), run $run: $sent events in $(python3 -c "print(round($t1 - $t0, 2))") s = $rate events/s (totals exact); cores idle $(( 100 * (idle1 - idle0) / (all1 - all0) ))%, portolan $(( 100 * (own1 - own0) / (all1 - all0) ))% of them"
    cleanup; PIDS=()
    python3 "$WORK/nats.py" delete "$host" "PORTOLAN_USAGE_$tag"
  done
  echo "NATS intake with $n instance(s) median: $(printf '%s\n' "${scale_rates[@]}" | median) events/s"
done
