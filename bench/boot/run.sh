#!/usr/bin/env bash
# Boot-to-ready benchmark: the same QEMU VM (SeaBIOS + QEMU's iPXE ROM, or FIRMWARE=ovmf: OVMF's UEFI
# PXE then snponly.efi over TFTP; virtio-net, swtpm vTPM, TCG) boots the same live image (out/image)
# N times each way:
#   kldload  kldload serve (full DHCP, iPXE script, image over HTTP, TPM attestation, WireGuard mesh);
#            ready = the agent's "kldload-agent: READY" line (attested and on the mesh).
#   plain    dnsmasq (DHCP, hands iPXE a script URL) + nginx-light serving a plain iPXE script, the
#            kernel and the initrd; no attestation. ready = the live image's "kldload-init: eth0" line
#            (its network is up; the agent then finds no kldload.server and stops).
# The N kldload boots run first, then the N plain ones (both DHCP servers cannot own the segment at once).
# Both are timed the same way: from the QEMU process start to the line on the serial console (polled
# every 0.1 s). "net up" is the image's own DHCP line on both paths. "server" is the time the server
# itself spent on the boot's requests: kldload's request log ("HTTP ... in X ms"), nginx's
# $request_time; DHCP answers are not logged by either and are left out (microseconds each). "ipxe"
# is when iPXE's first request for the boot script arrived (kldload's request log: end minus duration;
# nginx: $msec minus $request_time): iPXE sends it at once after "Configuring (net0 ...) ok", i.e.
# when its DHCP and IPv6 autoconfiguration are done (its console is on VGA, not on the serial log).
#
# usage (root): [FIRMWARE=seabios|ovmf] bench/boot/run.sh [N]      N boots per path, default 3
# needs: qemu-system-x86, swtpm, dnsmasq, nginx-light, wireguard-go, out/image (make image) and a
#        Release build of kldload (dotnet build src/Provisioner -c Release).
set -euo pipefail
N=${1:-3}
FIRMWARE=${FIRMWARE:-seabios}
case "$FIRMWARE" in seabios|ovmf) ;; *) echo "bench: FIRMWARE is seabios or ovmf" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
kldload=$root/src/Provisioner/bin/Release/net10.0/kldload
image=$root/out/image
[ -x "$kldload" ] || { echo "bench: build kldload first: dotnet build src/Provisioner -c Release" >&2; exit 2; }
[ -f "$image/manifest.json" ] || { echo "bench: build the image first: make image" >&2; exit 2; }
sfx=$(printf '%04x' $((RANDOM % 65536)))
ns=klbb$sfx
br=klbbr$sfx
tap=klbbt$sfx
work=$(mktemp -d /tmp/klbootbench-XXXX)
mac=52:54:00:be:00:01
srv=10.77.0.1
pids=()
qemu_pid=""
swtpm_pid=""
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
  [ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  echo "bench: logs in $work" >&2
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add "$br" type bridge
ip -n "$ns" addr add "$srv/24" dev "$br"
ip -n "$ns" link set "$br" up
ip -n "$ns" tuntap add dev "$tap" mode tap
ip -n "$ns" link set "$tap" master "$br" up

mkdir -p "$work/tpm" "$work/www" "$work/data"

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

# Firmware-specific QEMU arguments. OVMF: the NIC's option ROM off, so OVMF's own PXE client loads
# snponly.efi over TFTP (as in tests/E2E); a fresh variable store per boot.
fw_args() {
  if [ "$FIRMWARE" = ovmf ]; then
    cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
    echo "-machine q35 -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
    echo "-drive if=pflash,format=raw,unit=1,file=$work/vars.fd -device tpm-crb,tpmdev=tpm0"
    echo "-device virtio-net-pci,netdev=n0,mac=$mac,romfile=,bootindex=1"
  else
    echo "-device tpm-tis,tpmdev=tpm0 -device virtio-net-pci,netdev=n0,mac=$mac -boot n"
  fi
}

# Starts the VM, waits for MARKER on its console; sets B_T0 (QEMU start, epoch), B_NET and B_READY (seconds since QEMU started).
boot() { # label marker
  local serial=$work/$1.serial.log t0 netup="" t
  rm -f "$serial" "$work/tpm/sock"
  # swtpm ends when QEMU does: one per boot, on the same state directory (the same TPM).
  swtpm socket --tpm2 --tpmstate "dir=$work/tpm" --ctrl "type=unixio,path=$work/tpm/sock" >> "$work/swtpm.log" 2>&1 &
  swtpm_pid=$!
  for _ in $(seq 50); do [ -S "$work/tpm/sock" ] && break; sleep 0.1; done
  # shellcheck disable=SC2046 # word splitting of the firmware arguments is intended
  set -- "$1" "$2" $(fw_args)
  t0=$(now)
  ip netns exec "$ns" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -display none -monitor none -serial "file:$serial" \
    -chardev "socket,id=chrtpm,path=$work/tpm/sock" -tpmdev emulator,id=tpm0,chardev=chrtpm \
    -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" "${@:3}" &
  qemu_pid=$!
  local deadline=$(( $(date +%s) + 300 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    t=$(now)
    if [ -z "$netup" ] && grep -q "kldload-init: eth0" "$serial" 2>/dev/null; then netup=$(calc "$t - $t0"); fi
    if grep -q "$2" "$serial" 2>/dev/null; then
      kill "$qemu_pid"; wait "$qemu_pid" 2>/dev/null || true; qemu_pid=""
      kill "$swtpm_pid" 2>/dev/null || true; wait "$swtpm_pid" 2>/dev/null || true
      B_T0=$t0; B_NET=${netup:-nan}; B_READY=$(calc "$t - $t0")
      cp "$serial" "$work/$1.$(date +%s%N).serial.log"
      return
    fi
    kill -0 "$qemu_pid" 2>/dev/null || { echo "bench: QEMU exited during the $1 boot; see $work" >&2; exit 1; }
    sleep 0.1
  done
  echo "bench: $1 boot did not show '$2' in 300 s; see $serial" >&2
  exit 1
}

# --- kldload ---
"$kldload" image import "$image" --name kldload-live --version 1 --channel stable "--Kldload:DataDir=$work/data" >/dev/null
ip netns exec "$ns" "$kldload" serve --urls "http://[::]:8080" "--Kldload:ServerUrl=http://$srv:8080" "--Kldload:DataDir=$work/data" \
  --Dhcp:Mode=Full "--Dhcp:Interface=$br" --Dhcp:Subnets:0:Network=10.77.0.0/24 --Dhcp:Subnets:0:PoolStart=10.77.0.100 \
  --Dhcp:Subnets:0:PoolEnd=10.77.0.199 "--Dhcp:Subnets:0:Router=$srv" "--Tftp:Endpoint=$srv:69" --Mesh:Enabled=true \
  "--Mesh:Interface=klbm$sfx" --Attestation:EnrollmentPolicy=Lab --Boot:DefaultChannel=stable > "$work/kldload.log" 2>&1 &
kldload_pid=$!
pids+=($kldload_pid)
for _ in $(seq 90); do ip netns exec "$ns" curl -sf "http://$srv:8080/readyz" >/dev/null && break; sleep 1; done

# Server seconds: the sum of kldload's logged request durations since line $1 (the bench's own API polls excluded).
kldload_server_seconds() {
  tail -n +"$1" "$work/kldload.log" | grep -F 'RequestLoggingMiddleware: HTTP' | grep -vE '/readyz|/api/v1/nodes' \
    | sed -n 's/.* in \([0-9.]*\) ms$/\1/p' | awk '{s += $1} END {printf "%.3f", s / 1000}'
}
# Seconds from QEMU start to the start of the boot's first /boot.ipxe request, from kldload's log after line $1.
kldload_script_seconds() {
  local entry stamp ms
  entry=$(tail -n +"$1" "$work/kldload.log" | grep -F 'HTTP GET /boot.ipxe' | head -1)
  stamp=$(date -d "$(date +%F) ${entry%% *}" +%s.%N)
  ms=$(sed -n 's/.* in \([0-9.]*\) ms$/\1/p' <<< "$entry")
  calc "$stamp - $ms / 1000 - $B_T0"
}
token=$(cat "$work/data/admin.token")
declare -a K_IPXE K_NET K_READY K_SRV K_ATT K_HIST P_IPXE P_NET P_READY P_SRV
for i in $(seq "$N"); do
  line=$(( $(wc -l < "$work/kldload.log") + 1 ))
  boot kldload "kldload-agent: READY"
  sleep 1
  K_IPXE+=("$(kldload_script_seconds "$line")"); K_NET+=("$B_NET"); K_READY+=("$B_READY"); K_SRV+=("$(kldload_server_seconds "$line")")
  K_ATT+=("$(tail -n +"$line" "$work/kldload.log" | grep -F 'HTTP POST /api/v1/attest' | sed -n 's/.* in \([0-9.]*\) ms$/\1/p' | awk '{s += $1} END {printf "%.3f", s / 1000}')")
  K_HIST+=("$(ip netns exec "$ns" curl -sf -H "Authorization: Bearer $token" "http://$srv:8080/api/v1/nodes" | grep -o '"lastBootToMeshSeconds":[0-9.]*' | head -1 | cut -d: -f2)")
done
# kldload owns DHCP on the bridge: stop it before dnsmasq takes the segment.
kill "$kldload_pid"; wait "$kldload_pid" 2>/dev/null || true

# --- plain: dnsmasq (DHCP; iPXE, option 175, gets the script URL) + nginx-light ---
cp "$image/kernel" "$image/initrd" "$work/www/"
cmdline=$(sed -n 's/.*"cmdline": *"\([^"]*\)".*/\1/p' "$image/manifest.json")
# UEFI kernels find the initrd by name (initrd=initrd with --name); BIOS ones ignore the argument.
name=""; [ "$FIRMWARE" = ovmf ] && name="--name initrd "
printf '#!ipxe\nkernel http://%s:8081/kernel initrd=initrd %s\ninitrd %shttp://%s:8081/initrd\nboot\n' "$srv" "$cmdline" "$name" "$srv" > "$work/www/boot.ipxe"
# OVMF's own PXE client (no option 175) gets snponly.efi over dnsmasq's TFTP, like kldload's Boot:Loaders:EfiX64.
tftp=()
[ "$FIRMWARE" = ovmf ] && tftp=(--enable-tftp --tftp-root=/usr/lib/ipxe "--dhcp-boot=tag:!ipxe,snponly.efi")
cat > "$work/nginx.conf" <<NGINX
user root;
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.error.log;
events { worker_connections 64; }
http {
  log_format timed '\$msec \$request_time "\$request" \$status \$body_bytes_sent';
  access_log $work/nginx.access.log timed;
  client_body_temp_path $work/nginx-body;
  proxy_temp_path $work/nginx-proxy;
  fastcgi_temp_path $work/nginx-fastcgi;
  uwsgi_temp_path $work/nginx-uwsgi;
  scgi_temp_path $work/nginx-scgi;
  sendfile on;
  default_type application/octet-stream;
  server { listen $srv:8081; root $work/www; }
}
NGINX
touch "$work/nginx.access.log"
ip netns exec "$ns" nginx -c "$work/nginx.conf" > "$work/nginx.out" 2>&1 &
pids+=($!)
ip netns exec "$ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 "--interface=$br" --bind-interfaces \
  --dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,1h "--dhcp-option=3,$srv" "--dhcp-leasefile=$work/dnsmasq.leases" \
  --dhcp-authoritative --no-ping --dhcp-match=set:ipxe,175 "--dhcp-boot=tag:ipxe,http://$srv:8081/boot.ipxe" "${tftp[@]}" \
  "--pid-file=$work/dnsmasq.pid" --log-facility=- > "$work/dnsmasq.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "DHCP, IP range" "$work/dnsmasq.log" && break; sleep 0.1; done
for _ in $(seq 50); do ip netns exec "$ns" curl -sf "http://$srv:8081/boot.ipxe" >/dev/null && break; sleep 0.1; done
for i in $(seq "$N"); do
  line=$(( $(wc -l < "$work/nginx.access.log") + 1 ))
  boot plain "kldload-init: eth0"
  sleep 1
  P_IPXE+=("$(tail -n +"$line" "$work/nginx.access.log" | awk -v t0="$B_T0" '/GET \/boot.ipxe/ {printf "%.3f", $1 - $2 - t0; exit}')"); P_NET+=("$B_NET"); P_READY+=("$B_READY")
  P_SRV+=("$(tail -n +"$line" "$work/nginx.access.log" | awk '{s += $2} END {printf "%.3f", s}')")
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
printf '\nboot-to-ready, same VM (%s, TCG, swtpm) and image, N=%s per path, seconds from QEMU start\n\n' "$FIRMWARE" "$N"
printf '| path | runs: ipxe / net up / ready (server) | median ipxe | median net up | median ready | median server |\n'
printf '|---|---|---|---|---|---|\n'
row() { # label ipxe[] net[] ready[] srv[]
  local label=$1; shift
  local -n ipx=$1 net=$2 rdy=$3 srvs=$4
  local runs="" k
  for k in "${!rdy[@]}"; do runs+="$(printf '%.1f / %.1f / %.1f (%.2f)' "${ipx[$k]}" "${net[$k]}" "${rdy[$k]}" "${srvs[$k]}") "; done
  printf '| %s | %s| %.1f | %.1f | %.1f | %.2f |\n' "$label" "$runs" "$(median "${ipx[@]}")" "$(median "${net[@]}")" "$(median "${rdy[@]}")" "$(median "${srvs[@]}")"
}
row "kldload (attestation + mesh)" K_IPXE K_NET K_READY K_SRV
row "dnsmasq + nginx (plain)" P_IPXE P_NET P_READY P_SRV
kr=$(median "${K_READY[@]}"); pr=$(median "${P_READY[@]}"); ks=$(median "${K_SRV[@]}"); ps=$(median "${P_SRV[@]}")
diff=$(calc "$kr - $pr")
share=$(calc "($ks - $ps) / $diff * 100")
printf '\ndifference (median ready): %.1f s; of it in the server: %.2f s (%.1f%%); attestation requests alone %s s (median)\n' \
  "$diff" "$(calc "$ks - $ps")" "$share" "$(median "${K_ATT[@]}")"
printf 'kldload node history lastBootToMeshSeconds (first DHCP packet to mesh-ready): %s\n' "${K_HIST[*]}"
last=$(ls -t "$work"/kldload.[0-9]*.serial.log 2>/dev/null | head -1)
if [ -n "$last" ]; then
  printf '\nagent steps of the last kldload boot (t = seconds since the kernel started, + since the previous line):\n'
  grep -a '^kldload-agent: .*\[t=' "$last" | sed 's/^/  /' || true
fi
