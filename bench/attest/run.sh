#!/bin/bash
# Attestation at fleet scale: the generator (bench/Attest.Bench) drives N simulated nodes, each with a
# software TPM (RSA-2048 or ECC P-256 EK, restricted signing AK), through /boot.ipxe -> challenge ->
# quote -> activate -> ready over HTTP on loopback against a real `kldload serve` with its real LiteDB
# (mesh hub off). Every row starts its own server on a fresh data directory and an ephemeral port.
#
#   bench/attest/run.sh              # the 1,024-node row and the 1,000-node rack storm
#   bench/attest/run.sh 64           # the 64-node row and the storm
#   ROWS="1 64 1024" bench/attest/run.sh
#   SECONDS_PER_ROW=20 WARMUP=5 STORM=1000 STORM_WINDOW=10 RSA_SHARE=0.5 bench/attest/run.sh
#   PROVIDERS="litedb postgres" ROWS=64 STORM=0 bench/attest/run.sh   # each row on both stores (root)
#
# PROVIDERS=postgres keeps the inventory in PostgreSQL: a private PostgreSQL 15 cluster (Debian's
# postgresql package, initdb as the postgres user, default durability) on 127.0.0.1, a fresh database
# per row; it needs root for that user. The default is litedb alone.
#
# The last line is `attest: N attestations/s, p99 X ms, limit L/s`: the last row's rate and boot p99, and
# the physical limit measured now with `openssl speed` (the server's public-key operations for one
# attestation of the same EK mix, per core, times 2 cores). No root needed; stops by itself.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROWS=${ROWS:-${1:-1024}}
SECONDS_PER_ROW=${SECONDS_PER_ROW:-20}
WARMUP=${WARMUP:-5}
STORM=${STORM:-1000}
STORM_WINDOW=${STORM_WINDOW:-10}
RSA_SHARE=${RSA_SHARE:-0.5}
CORES=${CORES:-2}
PROVIDERS=${PROVIDERS:-litedb}
WORK=$(mktemp -d /tmp/kldattest-bench-XXXX)
SERVER_PID=""
source "$ROOT/bench/lib/postgres.sh"

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() {
  stop_server
  pg_stop
  rm -rf "$WORK"
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "attest bench: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
(cd "$ROOT" && dotnet build src/Provisioner -c Release -v q -nologo >/dev/null && dotnet build bench/Attest.Bench -c Release -v q -nologo >/dev/null)
# KLDLOAD_DLL runs another build of the server (a before/after comparison) with the same generator.
KLDLOAD=${KLDLOAD_DLL:-"$ROOT/src/Provisioner/bin/Release/net10.0/kldload.dll"}
GENERATOR="$ROOT/bench/Attest.Bench/bin/Release/net10.0/Kldload.Attest.Bench.dll"

# One small image on the channel every node boots (no event log: a BIOS-style boot, Lab enrollment).
mkdir -p "$WORK/image"
head -c 65536 /dev/urandom >"$WORK/image/kernel"
head -c 65536 /dev/urandom >"$WORK/image/initrd"

# One PostgreSQL cluster for PROVIDERS=postgres, stopped by PID at the end.
if [[ " $PROVIDERS " == *" postgres "* ]]; then pg_start "$WORK"; fi

# start_server NAME PROVIDER
start_server() {
  local data="$WORK/var-$1" db=()
  rm -rf "$data"
  if [ "$2" = postgres ]; then
    local name
    name=$(pg_database attest)
    db=(--Database:Provider=PostgreSql --Database:ConnectionString="Host=127.0.0.1;Port=$PG_PORT;Database=$name;Username=postgres;Maximum Pool Size=64")
  fi
  dotnet "$KLDLOAD" image import "$WORK/image" --name live --version 1 --channel stable --Kldload:DataDir="$data" "${db[@]}" -q >/dev/null
  dotnet "$KLDLOAD" serve --urls http://127.0.0.1:0 --Kldload:DataDir="$data" --Tftp:Enabled=false "${db[@]}" \
    --Kldload:LogLevel=Warning --Boot:DefaultChannel=stable --Attestation:EnrollmentPolicy=Lab \
    --Limits:PerSourceRequestsPerSecond=1000000 --Limits:PerSourceBurst=10000000 \
    --Limits:PerMacTokensPerMinute=1000000 >"$WORK/server-$1.log" 2>&1 &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 150); do
    PORT=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$SERVER_PID," '$0 ~ p { n = split($4, a, ":"); print a[n]; exit }')
    [ -n "$PORT" ] && curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    PORT=""
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server-$1.log"; echo "kldload exited" >&2; exit 1; }
    sleep 0.2
  done
  [ -n "$PORT" ] || { cat "$WORK/server-$1.log"; echo "kldload did not start listening" >&2; exit 1; }
}

