#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for <minutes> each, one at a time, with one
# job, niced (the machine is shared). Seeds: descriptor files of ../shared/corpus and the demo
# catalog, queries and cursors of the tests, webhook and usage payloads written below. Crashing
# inputs land in fuzz/artifacts/<target>/; copy them to fuzz/regressions/<target>/ (replayed by
# `cargo test --release --test fuzz_regressions`).
# Usage: benches/fuzz.sh <minutes> [targets...]   (needs `cargo install cargo-fuzz --locked`)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:?usage: benches/fuzz.sh <minutes> [targets...]}"; shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(descriptor query entity_ref cursor webhook usage_batch)
export RUSTC_BOOTSTRAP=1
seeds=fuzz/corpus
mkdir -p "$seeds"/{descriptor,query,entity_ref,cursor,webhook,usage_batch}

# Descriptor files: one byte choosing YAML (even) or JSON (odd), then the file.
i=0
while IFS= read -r -d '' f; do
  i=$((i + 1)); { printf '\0'; head -c 65536 "$f"; } > "$seeds/descriptor/seed-$i"
done < <(find ../shared/corpus catalog-info examples -type f \( -name '*.yaml' -o -name '*.yml' \) -print0 2>/dev/null)
printf '\1{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"a"},"spec":{"type":"service","owner":"t","lifecycle":"production"}}' > "$seeds/descriptor/json-1"

q=0; for s in 'filter=kind=component,spec.type=service&filter=kind=api&orderField=metadata.name,asc&limit=10' \
  'fullTextFilterTerm=pay&fullTextFilterFields=metadata.name,spec.owner&offset=3' \
  'filter=metadata.annotations.backstage.io/techdocs-ref&fields=kind,metadata.name&totalItems=exclude' \
  '{"query":{"$all":[{"kind":"component"},{"$any":[{"spec.type":{"$in":["service","website"]}},{"$not":{"spec.lifecycle":"experimental"}}]}]},"orderBy":[{"field":"metadata.name","order":"desc"}],"limit":5}' \
  '{"fullTextFilter":{"term":"x","fields":["metadata.name"]},"fields":["kind"],"offset":2}'; do
  q=$((q + 1)); printf '%s' "$s" > "$seeds/query/seed-$q"
done
r=0; for s in 'component:default/payments' 'Group:Team-A' 'default/x' 'system:lending' 'a:b/c/d' ' user:x '; do
  r=$((r + 1)); printf '%s' "$s" > "$seeds/entity_ref/seed-$r"
done
c=0; for s in '{"filter":{"kind":"component"},"orderFields":[{"field":"metadata.name","order":"asc"}],"position":{"values":["a"],"entityRef":"component:default/a"},"totalItems":3,"isPrevious":false}' \
  '{"fullTextFilter":{"term":"pay"},"orderFields":[]}' '{}'; do
  c=$((c + 1)); printf '%s' "$s" | base64 -w0 > "$seeds/cursor/seed-$c"
done
printf '\0{"ref":"refs/heads/main","repository":{"name":"r","full_name":"o/r","default_branch":"main"},"commits":[{"added":["catalog-info.yaml"],"modified":[],"removed":["x.yaml"]}],"deleted":false}' > "$seeds/webhook/github-push"
printf '\1{"action":"renamed","repository":{"name":"r2","full_name":"o/r2"},"changes":{"repository":{"name":{"from":"r"}}}}' > "$seeds/webhook/github-repository"
printf '\3{"object_kind":"push","ref":"refs/heads/main","project":{"id":7,"path_with_namespace":"g/p"},"commits":[{"added":["a.yaml"]}],"total_commits_count":1,"after":"abc"}' > "$seeds/webhook/gitlab-push"
printf '\3{"event_name":"project_rename","path_with_namespace":"g/q","old_path_with_namespace":"g/p","project_id":7}' > "$seeds/webhook/gitlab-project"
printf '\0[{"api":"api:default/payments","consumer":"component:default/web","time":"2026-12-01T10:00:00Z","status":200,"latencyMs":12}]' > "$seeds/usage_batch/array"
printf '\1{"api":"payments","key":"pk_abc","time":"2026-12-01T10:00:00+01:00","status":503}\n\n{"api":"x","subscription":"s1","calls":3,"errors":1}\n' > "$seeds/usage_batch/ndjson"

# No sanitizer: the targets are safe Rust parsers; libFuzzer's coverage guidance, debug assertions
# and overflow checks stay on (cargo fuzz's defaults). FUZZ_TARGET_DIR: where the build goes.
opts=(-s none)
[ -n "${FUZZ_TARGET_DIR:-}" ] && opts+=(--target-dir "$FUZZ_TARGET_DIR")
cd fuzz
cargo fuzz build "${opts[@]}"
for t in "${TARGETS[@]}"; do
  echo "--- $t: ${MINUTES} min"
  mkdir -p "corpus/$t" "artifacts/$t"
  nice -n 10 cargo fuzz run "${opts[@]}" "$t" "corpus/$t" -- \
    -jobs=1 -workers=1 -max_total_time=$((MINUTES * 60)) -max_len=65536 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 2>&1 | tee "artifacts/$t/last-run.log" | grep -E '^#[0-9]+ *DONE|^stat::|^==|panicked|SUMMARY|Done' || true
  if ls "artifacts/$t"/crash-* "artifacts/$t"/timeout-* "artifacts/$t"/oom-* >/dev/null 2>&1; then
    echo "FOUND: inputs in fuzz/artifacts/$t/"
  fi
done
