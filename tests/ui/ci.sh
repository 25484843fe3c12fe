#!/usr/bin/env bash
# portolan's browser tests. Builds nothing: runs the release binary already built
# (${CARGO_TARGET_DIR:-target}/release/portolan, or $PORTOLAN_BIN) twice on random ports:
#   1. guest mode on the demo catalog after `demo-traffic`: every page, the subscribe -> key ->
#      gateway -> dashboard journey, the platform dashboard's charts, a finding's link, the
#      delivery office (portfolio, a roadmap's late need, an update through the form, a
#      platform's demand, a stored value report with its chart and CSV), team health (events of
#      two teams posted to the API, their keys on a product's and a team's page, /health's ranking),
#      standards as code (/scorecards, a scorecard filtered by level, a campaign) on a scorecard
#      and a campaign of the tests' own, written beside the demo catalog below; golden paths
#      (/create: a two-page form of the tests' own template, its review, its task run to the end;
#      a gated template's task approved from its page);
#   2. OIDC sign-in through tests/oidc's oauth2-mock-server: a manual plan requested by one
#      person and approved by the platform's owner; a roadmap update only its owner may record.
# Needs: node >= 20, /usr/bin/chromium (apt-get install -y chromium), `npm ci` here and in
# tests/oidc (done below when node_modules is missing). Screenshots: target/ui-screenshots/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${PORTOLAN_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/portolan}"
[ -x "$bin" ] || { echo "ci.sh: no release binary at $bin (cargo build --release first)" >&2; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "ci.sh: no chromium (apt-get install -y chromium)" >&2; exit 1; }
[ -d "$here/node_modules" ] || (cd "$here" && npm ci --no-audit --no-fund)
[ -d "$root/tests/oidc/node_modules" ] || (cd "$root/tests/oidc" && npm ci --no-audit --no-fund)
export SCREENSHOTS="${SCREENSHOTS:-$root/target/ui-screenshots}"
mkdir -p "$SCREENSHOTS"; rm -f "$SCREENSHOTS"/*.png

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_ready() { # url log
  for _ in $(seq 1 100); do
    curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "ci.sh: portolan did not start; its log:" >&2; cat "$2" >&2; exit 1
}

only="${UI_JOURNEYS:-guest oidc}"   # UI_JOURNEYS=oidc runs only the sign-in journeys

# 1. Guest mode.
if [[ " $only " == *" guest "* ]]; then
port="$(free_port)"
base="http://127.0.0.1:$port"
mkdir -p "$work/guest"
# Standards as code's journeys use their own scorecard and campaign, dated around today, beside the demo.
day() { date -u -d "$1 days" +%Y-%m-%d; }
cat >"$work/ui-standards.yaml" <<YAML
apiVersion: portolan.dev/v1alpha1
kind: Scorecard
metadata: {name: ui-readiness, title: UI readiness, description: The browser tests' scorecard}
spec:
  owner: platform-engineering
  filter: entity.kind == 'Component'
  levels: [bronze, silver, gold]
  checks:
    - {id: owned, level: bronze, expression: "owner != null", message: Name an owner in the catalog}
    - {id: described, level: silver, expression: "has(entity.metadata.description)", message: Write a description}
    - {id: in-product, level: gold, expression: "product != null", message: Make it part of a product}
---
apiVersion: portolan.dev/v1alpha1
kind: Campaign
metadata: {name: ui-in-a-product, title: Every component in a product, description: The browser tests' campaign}
spec: {owner: platform-engineering, scorecard: ui-readiness, checks: [in-product], start: "$(day -14)", due: "$(day 30)"}
YAML
cat >"$work/ui-templates.yaml" <<YAML
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: ui-gated, title: UI gated path, annotations: {portolan.dev/approval: platform-engineering}}
spec: {type: service, owner: platform-engineering, steps: [{id: log, action: debug:log, input: {message: approved and run}}]}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: ui-multi, title: UI multi-page path, description: The browser tests' form of two pages, tags: [browser-test]}
spec:
  type: website
  owner: platform-engineering
  parameters:
    - title: About it
      required: [name, owner]
      properties:
        name: {type: string, title: Name, description: Lower case letters and dashes, pattern: '^[a-z][a-z0-9-]*\$'}
        owner: {type: string, title: Owner, description: The team that runs it, ui:field: OwnerPicker, ui:options: {catalogFilter: {kind: Group}}}
        tier: {type: string, title: Tier, enum: [gold, silver], enumNames: [Gold, Silver], default: silver}
    - title: How it runs
      required: [replicas]
      properties:
        replicas: {type: integer, title: Replicas, minimum: 1, maximum: 5, default: 2}
        public: {type: boolean, title: Public, default: false}
        token: {type: string, title: Deploy token, ui:widget: password}
  steps:
    - {id: hello, name: Say hello, action: debug:log, input: {message: "\${{ parameters.name }} for \${{ parameters.owner }} (\${{ parameters.tier }}, \${{ parameters.replicas }} replicas)"}}
    - {id: public, name: Only when public, if: "\${{ parameters.public }}", action: debug:log, input: {message: it is public}}
  output:
    links: [{title: Its owner, entityRef: "\${{ parameters.owner }}"}]
    text: [{title: Next, content: "Deploy \${{ parameters.name }}."}]
YAML
(cd "$root" && PORTOLAN_DATA_DIR="$work/guest" PORTOLAN_BIND="127.0.0.1:$port" PORTOLAN_CATALOG="$root/catalog-info,$work/ui-standards.yaml,$work/ui-templates.yaml" \
  exec "$bin" serve >"$work/guest.log" 2>&1) &
pids+=($!)
wait_ready "$base" "$work/guest.log"
# Team health's two journey teams first: demo-traffic leaves teams that send deployments alone.
node "$here/journeys.mjs" seed-health "$base"
"$bin" demo-traffic --url "$base" --days 30 >"$work/demo-traffic.log" 2>&1 || { cat "$work/demo-traffic.log" >&2; exit 1; }
node "$here/journeys.mjs" guest "$base"
fi

if [[ " $only " == *" oidc "* ]]; then

# 2. OIDC sign-in.
# The mock reads its steering lines from a FIFO this script holds open (so it never sees EOF).
control="$work/oidc-control"
mkfifo "$control"
exec 3<>"$control"
node "$root/tests/oidc/server.mjs" 0 <"$control" >"$work/oidc.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^issuer ' "$work/oidc.log" 2>/dev/null && break; sleep 0.1; done
issuer="$(sed -n 's/^issuer //p' "$work/oidc.log" | head -1)"
[ -n "$issuer" ] || { echo "ci.sh: the OIDC mock did not start" >&2; cat "$work/oidc.log" >&2; exit 1; }
port="$(free_port)"
base="http://127.0.0.1:$port"
mkdir -p "$work/oidc"
cat >"$work/oidc.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
[database]
data_dir = "$work/oidc"
[catalog]
paths = ["$root/catalog-info"]
[auth]
anonymous_read = true
[auth.providers.corp]
type = "oidc"
issuer = "$issuer"
client_id = "portolan-ui-test"
client_secret = "ui-test-client-secret"
[auth.tokens]
signing_keys = ["ui-test-signing-key-9f8e7d6c5b4a3210"]
TOML
(cd "$root" && exec "$bin" serve --config "$work/oidc.toml" >"$work/oidc-portolan.log" 2>&1) &
pids+=($!)
wait_ready "$base" "$work/oidc-portolan.log"
OIDC_CONTROL="$control" node "$here/journeys.mjs" oidc "$base" "$issuer"
fi
echo "ui: browser tests passed; screenshots in $SCREENSHOTS"