LAST_RATE=""; LAST_P99=""; SUMMARY=""
for provider in $PROVIDERS; do
  for nodes in $ROWS; do
    start_server "row$nodes-$provider" "$provider"
    echo "row: $nodes nodes on $provider"
    dotnet "$GENERATOR" rate --server "http://127.0.0.1:$PORT" --server-pid "$SERVER_PID" --nodes "$nodes" \
      --seconds "$SECONDS_PER_ROW" --warmup "$WARMUP" --rsa-share "$RSA_SHARE" | tee "$WORK/row$nodes-$provider.out" || true
    stop_server
    LAST_RATE=$(awk '/^result/ { for (i = 1; i <= NF; i++) if ($i ~ /^rate=/) { sub("rate=", "", $i); print $i } }' "$WORK/row$nodes-$provider.out")
    LAST_P99=$(awk '/^result/ { for (i = 1; i <= NF; i++) if ($i ~ /^p99_ms=/) { sub("p99_ms=", "", $i); print $i } }' "$WORK/row$nodes-$provider.out")
    SUMMARY="$SUMMARY$provider $nodes nodes: $LAST_RATE attestations/s, p99 $LAST_P99 ms"$'\n'
  done

  if [ "$STORM" -gt 0 ]; then
    start_server "storm-$provider" "$provider"
    # A fresh data directory: every node is new to the inventory.
    echo "storm: $STORM nodes on $provider"
    dotnet "$GENERATOR" storm --server "http://127.0.0.1:$PORT" --server-pid "$SERVER_PID" --nodes "$STORM" \
      --window "$STORM_WINDOW" --rsa-share "$RSA_SHARE" || true
    stop_server
  fi
done

# The physical limit: per attestation the server does, for an RSA-2048 EK node, one RSA-2048 verify
# (the AK's quote signature) and one RSA-2048 public encrypt (MakeCredential; the same operation as a
# verify), and for an ECC P-256 EK node one ECDSA P-256 verify and one ECDH P-256 (MakeCredential).
speed=$(openssl speed -seconds 2 rsa2048 ecdsap256 ecdhp256 2>/dev/null)
rsa_verify=$(awk '/^rsa 2048 bits/ { print $NF }' <<<"$speed")
ecdsa_verify=$(awk '/^ *256 bits ecdsa \(nistp256\)/ { print $NF }' <<<"$speed")
ecdh=$(awk '/^ *256 bits ecdh \(nistp256\)/ { print $NF }' <<<"$speed")
echo "openssl speed (1 core): rsa2048 verify $rsa_verify/s, ecdsa p256 verify $ecdsa_verify/s, ecdh p256 $ecdh/s"
LIMIT=$(awk -v r="$rsa_verify" -v v="$ecdsa_verify" -v e="$ecdh" -v s="$RSA_SHARE" -v c="$CORES" \
  'BEGIN { t = s * (2 / r) + (1 - s) * (1 / v + 1 / e); printf "%.0f", c / t }')
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s' "$SUMMARY"
echo "attest: ${LAST_RATE} attestations/s, p99 ${LAST_P99} ms, limit ${LIMIT}/s"
