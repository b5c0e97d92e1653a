#!/usr/bin/env bash
# Adds up the counters of every .trx file under a directory and prints one closing line:
#   Tests: N passed, N failed, N skipped
set -euo pipefail
dir=${1:-artifacts/test-results}
passed=0 failed=0 total=0 executed=0
shopt -s nullglob globstar
for f in "$dir"/**/*.trx; do
  line=$(grep -o '<Counters [^>]*>' "$f" | head -1)
  get() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$line"; }
  total=$((total + $(get total)))
  executed=$((executed + $(get executed)))
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed)))
done
skipped=$((total - executed))
echo "Tests: $passed passed, $failed failed, $skipped skipped"
