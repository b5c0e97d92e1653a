#!/bin/bash
# Boot path latency against the size of the inventory: for each size N, a fresh data directory is
# seeded with N nodes (half Ready with an EK fingerprint, half Discovered; the provisioner's own node
# store), then a real `kldload serve` on an ephemeral loopback port answers, one request at a time,
# REQUESTS boot scripts for new MACs, REQUESTS for MACs already in the inventory, and BOOTS complete
# attestations of new ECC nodes (script -> challenge -> quote -> activate -> ready).
#
#   bench/attest/inventory.sh                      # SIZES="0 1000 10000 100000"
#   SIZES="0 10000" REQUESTS=100 BOOTS=10 bench/attest/inventory.sh
#   KLDLOAD_DLL=/path/to/other/kldload.dll bench/attest/inventory.sh   # another server build, same seeds
#
# One line per size and step: p50 / p99 latency and the server's CPU time per operation
# (/proc/PID/stat), which the load of other processes disturbs less than latency. No root needed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SIZES=${SIZES:-0 1000 10000 100000}
REQUESTS=${REQUESTS:-200}
BOOTS=${BOOTS:-20}
WORK=$(mktemp -d /tmp/kldinv-bench-XXXX)
SERVER_PID=""

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT

echo "inventory bench: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
(cd "$ROOT" && dotnet build src/Provisioner -c Release -v q -nologo >/dev/null && dotnet build bench/Attest.Bench -c Release -v q -nologo >/dev/null)
GENERATOR="$ROOT/bench/Attest.Bench/bin/Release/net10.0/Kldload.Attest.Bench.dll"
KLDLOAD=${KLDLOAD_DLL:-"$ROOT/src/Provisioner/bin/Release/net10.0/kldload.dll"}

mkdir -p "$WORK/image"
head -c 65536 /dev/urandom >"$WORK/image/kernel"
head -c 65536 /dev/urandom >"$WORK/image/initrd"

for nodes in $SIZES; do
  data="$WORK/var-$nodes"
  dotnet "$KLDLOAD" image import "$WORK/image" --name live --version 1 --channel stable --Kldload:DataDir="$data" -q >/dev/null
  dotnet "$GENERATOR" seed --data "$data" --nodes "$nodes"
  dotnet "$KLDLOAD" serve --urls http://127.0.0.1:0 --Kldload:DataDir="$data" --Tftp:Enabled=false \
    --Kldload:LogLevel=Warning --Boot:DefaultChannel=stable --Attestation:EnrollmentPolicy=Lab \
    --Inventory:MaxDiscovered=10000000 --Limits:PerSourceRequestsPerSecond=1000000 \
    --Limits:PerSourceBurst=10000000 --Limits:PerMacTokensPerMinute=1000000 >"$WORK/server-$nodes.log" 2>&1 &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 300); do
    PORT=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$SERVER_PID," '$0 ~ p { n = split($4, a, ":"); print a[n]; exit }')
    [ -n "$PORT" ] && curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    PORT=""
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server-$nodes.log"; echo "kldload exited" >&2; exit 1; }
    sleep 0.2
  done
  [ -n "$PORT" ] || { cat "$WORK/server-$nodes.log"; echo "kldload did not start listening" >&2; exit 1; }
  dotnet "$GENERATOR" inventory --server "http://127.0.0.1:$PORT" --server-pid "$SERVER_PID" --nodes "$nodes" \
    --requests "$REQUESTS" --boots "$BOOTS"
  stop_server
  rm -rf "$data"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
