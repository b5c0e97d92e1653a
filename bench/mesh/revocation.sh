#!/usr/bin/env bash
# Revocation latency across N connected nodes, and certificate renewal round trips.
# For each N: one kldload serve (Mesh:Topology=FullMesh, hub on wireguard-go) in a network namespace
# with a bridge, and N real resident agents (kldload-agent, each with its own swtpm and wireguard-go)
# in N more namespaces joined to the bridge by veth pairs. Once every node holds every other node as a
# peer, the last node is decommissioned through the admin API; the time from the call to each other
# node's agent line "bundle: ... removed: KEY" (printed after its `wg set ... remove`) is taken, and
# every interface is checked afterwards not to hold the key. Then RENEWALS certificate renewals
# (POST /api/v1/mesh/certificate, what the agent sends at two thirds of the validity) are timed with
# curl from the first node's namespace, through its tunnel.
# Usage: bench/mesh/revocation.sh [N ...] (default: 2 4 8). Root; needs swtpm, wireguard-go, wg, curl,
# ip. Every address is inside namespaces the script creates and deletes (on failure too); every
# process it starts is stopped by its PID. Each phase has a time limit; the script stops by itself.
set -euo pipefail
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(2 4 8)
renewals=${RENEWALS:-20}
limit=${PHASE_SECONDS:-600}
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$repo/bench/lib/mesh.sh"
mesh_build "$repo"

work=$(mktemp -d /tmp/kl-bench-mesh.XXXXXX)
pids=()
namespaces=()
interfaces=()
cleanup() {
  mesh_stop "${pids[@]}"
  pids=()
  # Each agent's wireguard-go outlives the agent: stop it by the PID of the process serving the
  # interface this script named (unique per run).
  for iface in "${interfaces[@]}"; do
    for pid in $(ps -eo pid=,args= | awk -v n="$iface" '$2 == "wireguard-go" && $NF == n { print $1 }'); do
      kill -TERM "$pid" 2>/dev/null || true
    done
  done
  interfaces=()
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  namespaces=()
}
trap 'cleanup; rm -rf "$work"' EXIT

