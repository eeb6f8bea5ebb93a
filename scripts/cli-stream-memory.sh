#!/usr/bin/env bash
# Streams a multi-GB JSON-lines file through `medguard check --jsonl` (and
# optionally `--audit` and `audit verify`) and reports wall time and peak
# memory (max RSS, from GNU time). Usage:
#   scripts/cli-stream-memory.sh [GIB] [--audit]
# Needs /usr/bin/time (Debian package `time`). Writes to a temp directory and
# removes it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
gib="${1:-2}"
audit="${2:-}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

cargo build --quiet --release --features cli
bin=target/release/medguard

# The built-in policy; the opt-out only matters while the mandatory checks
# are not on main yet (it never removes a check that is present).
printf 'extends = "builtin"\n[pipeline]\ndangerous_allow_missing_safety_checks = true\n' >"$dir/policy.toml"

line='{"id": 1, "input": "What helps with a sore throat? I have had it for two days and it hurts to swallow.", "response": "Warm drinks, rest and fluids can soothe it. See a doctor if it lasts more than a week or you have trouble breathing."}'
lines=$(( gib * 1024 * 1024 * 1024 / (${#line} + 1) ))
{ yes "$line" || true; } | head -n "$lines" >"$dir/in.jsonl"
echo "input: $(stat -c %s "$dir/in.jsonl") bytes, $lines lines"

measure() {
  /usr/bin/time -v "$@" 2>"$dir/time.txt" >/dev/null || true
  grep -E 'Elapsed|Maximum resident' "$dir/time.txt" | sed 's/^\s*/  /'
}

echo "check --jsonl:"
measure "$bin" check --policy "$dir/policy.toml" --jsonl "$dir/in.jsonl"
if [ "$audit" = "--audit" ]; then
  echo "check --jsonl --audit (keep_text = none):"
  measure "$bin" check --policy "$dir/policy.toml" --jsonl --audit "$dir/audit.jsonl" "$dir/in.jsonl"
  echo "audit log: $(stat -c %s "$dir/audit.jsonl") bytes"
  echo "audit verify:"
  measure "$bin" audit verify "$dir/audit.jsonl"
fi
