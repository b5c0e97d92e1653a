#!/usr/bin/env bash
# Certificate renewal through a real agent's timer: one kldload serve (hub on wireguard-go) in a
# network namespace and one resident agent (kldload-agent with swtpm and wireguard-go) in another,
# with Mesh:CertificateLifetime=LIFETIME (default and minimum 00:10:00). The agent prints when it will
# renew (two thirds of the validity) and, when its timer fires, "certificate: renewed, valid until T".
# The script waits for ROUNDS renewals (default 1) and prints, for each: when it was due, when the
# agent logged it, the lateness, and the new certificate's end; then checks the node is still on the
# mesh (kldload lists it with a later certificate expiry). Wall time about 2/3 of LIFETIME per round.
# Usage: bench/mesh/renewal.sh. Root; needs swtpm, wireguard-go, wg, curl, ip. Every address is inside
# namespaces the script creates and deletes (on failure too); processes are stopped by their PIDs.
set -euo pipefail
lifetime=${LIFETIME:-00:10:00}
rounds=${ROUNDS:-1}
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$repo/bench/lib/mesh.sh"
mesh_build "$repo"

work=$(mktemp -d /tmp/kl-bench-renew.XXXXXX)
id=$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')
k=klrk-$id n=klrn-$id lan=10.82.0 port=8080
pids=()
cleanup() {
  mesh_stop "${pids[@]}"
  ip netns del "$k" 2>/dev/null || true
  ip netns del "$n" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # description, seconds, command...
  local what=$1 seconds=$2; shift 2
  mesh_wait_for "$what" "$seconds" "$work" "$@"
}

# Checked on every try (a command substitution in wait_for's arguments would be read once).
renewals_at_least() { [ "$(grep -c 'certificate: renewed' "$work/agent.log" || true)" -ge "$1" ]; }

ip netns add "$k"; ip netns add "$n"
ip -n "$k" link set lo up; ip -n "$n" link set lo up
ip -n "$k" link add lan0 type veth peer name lan0 netns "$n"
ip -n "$k" addr add $lan.1/24 dev lan0; ip -n "$n" addr add $lan.11/24 dev lan0
ip -n "$k" link set lan0 up; ip -n "$n" link set lan0 up
ip -n "$n" route add default via $lan.1

data=$work/kldload
mkdir -p "$work/image"
head -c 4096 /dev/urandom > "$work/image/kernel"; head -c 4096 /dev/urandom > "$work/image/initrd"
dotnet "$kldload_dll" image import "$work/image" --name live --version 1 --channel stable --Kldload:DataDir="$data" -q >/dev/null
ip netns exec "$k" dotnet "$kldload_dll" serve --urls=http://$lan.1:$port --Kldload:DataDir="$data" --Tftp:Enabled=false \
  --Mesh:Enabled=true --Mesh:Interface="klr$id" --Mesh:CertificateLifetime="$lifetime" \
  --Attestation:EnrollmentPolicy=Lab --Boot:DefaultChannel=stable > "$work/kldload.log" 2>&1 &
pids+=($!)
wait_for "kldload /readyz" 120 ip netns exec "$k" curl -sf -o /dev/null http://$lan.1:$port/readyz

mkdir -p "$work/node/tpm"
ip netns exec "$n" swtpm socket --tpm2 --server type=tcp,port=2321,bindaddr=127.0.0.1 --ctrl type=tcp,port=2322,bindaddr=127.0.0.1 \
  --tpmstate dir="$work/node/tpm" --flags not-need-init,startup-clear > "$work/swtpm.log" 2>&1 &
pids+=($!)
mac=$(ip -n "$n" -o link show lan0 | sed 's/.*link\/ether \([0-9a-f:]*\).*/\1/')
token=$(ip netns exec "$n" curl -sf "http://$lan.1:$port/boot.ipxe?mac=$mac" | sed -n 's/.*kldload\.token=\([^ ]*\).*/\1/p' | head -n 1)
[ -n "$token" ] || { echo "bench: no boot token" >&2; exit 1; }
echo "console=ttyS0 kldload.server=http://$lan.1:$port kldload.token=$token" > "$work/node/cmdline"
wait_for "swtpm" 30 ip netns exec "$n" bash -c 'exec 3<>/dev/tcp/127.0.0.1/2321'
KLDLOAD_AGENT_STATE=$work/node KLDLOAD_AGENT_INTERFACE=klrn$id KLDLOAD_AGENT_TPM=swtpm:127.0.0.1:2321 KLDLOAD_AGENT_WIREGUARD=userspace \
  ip netns exec "$n" dotnet "$agent_dll" "$work/node/cmdline" > "$work/agent.log" 2>&1 &
pids+=($!)
wait_for "node resident" 180 grep -q "resident: control channel" "$work/agent.log"
node_id=$(sed -n 's/.*READY node=\([^ ]*\).*/\1/p' "$work/agent.log" | head -n 1)
admin=$(cat "$data/admin.token")
due=$(sed -n 's/.*(renewal at \([^)]*\)).*/\1/p' "$work/agent.log" | head -n 1)
echo "node $node_id, certificate lifetime $lifetime, first renewal due at $due"

printf '| round | due (UTC) | logged by the agent (UTC) | late (s) | new certificate valid until | load average |\n|---|---|---|---|---|---|\n' > "$work/table"
for r in $(seq 1 "$rounds"); do
  due_s=$(date -d "$due" +%s)
  wait_for "renewal $r" $((due_s - $(date +%s) + 120)) renewals_at_least "$r"
  logged=$(date -u +%s.%N)
  until_t=$(grep 'certificate: renewed' "$work/agent.log" | sed -n "${r}p" | sed 's/.*valid until \(.*Z\).*/\1/')
  printf '| %d | %s | %s | %.1f | %s | %s |\n' "$r" "$(date -u -d "@$due_s" '+%H:%M:%S')" "$(date -u -d "@${logged%.*}" '+%H:%M:%S')" \
    "$(echo "$logged - $due_s" | bc)" "$until_t" "$(cut -d' ' -f1 /proc/loadavg)" >> "$work/table"
  # The next round is due two thirds into the new certificate.
  nb=$(date -d "$until_t" +%s)
  life_s=$(echo "$lifetime" | awk -F: '{ print ($1 * 3600) + ($2 * 60) + $3 }')
  due=$(date -u -d "@$((nb - life_s + life_s * 2 / 3))" '+%Y-%m-%d %H:%M:%SZ')
done

# kldload learns the renewed expiry from the agent's next watch over the control channel.
node_expiry() { ip netns exec "$k" curl -sf -H "Authorization: Bearer $admin" "http://$lan.1:$port/api/v1/nodes/$node_id" | grep -o '"certificateNotAfter":"[^"]*"' | head -n 1 || true; }
last_until=$(grep 'certificate: renewed' "$work/agent.log" | tail -n 1 | sed 's/.*valid until \(.*Z\).*/\1/')
for _ in $(seq 120); do
  expiry=$(node_expiry)
  [ -n "$expiry" ] && [ "$(date -d "$(echo "$expiry" | cut -d'"' -f4)" +%s)" -ge "$(date -d "$last_until" +%s)" ] && break
  sleep 0.5
done
printf '\ncertificate renewal through the agent'"'"'s own timer (lifetime %s, renewal at two thirds):\n\n' "$lifetime"
cat "$work/table"
echo "kldload's record of the node: ${expiry:-(no certificateNotAfter field in /api/v1/nodes/$node_id)}"