# Lines of a child's output, each prefixed with the wall clock in microseconds when it was read.
stamp() { while IFS= read -r line; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$line"; done; }

wait_for() { # description, command...: retries until the command succeeds or the phase limit passes
  local what=$1; shift
  mesh_wait_for "$what" "$limit" "$work/run" "$@"
}

peers_of() { ip netns exec "$1" wg show "$2" peers 2>/dev/null | grep -c . || true; }
# Counted on every try (a command substitution in wait_for's arguments would be read once).
has_peers() { [ "$(peers_of "$1" "$2")" -eq "$3" ]; }

run() {
  local n=$1 id lan=10.81.0 port=8080 k data
  id=$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')
  k=klbk-$id
  rm -rf "$work/run"; mkdir -p "$work/run"
  data=$work/run/kldload
  ip netns add "$k"; namespaces+=("$k")
  ip -n "$k" link set lo up
  ip -n "$k" link add br0 type bridge
  ip -n "$k" addr add $lan.1/24 dev br0
  ip -n "$k" link set br0 up
  for i in $(seq 1 "$n"); do
    local ns=klbn$i-$id
    ip netns add "$ns"; namespaces+=("$ns")
    ip -n "$ns" link set lo up
    ip -n "$k" link add "v$i" type veth peer name lan0 netns "$ns"
    ip -n "$k" link set "v$i" master br0 up
    ip -n "$ns" addr add $lan.$((10 + i))/24 dev lan0
    ip -n "$ns" link set lan0 up
    ip -n "$ns" route add default via $lan.1
  done

  mkdir -p "$work/run/image"
  head -c 4096 /dev/urandom > "$work/run/image/kernel"
  head -c 4096 /dev/urandom > "$work/run/image/initrd"
  dotnet "$kldload_dll" image import "$work/run/image" --name live --version 1 --channel stable --Kldload:DataDir="$data" -q >/dev/null
  ip netns exec "$k" dotnet "$kldload_dll" serve --urls=http://$lan.1:$port --Kldload:DataDir="$data" --Tftp:Enabled=false \
    --Mesh:Enabled=true --Mesh:Interface="klh$id" --Mesh:Topology=FullMesh --Mesh:Keepalive=5 \
    --Attestation:EnrollmentPolicy=Lab --Boot:DefaultChannel=stable > >(stamp > "$work/run/kldload.log") 2>&1 &
  pids+=($!)
  wait_for "kldload /readyz" ip netns exec "$k" curl -sf -o /dev/null http://$lan.1:$port/readyz

  # N nodes attest at once: swtpm and the agent in each namespace.
  for i in $(seq 1 "$n"); do
    local ns=klbn$i-$id state=$work/run/node$i mac token
    mkdir -p "$state/tpm"
    ip netns exec "$ns" swtpm socket --tpm2 --server type=tcp,port=2321,bindaddr=127.0.0.1 --ctrl type=tcp,port=2322,bindaddr=127.0.0.1 \
      --tpmstate dir="$state/tpm" --flags not-need-init,startup-clear > "$work/run/swtpm$i.log" 2>&1 &
    pids+=($!)
    mac=$(ip -n "$ns" -o link show lan0 | sed 's/.*link\/ether \([0-9a-f:]*\).*/\1/')
    token=$(ip netns exec "$ns" curl -sf "http://$lan.1:$port/boot.ipxe?mac=$mac" | sed -n 's/.*kldload\.token=\([^ ]*\).*/\1/p' | head -n 1)
    [ -n "$token" ] || { echo "bench: no boot token for node $i" >&2; exit 1; }
    echo "console=ttyS0 kldload.server=http://$lan.1:$port kldload.token=$token" > "$state/cmdline"
    wait_for "swtpm $i" ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/2321'
    interfaces+=("kln$i$id")
    KLDLOAD_AGENT_STATE=$state KLDLOAD_AGENT_INTERFACE=kln$i$id KLDLOAD_AGENT_TPM=swtpm:127.0.0.1:2321 KLDLOAD_AGENT_WIREGUARD=userspace \
      ip netns exec "$ns" dotnet "$agent_dll" "$state/cmdline" > >(stamp > "$work/run/agent$i.log") 2>&1 &
    pids+=($!)
  done
  for i in $(seq 1 "$n"); do
    wait_for "node $i resident" grep -q "resident: control channel" "$work/run/agent$i.log"
  done
  # Full mesh: every node holds the hub and the N-1 others.
  for i in $(seq 1 "$n"); do
    wait_for "node $i with $n peers" has_peers "klbn$i-$id" "kln$i$id" "$n"
  done

  local victim=$n key admin victim_id t0 t1 load
  key=$(ip netns exec "klbn$victim-$id" wg show "kln$victim$id" public-key)
  victim_id=$(sed -n 's/.*READY node=\([^ ]*\).*/\1/p' "$work/run/agent$victim.log" | head -n 1)
  admin=$(cat "$data/admin.token")
  # One admin read first: the figure is not the process's first admin request.
  ip netns exec "$k" curl -sf -o /dev/null -H "Authorization: Bearer $admin" "http://$lan.1:$port/api/v1/nodes/$victim_id"
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=${EPOCHREALTIME/./}
  ip netns exec "$k" curl -sf -o /dev/null -X POST -H "Authorization: Bearer $admin" -H "Content-Type: application/json" -d '{}' \
    "http://$lan.1:$port/api/v1/nodes/$victim_id/decommission"
  t1=${EPOCHREALTIME/./}
  local times=()
  for i in $(seq 1 $((n - 1))); do
    wait_for "node $i dropping the peer" grep -q "removed: .*$key" "$work/run/agent$i.log"
    local at
    at=$(grep -m1 "removed: .*$key" "$work/run/agent$i.log" | cut -d' ' -f1)
    times+=($(((at - t0) / 1000)))
    if ip netns exec "klbn$i-$id" wg show "kln$i$id" peers | grep -qF "$key"; then
      echo "bench: node $i still holds the decommissioned key" >&2; exit 1
    fi
  done
  local sorted first last median
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  first=$(head -n1 <<<"$sorted"); last=$(tail -n1 <<<"$sorted")
  median=$(sed -n "$(((${#times[@]} + 1) / 2))p" <<<"$sorted")
  printf '| %d | %d | %d | %d | %d | %s |\n' "$n" $(((t1 - t0) / 1000)) "$first" "$median" "$last" "$load" >> "$work/table"

  # Renewals from node 1 through its tunnel (its mesh address is the caller's identity).
  if [ ! -f "$work/renewals" ]; then
    local hub
    hub=$(ip -n "$k" -6 -o addr show dev "klh$id" scope global | awk '{print $4}' | cut -d/ -f1 | head -n 1)
    for _ in $(seq 1 "$renewals"); do
      ip netns exec "klbn1-$id" curl -sf -o /dev/null -w '%{time_total}\n' -X POST "http://[$hub]:$port/api/v1/mesh/certificate" >> "$work/renewals"
    done
    printf 'N=%d, load average %s\n' "$n" "$(cut -d' ' -f1 /proc/loadavg)" >> "$work/renewals.load"
  fi
  cleanup
}

printf '| N nodes | API answered (ms) | first node dropped the peer (ms) | median (ms) | last node (ms) | load average at the call |\n|---|---|---|---|---|---|\n' > "$work/table"
for n in "${sizes[@]}"; do
  [ "$n" -ge 2 ] || { echo "bench: N must be at least 2" >&2; exit 2; }
  run "$n"
done
printf '\nrevocation: decommission of one node, time from the API call to each other node'"'"'s agent having removed the peer (2 cores)\n\n'
cat "$work/table"
sort -n "$work/renewals" | awk -v count="$renewals" '{ v[NR] = $1 * 1000 } END { printf "\ncertificate renewal (POST /api/v1/mesh/certificate through the tunnel, %d calls): median %.1f ms, max %.1f ms\n", count, v[int((NR + 1) / 2)], v[NR] }'
cat "$work/renewals.load"
