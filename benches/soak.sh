#!/usr/bin/env bash
# Soak: two `portolan serve` instances on one PostgreSQL database, under mixed load for <minutes>:
# reads (by-query, by-name, facets, entity lists) spread over both, location writes (register then
# delete a file location), usage batches (known call counts) and gateway checks with a key.
# Fails on any 5xx, any ERROR line in either log, an RSS that grows more than 10% (median of the
# last fifth of the samples after the warm-up against the median of their first fifth) after the
# warm-up (the first fifth of the run, at least 60 s), or totals that are not exact at the end
# (usage calls and errors of the soak consumer, the catalog's entity count on both instances).
# The RSS samples (MiB, every 5 s after the warm-up) are kept in $SOAK_DIR/rss.json.
#
# Usage: benches/soak.sh <minutes>
# PG_URL (default postgres://postgres@127.0.0.1:5432/test); BIN=path/to/portolan (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:?usage: benches/soak.sh <minutes>}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
WORK="${SOAK_DIR:-/tmp/portolan-soak}"
PORT1=7391
PORT2=7392
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin portolan
  BIN="${CARGO_TARGET_DIR:-target}/release/portolan"
fi
rm -rf "$WORK"; mkdir -p "$WORK/catalog" "$WORK/files" "$WORK/data"

# A platform offering one API under a roomy plan, consumers, and 300 components.
{
  cat <<'YAML'
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: soak-team}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: soak-api}
spec: {type: openapi, lifecycle: production, owner: soak-team, definition: "openapi: 3.0.0"}
---
apiVersion: portolan.dev/v1alpha1
kind: Platform
metadata: {name: soak-platform}
spec:
  owner: soak-team
  offerings:
    - api: soak-api
      plans:
        - {name: roomy, approval: auto, quota: {requests: 1000000000, period: month}, rateLimit: {requests: 1000000, period: second}}
YAML
  for i in $(seq -w 0 299); do
    printf -- '---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: soak-%s, tags: [t%s]}\nspec: {type: service, lifecycle: production, owner: soak-team, consumesApis: [soak-api]}\n' "$i" "$((10#$i % 7))"
  done
} > "$WORK/catalog/soak.yaml"
for i in $(seq 0 7); do
  printf 'apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: written-%s}\nspec: {type: service, lifecycle: production, owner: soak-team}\n' "$i" > "$WORK/files/w$i.yaml"
done

psql "$PG_URL" -qc "drop database if exists portolan_soak with (force)" -c "create database portolan_soak" >/dev/null
DB_URL="${PG_URL%/*}/portolan_soak"
PIDS=()
start() { # port
  cat > "$WORK/portolan-$1.toml" <<TOML
[server]
bind = "127.0.0.1:$1"
workers = 2
[database]
url = "$DB_URL"
data_dir = "$WORK/data"
pool_size = 6
[reading]
file_roots = ["$WORK/files"]
TOML
  RUST_LOG=info "$BIN" serve --config "$WORK/portolan-$1.toml" --catalog "$WORK/catalog" >"$WORK/server-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "instance on $1 did not start"; tail -20 "$WORK/server-$1.log"; exit 1
}
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap stop EXIT
start "$PORT1"
start "$PORT2"

status=0
RSS_OUT="$WORK/rss.json" SECONDS_TOTAL=$((MINUTES * 60)) PORTS="$PORT1 $PORT2" PIDS="${PIDS[*]}" FILES="$WORK/files" python3 - <<'PY' || status=$?
import json, os, random, sys, threading, time, urllib.error, urllib.request
from datetime import datetime, timezone

ports = os.environ["PORTS"].split()
pids = [int(p) for p in os.environ["PIDS"].split()]
total = int(os.environ["SECONDS_TOTAL"])
files = os.environ["FILES"]
base = [f"http://127.0.0.1:{p}" for p in ports]
lock = threading.Lock()
stats = {"requests": 0, "5xx": [], "other": [], "usage_calls": 0, "usage_errors": 0, "checks_allowed": 0, "writes": 0}

