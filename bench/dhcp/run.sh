#!/bin/bash
# DHCP benchmark: perfdhcp (Kea 2.2) against kldload, kea-dhcp4 and dnsmasq, side by side on the same
# veth pair, the same /16 pool and the same client populations. Needs root (namespaces, port 67).
#
#   bench/dhcp/run.sh                 # all servers, -R 200 and -R 20000, plus the 200-client avalanche
#   SERVERS="kldload kea" POPS=200 STEP_SECONDS=5 bench/dhcp/run.sh
#   SERVERS="kldload-pg kea-pg" bench/dhcp/run.sh   # both on one PostgreSQL server (issue 17)
#
# kldload-pg and kea-pg keep their leases in PostgreSQL: one private PostgreSQL 15 cluster (Debian's
# postgresql package, initdb as the postgres user, default durability: fsync and synchronous_commit
# on) runs inside the server's namespace on 127.0.0.1, and each server gets a fresh database on it
# (kea's schema from kea-admin db-init pgsql). The ratio table compares kldload-pg with kea-pg too.
#
# For each server and population: the leases are first taken (warm-up), then the DORA rate steps up
# until more than 1% of DISCOVERs get no ACK. Reported: the highest passing rate, the achieved rate and
# perfdhcp's average and maximum DISCOVER-OFFER and REQUEST-ACK delays at that step (perfdhcp 2.2
# prints no percentiles), and the avalanche time for 200 new clients.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SERVERS=${SERVERS:-"kldload kea dnsmasq dnsmasq-tuned"}
POPS=${POPS:-"200 20000"}
RATES=${RATES:-"1000 2000 3000 4000 5000 6000 7000 8000 10000 12000"}
STEP_SECONDS=${STEP_SECONDS:-5}
ID=$(printf '%04x' $((RANDOM % 65536)))
S=kldbS$ID; C=kldbC$ID; SIF=kb${ID}s; CIF=kb${ID}c
WORK=$(mktemp -d /tmp/kldhcp-bench-XXXX)
SERVER_PID=""
source "$ROOT/bench/lib/postgres.sh"

cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  pg_stop
  ip netns del "$S" 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$S"; ip netns add "$C"
ip link add "$SIF" netns "$S" type veth peer name "$CIF" netns "$C"
ip -n "$S" addr add 10.99.0.1/16 dev "$SIF"; ip -n "$C" addr add 10.99.0.2/16 dev "$CIF"
for ns in "$S" "$C"; do ip -n "$ns" link set lo up; done
ip -n "$S" link set "$SIF" up; ip -n "$C" link set "$CIF" up

(cd "$ROOT" && dotnet build src/Provisioner -c Release -v q -nologo >/dev/null)
KLDLOAD="$ROOT/src/Provisioner/bin/Release/net10.0/kldload.dll"

# One PostgreSQL cluster for the -pg servers, in the server namespace (its 127.0.0.1), stopped by PID.
if [[ " $SERVERS " == *"-pg "* ]]; then pg_start "$WORK" "$S"; fi

