#!/bin/bash
# DHCPv6 benchmark: perfdhcp -6 (Kea 2.2) against kldload and kea-dhcp6, side by side on one veth pair,
# the same pool and the same client populations, leases persisted by both (kldload: leases6.journal,
# fsynced before each REPLY; kea: memfile with persist=true). Needs root (namespaces, port 547).
#
#   bench/dhcp6/run.sh                         # both servers, -R 200 and -R 20000
#   SERVERS=kldload POPS=200 STEP_SECONDS=3 bench/dhcp6/run.sh
#
# For each server and population: the bindings are first taken (warm-up), then the SARR rate
# (SOLICIT, ADVERTISE, REQUEST, REPLY) steps up until more than 1% of SOLICITs get no REPLY. Reported:
# the highest passing rate, the achieved rate and perfdhcp's average and maximum delays at that step,
# and kldload's rate over kea's.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SERVERS=${SERVERS:-"kldload kea"}
POPS=${POPS:-"200 20000"}
RATES=${RATES:-"500 1000 2000 3000 4000 5000 6000 8000 10000"}
STEP_SECONDS=${STEP_SECONDS:-5}
ID=$(printf '%04x' $((RANDOM % 65536)))
S=kl6bS$ID; C=kl6bC$ID; SIF=k6b${ID}s; CIF=k6b${ID}c
WORK=$(mktemp -d /tmp/kldhcp6-bench-XXXX)
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  ip netns del "$S" 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$S"; ip netns add "$C"
# No duplicate address detection: the link-local addresses both sides bind must be usable at once.
for ns in "$S" "$C"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n "$ns" link set lo up
done
ip link add "$SIF" netns "$S" type veth peer name "$CIF" netns "$C"
ip -n "$S" addr add fd00:99::1/64 dev "$SIF" nodad; ip -n "$C" addr add fd00:99::2/64 dev "$CIF" nodad
ip -n "$S" link set "$SIF" up; ip -n "$C" link set "$CIF" up

(cd "$ROOT" && dotnet build src/Provisioner -c Release -v q -nologo >/dev/null)
KLDLOAD="$ROOT/src/Provisioner/bin/Release/net10.0/kldload.dll"

start_server() {
  local name=$1 data="$WORK/$1"
  rm -rf "$data"; mkdir -p "$data"
  case $name in
    kldload)
      ip netns exec "$S" dotnet "$KLDLOAD" serve --urls http://127.0.0.1:0 --Tftp:Enabled=false \
        --Kldload:DataDir="$data" --Kldload:LogLevel=Warning --Dhcp6:Mode=Full --Dhcp6:Interface="$SIF" \
        --Dhcp6:Subnets:0:Prefix=fd00:99::/64 --Dhcp6:Subnets:0:PoolStart=fd00:99::1:0 --Dhcp6:Subnets:0:PoolEnd=fd00:99::ffff:ffff \
        >"$data/log" 2>&1 &
      SERVER_PID=$!
      for _ in $(seq 150); do grep -q "serving on" "$data/log" && break; sleep 0.2; done ;;
    kea)
      # Debian's kea-dhcp6 keeps its DUID in /var/lib/kea unless told not to persist it.
      cat >"$data/kea.json" <<JSON
{ "Dhcp6": {
  "interfaces-config": { "interfaces": [ "$SIF" ] },
  "server-id": { "type": "LLT", "persist": false },
  "lease-database": { "type": "memfile", "persist": true, "name": "$data/leases6.csv", "lfc-interval": 0 },
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 64 },
  "preferred-lifetime": 3000, "valid-lifetime": 3600,
  "subnet6": [ { "subnet": "fd00:99::/64", "interface": "$SIF", "pools": [ { "pool": "fd00:99::1:0 - fd00:99::ffff:ffff" } ] } ],
  "loggers": [ { "name": "kea-dhcp6", "severity": "WARN", "output_options": [ { "output": "$data/kea.log" } ] } ]
} }
JSON
      ip netns exec "$S" env KEA_PIDFILE_DIR="$data" KEA_LOCKFILE_DIR="$data" kea-dhcp6 -c "$data/kea.json" >"$data/log" 2>&1 &
      SERVER_PID=$!; sleep 2 ;;
  esac
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

# perf RATE CLIENTS SECONDS -> "achieved_rate lost_percent sa_avg sa_max rr_avg rr_max"
perf() {
  local out
  out=$(ip netns exec "$C" perfdhcp -6 -l "$CIF" -r "$1" -R "$2" -p "$3" -W 500000 2>&1 || true)
  echo "$out" >"$WORK/last-perf.out"
  echo "$out" | awk '
    /^Rate:/ { rate=$2 }
    /Statistics for: SOLICIT-ADVERTISE/ { sec="sa" }
    /Statistics for: REQUEST-REPLY/ { sec="rr" }
    /^sent packets:/ { if (sec=="sa") ssent=$3 }
    /^received packets:/ { if (sec=="rr") rrecv=$3 }
    /^avg delay:/ { avg[sec]=$3 }
    /^max delay:/ { max[sec]=$3 }
    END { lost = ssent > 0 ? 100 * (ssent - rrecv) / ssent : 100;
          printf "%.0f %.2f %s %s %s %s\n", rate, lost, avg["sa"], max["sa"], avg["rr"], max["rr"] }'
}

printf '\n| server | clients | max SARR/s (<1%% lost) | achieved/s | lost %% | SA avg/max ms | RR avg/max ms |\n|---|---|---|---|---|---|---|\n' >"$WORK/table"
declare -A BEST
for server in $SERVERS; do
  for pop in $POPS; do
    start_server "$server"
    warm=$(( pop / 1000 + 3 ))
    perf 1000 "$pop" "$warm" >/dev/null
    best="0 - - - - - -"
    for rate in $RATES; do
      read -r achieved lost saavg samax rravg rrmax < <(perf "$rate" "$pop" "$STEP_SECONDS")
      echo "  $server -R $pop -r $rate: achieved $achieved/s, lost $lost%, SA $saavg/$samax ms, RR $rravg/$rrmax ms" >&2
      if awk -v l="$lost" 'BEGIN { exit !(l < 1.0) }'; then best="$rate $achieved $lost $saavg $samax $rravg $rrmax"; else break; fi
    done
    stop_server
    read -r r a l sa sm ra rm <<<"$best"
    BEST[$server,$pop]=$r
    printf '| %s | %s | %s | %s | %s | %s / %s | %s / %s |\n' "$server" "$pop" "$r" "$a" "$l" "$sa" "$sm" "$ra" "$rm" >>"$WORK/table"
  done
done
cat "$WORK/table"

if [[ " $SERVERS " == *" kldload "* && " $SERVERS " == *" kea "* ]]; then
  echo
  row="| kldload / kea |"; head="| ratio |"; rule="|---|"
  for pop in $POPS; do
    k=${BEST[kldload,$pop]:-0}; p=${BEST[kea,$pop]:-0}
    head="$head -R $pop |"; rule="$rule---|"
    row="$row $(awk -v k="$k" -v p="$p" 'BEGIN { if (p > 0) printf "%.2f", k / p; else print "n/a" }') |"
  done
  printf '%s\n%s\n%s\n' "$head" "$rule" "$row"
fi
