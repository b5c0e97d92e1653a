#!/usr/bin/env bash
# Adds up the counters of every .trx file under a directory and prints the failed tests (name and
# the first lines of the message), then one closing line:
#   Tests: N passed, N failed, N skipped
# The failures come last on purpose: CI keeps only the tail of the log.
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
if [ "$failed" -gt 0 ] && command -v python3 >/dev/null; then
  python3 - "$dir" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for path in sorted(glob.glob(sys.argv[1] + "/**/*.trx", recursive=True)):
    for r in ET.parse(path).getroot().iterfind(".//t:UnitTestResult", ns):
        if r.get("outcome") != "Failed":
            continue
        msg = r.findtext("t:Output/t:ErrorInfo/t:Message", default="", namespaces=ns).strip()
        print(f"FAILED {r.get('testName')} ({r.get('duration')})")
        for l in msg.splitlines()[:6]:
            print(f"    {l[:300]}")
PY
fi
skipped=$((total - executed))
echo "Tests: $passed passed, $failed failed, $skipped skipped"