start_server() {
  local name=$1 data="$WORK/$1"
  rm -rf "$data"; mkdir -p "$data"
  case $name in
    kldload|kldload-pg)
      local db=()
      [ "$name" = kldload-pg ] && db=(--Database:Provider=PostgreSql
        --Database:ConnectionString="Host=127.0.0.1;Port=$PG_PORT;Database=$(pg_database bench_kldload);Username=postgres")
      ip netns exec "$S" dotnet "$KLDLOAD" serve --urls http://127.0.0.1:0 --Tftp:Enabled=false "${db[@]}" \
        --Kldload:DataDir="$data" --Kldload:LogLevel=Warning --Dhcp:Mode=Full --Dhcp:Interface="$SIF" \
        --Dhcp:Subnets:0:Network=10.99.0.0/16 --Dhcp:Subnets:0:PoolStart=10.99.1.0 --Dhcp:Subnets:0:PoolEnd=10.99.255.250 \
        --Dhcp:Subnets:0:Router=10.99.0.1 --Dhcp:Subnets:0:LeaseTime=01:00:00 >"$data/log" 2>&1 &
      SERVER_PID=$!
      for _ in $(seq 100); do grep -q "serving on" "$data/log" && break; sleep 0.2; done ;;
    kea|kea-pg)
      local leases="{ \"type\": \"memfile\", \"persist\": true, \"name\": \"$data/leases.csv\", \"lfc-interval\": 0 }"
      if [ "$name" = kea-pg ]; then
        local kdb; kdb=$(pg_database kea)
        ip netns exec "$S" kea-admin db-init pgsql -h 127.0.0.1 -P "$PG_PORT" -u postgres -p unused -n "$kdb" >"$data/kea-admin.log" 2>&1
        leases="{ \"type\": \"postgresql\", \"name\": \"$kdb\", \"host\": \"127.0.0.1\", \"port\": $PG_PORT, \"user\": \"postgres\", \"password\": \"unused\" }"
      fi
      cat >"$data/kea.json" <<JSON
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "$SIF" ] },
  "lease-database": $leases,
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 64 },
  "valid-lifetime": 3600,
  "subnet4": [ { "subnet": "10.99.0.0/16", "pools": [ { "pool": "10.99.1.0 - 10.99.255.250" } ],
                 "option-data": [ { "name": "routers", "data": "10.99.0.1" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN", "output_options": [ { "output": "$data/kea.log" } ] } ]
} }
JSON
      ip netns exec "$S" env KEA_PIDFILE_DIR="$data" KEA_LOCKFILE_DIR="$data" kea-dhcp4 -c "$data/kea.json" >"$data/log" 2>&1 &
      SERVER_PID=$!; sleep 2 ;;
    dnsmasq|dnsmasq-tuned)
      local extra=()
      [ "$name" = dnsmasq-tuned ] && extra=(--no-ping --leasefile-ro --quiet-dhcp)
      ip netns exec "$S" dnsmasq -k --conf-file=/dev/null --port=0 --interface="$SIF" --bind-interfaces \
        --dhcp-range=10.99.1.0,10.99.255.250,255.255.0.0,1h --dhcp-leasefile="$data/leases" --dhcp-authoritative \
        --dhcp-lease-max=70000 --dhcp-boot=undionly.kpxe,,10.99.0.1 --pid-file="$data/pid" --log-facility="$data/log" \
        "${extra[@]}" >"$data/stdout" 2>&1 &
      SERVER_PID=$!; sleep 1 ;;
  esac
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

# perfdhcp RATE CLIENTS SECONDS -> "achieved_rate lost_percent do_avg do_max ra_avg ra_max"
perf() {
  local out
  out=$(ip netns exec "$C" perfdhcp -4 -l "$CIF" -r "$1" -R "$2" -p "$3" -W 500000 2>&1 || true)
  echo "$out" | awk '
    /^Rate:/ { rate=$2 }
    /Statistics for: DISCOVER-OFFER/ { sec="do" }
    /Statistics for: REQUEST-ACK/ { sec="ra" }
    /^sent packets:/ { if (sec=="do") dsent=$3 }
    /^received packets:/ { if (sec=="ra") arecv=$3 }
    /^avg delay:/ { avg[sec]=$3 }
    /^max delay:/ { max[sec]=$3 }
    END { lost = dsent > 0 ? 100 * (dsent - arecv) / dsent : 100;
          printf "%.0f %.2f %s %s %s %s\n", rate, lost, avg["do"], max["do"], avg["ra"], max["ra"] }'
}

avalanche() {
  local t0 t1
  t0=$(date +%s.%N)
  ip netns exec "$C" perfdhcp -4 -l "$CIF" --scenario avalanche -R 200 >"$WORK/aval.out" 2>&1 || true
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}

printf '\n| server | clients | max DORA/s (<1%% lost) | achieved/s | lost %% | DO avg/max ms | RA avg/max ms |\n|---|---|---|---|---|---|---|\n' >"$WORK/table"
declare -A BEST
for server in $SERVERS; do
  for pop in $POPS; do
    start_server "$server"
    warm=$(( pop / 1000 + 3 ))
    perf 1000 "$pop" "$warm" >/dev/null
    best="0 - - - - - -"
    for rate in $RATES; do
      read -r achieved lost doavg domax raavg ramax < <(perf "$rate" "$pop" "$STEP_SECONDS")
      echo "  $server -R $pop -r $rate: achieved $achieved/s, lost $lost%, DO $doavg/$domax ms, RA $raavg/$ramax ms" >&2
      if awk -v l="$lost" 'BEGIN { exit !(l < 1.0) }'; then best="$rate $achieved $lost $doavg $domax $raavg $ramax"; else break; fi
    done
    stop_server
    read -r r a l da dm ra rm <<<"$best"
    BEST[$server,$pop]=$r
    printf '| %s | %s | %s | %s | %s | %s / %s | %s / %s |\n' "$server" "$pop" "$r" "$a" "$l" "$da" "$dm" "$ra" "$rm" >>"$WORK/table"
  done
  start_server "$server"
  secs=$(avalanche)
  stop_server
  echo "| $server | avalanche 200 new | $secs s | | | | |" >>"$WORK/table"
  echo "  $server avalanche: $secs s" >&2
done
cat "$WORK/table"

ratios() {
  local mine=$1; shift
  echo
  printf '| ratio %s / peer |' "$mine"; for pop in $POPS; do printf ' -R %s |' "$pop"; done; echo
  printf '|---|'; for _ in $POPS; do printf -- '---|'; done; echo
  for server in "$@"; do
    row="| $server |"
    for pop in $POPS; do
      k=${BEST[$mine,$pop]:-0}; p=${BEST[$server,$pop]:-0}
      row="$row $(awk -v k="$k" -v p="$p" 'BEGIN { if (p > 0) printf "%.2f", k / p; else print "n/a" }') |"
    done
    echo "$row"
  done
}
if [[ " $SERVERS " == *" kldload "* ]]; then
  peers=(); for server in $SERVERS; do [[ $server == kldload* ]] || peers+=("$server"); done
  [ ${#peers[@]} -gt 0 ] && ratios kldload "${peers[@]}"
fi
if [[ " $SERVERS " == *" kldload-pg "* && " $SERVERS " == *" kea-pg "* ]]; then ratios kldload-pg kea-pg; fi