def call(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    with lock:
        stats["requests"] += 1
        if status >= 500:
            stats["5xx"].append(f"{method} {url} -> {status} {text[:300]!r}")
    return status, (json.loads(text) if text[:1] in (b"{", b"[") else text)

# soak-000 declares consumesApis: [soak-api], so the portal already made its subscription.
s, subs = call("GET", base[0] + "/api/portal/subscriptions?consumer=soak-000&api=soak-api&status=active")
assert s == 200 and subs["items"], (s, subs)
sub = subs["items"][0]
s, key = call("POST", base[0] + f"/api/portal/subscriptions/{sub['id']}/keys", {})
assert s in (200, 201), (s, key)
key = key["key"]
started = time.time()
deadline = started + total

def reads(i):
    rnd = random.Random(i)
    paths = ["/api/catalog/entities/by-query?filter=kind=component&limit=50",
             "/api/catalog/entities/by-query?filter=metadata.tags=t3&fullTextFilterTerm=soak-1&limit=20",
             "/api/catalog/entity-facets?facet=spec.type&facet=metadata.tags",
             "/api/catalog/entities?filter=kind=api",
             "/api/portal/platforms/default/soak-platform"]
    while time.time() < deadline:
        if rnd.random() < 0.5:
            path = f"/api/catalog/entities/by-name/component/default/soak-{rnd.randrange(300):03d}"
        else:
            path = rnd.choice(paths)
        s, body = call("GET", rnd.choice(base) + path)
        if s != 200:
            with lock: stats["other"].append(f"GET {path} -> {s} {str(body)[:200]}")

def writes():
    rnd = random.Random(7)
    n = 0
    while time.time() < deadline:
        f = f"{files}/w{n % 8}.yaml"; n += 1
        s, loc = call("POST", rnd.choice(base) + "/api/catalog/locations", {"type": "file", "target": f})
        if s != 201:
            with lock: stats["other"].append(f"POST location -> {s} {str(loc)[:200]}")
            continue
        time.sleep(0.2)
        s, body = call("DELETE", rnd.choice(base) + f"/api/catalog/locations/{loc['location']['id']}")
        if s not in (200, 204):
            with lock: stats["other"].append(f"DELETE location -> {s} {str(body)[:200]}")
        with lock: stats["writes"] += 1
        time.sleep(0.3)

def usage():
    rnd = random.Random(9)
    n = 0
    while time.time() < deadline:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        events = []
        calls = errors = 0
        for _ in range(rnd.randrange(1, 50)):
            c = rnd.randrange(1, 20); e = rnd.randrange(0, 2)
            events.append({"time": now, "api": "soak-api", "consumer": "soak-001", "calls": c, "errors": e, "latencyMs": rnd.randrange(1, 400)})
            calls += c; errors += e
        n += 1
        s, body = call("POST", rnd.choice(base) + "/api/usage/events", events, {"idempotency-key": f"soak-{n}"})
        if s in (200, 201, 202) and not body.get("rejected"):
            with lock:
                stats["usage_calls"] += calls; stats["usage_errors"] += errors
        else:
            with lock: stats["other"].append(f"POST usage -> {s} {str(body)[:200]}")
        # A retry of the same batch counts once.
        if n % 10 == 0:
            call("POST", rnd.choice(base) + "/api/usage/events", events, {"idempotency-key": f"soak-{n}"})
        time.sleep(0.2)

def checks():
    rnd = random.Random(11)
    while time.time() < deadline:
        s, body = call("POST", rnd.choice(base) + "/api/gateway/check", {"key": key, "api": "soak-api"})
        if s == 200 and body.get("allowed"):
            with lock: stats["checks_allowed"] += 1
        else:
            with lock: stats["other"].append(f"gateway check -> {s} {str(body)[:200]}")

def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

threads = [threading.Thread(target=reads, args=(i,)) for i in range(3)] + \
          [threading.Thread(target=f) for f in (writes, usage, checks)]
for t in threads: t.start()
warmup = max(60, total // 5)
samples = []  # (t, rss1, rss2)
while any(t.is_alive() for t in threads):
    samples.append((time.time() - started, *[rss(p) for p in pids]))
    time.sleep(5)
for t in threads: t.join()
time.sleep(3)  # gateway counts flush

failures = []
after = [s for s in samples if s[0] >= warmup] or samples[-1:]
def med(v):
    v = sorted(v); return v[len(v) // 2]
# Flat: the median RSS of the last fifth of the run after the warm-up against the median of
# its first fifth (a leak shows as a trend; single samples swing with the allocator). The peak
# is printed too.
window = max(1, len(after) // 5)
series_out = {}
for i, pid in enumerate(pids):
    col = [s[i + 1] for s in after]
    first, last = med(col[:window]), med(col[-window:])
    growth = (last - first) / first * 100 if first else 0
    print(f"instance {i + 1}: RSS median {first // 1024} MiB over the first fifth after the warm-up ({warmup} s), "
          f"{last // 1024} MiB over the last fifth: {growth:+.1f}%; min {min(col) // 1024}, peak {max(col) // 1024} MiB "
          f"({len(col)} samples, every 5 s)")
    series_out[f"instance{i + 1}"] = [c // 1024 for c in col]
    if growth > 10:
        failures.append(f"instance {i + 1}: RSS grew {growth:.1f}% after the warm-up")
json.dump(series_out, open(os.environ["RSS_OUT"], "w"))

def consumption(consumer):
    s, body = call("GET", base[1] + f"/api/portal/consumption?consumer={consumer}&api=soak-api")
    assert s == 200, (s, body)
    return body.get("totals", {})

t1 = consumption("component:default/soak-001")
t0 = consumption("component:default/soak-000")
print(f"usage: sent {stats['usage_calls']} calls / {stats['usage_errors']} errors, views say {t1.get('calls')} / {t1.get('errors')}")
print(f"gateway: {stats['checks_allowed']} checks allowed, views say {t0.get('calls')} calls")
if t1.get("calls") != stats["usage_calls"] or t1.get("errors") != stats["usage_errors"]:
    failures.append(f"usage totals differ: {t1}")
if t0.get("calls") != stats["checks_allowed"]:
    failures.append(f"gateway totals differ: {t0}")
for b in base:
    s, page = call("GET", b + "/api/catalog/entities/by-query?limit=1")
    print(f"{b}: totalItems {page.get('totalItems')} (expected 304: 300 components, the API, the group, the platform and the Location entity generated for the start-up file)")
    if page.get("totalItems") != 304:
        failures.append(f"{b}: totalItems {page.get('totalItems')}")
print(f"requests: {stats['requests']} in {total} s ({stats['requests'] / total:.0f}/s), location writes {stats['writes']}, "
      f"5xx: {len(stats['5xx'])}, other non-2xx: {len(stats['other'])}")
for line in stats["5xx"][:10] + stats["other"][:10]:
    print("  " + line)
if stats["5xx"]:
    failures.append(f"{len(stats['5xx'])} answers were 5xx")
if stats["other"]:
    failures.append(f"{len(stats['other'])} answers were not the expected 2xx")
if failures:
    print("FAILED: " + "; ".join(failures)); sys.exit(1)
print("OK")
PY
errors=$(grep -h "ERROR" "$WORK"/server-*.log | head -20 || true)
if [ -n "$errors" ]; then echo "ERROR lines in the logs:"; echo "$errors"; exit 1; fi
echo "no ERROR lines in either log"
exit $status
