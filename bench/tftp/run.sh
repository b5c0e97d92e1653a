#!/bin/bash
# Side-by-side TFTP benchmark on loopback: kldload against tftpd-hpa, dnsmasq and atftpd, same files,
# same clients, interleaved rounds. Prints median [min-max] MB/s (10^6 B/s) per row and the ratio
# kldload/peer. Every download is hashed (SHA-256) against the source file.
#
# usage (root): bench/tftp/run.sh [ROUNDS]        ROUNDS defaults to 3
# needs: tftpd-hpa, dnsmasq, atftp, curl, atftpd unpacked at /opt/atftpd/usr/sbin/atftpd,
#        and a Release build: dotnet build src/Provisioner -c Release
set -u
ROUNDS=${1:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
KLDLOAD=$REPO/src/Provisioner/bin/Release/net10.0/kldload
ATFTPD=${ATFTPD:-/opt/atftpd/usr/sbin/atftpd}
WORK=$(mktemp -d /tmp/kltftpbench.XXXX)
D=$WORK/root
mkdir -p "$D" "$WORK/data"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

head -c $((64 * 1024 * 1024)) /dev/urandom > "$D/f64.bin"
head -c $((30 * 1024 * 1024)) /dev/urandom > "$D/f30.bin"
chmod -R a+rX "$WORK"
H64=$(sha256sum < "$D/f64.bin" | cut -d' ' -f1)
H30=$(sha256sum < "$D/f30.bin" | cut -d' ' -f1)

# Ports: kldload 6970, tftpd-hpa 6969, dnsmasq 69 (its TFTP port is fixed), atftpd 6971.
"$KLDLOAD" serve --Tftp:Endpoint=127.0.0.1:6970 --Tftp:Root="$D" --Tftp:MaxBlockSize=65464 --Tftp:MaxWindowSize=16 \
  --Kldload:LogLevel=Warning --urls http://127.0.0.1:0 --Kldload:DataDir="$WORK/data" > "$WORK/kldload.log" 2>&1 &
PIDS+=($!)
in.tftpd -L -s "$D" -a :6969 -u tftp > /dev/null 2>&1 &
PIDS+=($!)
dnsmasq -k --conf-file=/dev/null --port=0 --enable-tftp --tftp-root="$D" --interface=lo \
  --bind-interfaces --edns-packet-max=16384 --tftp-max=200 --log-facility=/dev/null > /dev/null 2>&1 &
PIDS+=($!)
"$ATFTPD" --daemon --no-fork --port 6971 --bind-address 127.0.0.1 --logfile /dev/null --maxthread 200 "$D" > /dev/null 2>&1 &
PIDS+=($!)
sleep 4

declare -A PORT=([kldload]=6970 [tftpd-hpa]=6969 [dnsmasq]=69 [atftpd]=6971)
SERVERS=(kldload tftpd-hpa dnsmasq atftpd)
declare -A RESULTS

# One timed download; prints MB/s or FAIL when the hash differs.
fetch() { # server client blksize windowsize file hash
  local port=${PORT[$1]} start end hash
  start=$(date +%s.%N)
  if [ "$2" = curl ]; then
    hash=$(curl -sS -o - --tftp-blksize "$3" "tftp://127.0.0.1:$port/$5" 2>/dev/null | sha256sum | cut -d' ' -f1)
  else
    hash=$(atftp -g -r "$5" -l /dev/stdout --option "blksize $3" --option "windowsize $4" 127.0.0.1 "$port" 2>/dev/null | sha256sum | cut -d' ' -f1)
  fi
  end=$(date +%s.%N)
  if [ "$hash" != "$6" ]; then echo FAIL; return; fi
  local size; size=$(stat -c %s "$D/$5")
  echo "$size $start $end" | awk '{ printf "%.1f", $1 / ($3 - $2) / 1e6 }'
}

# Rows: label client blksize windowsize servers
ROWS=(
  "64 MiB, blksize 512 (curl)|curl|512|1|kldload tftpd-hpa dnsmasq atftpd"
  "64 MiB, blksize 1468 (curl)|curl|1468|1|kldload tftpd-hpa dnsmasq atftpd"
  "64 MiB, blksize 8192 (curl)|curl|8192|1|kldload tftpd-hpa dnsmasq atftpd"
  "64 MiB, blksize 1468, windowsize 8 (atftp)|atftp|1468|8|kldload atftpd"
  "64 MiB, blksize 8192, windowsize 8 (atftp)|atftp|8192|8|kldload atftpd"
)

for round in $(seq 1 "$ROUNDS"); do
  for row in "${ROWS[@]}"; do
    IFS='|' read -r label client blk win servers <<< "$row"
    # Interleave: the server order rotates each round.
    read -ra list <<< "$servers"
    n=${#list[@]}
    for i in $(seq 0 $((n - 1))); do
      s=${list[$(((i + round) % n))]}
      RESULTS["$label|$s"]+="$(fetch "$s" "$client" "$blk" "$win" f64.bin "$H64") "
    done
  done
done

# 50 concurrent 30 MiB transfers per server (curl, blksize 1468), aggregate MB/s, every hash checked.
parallel() { # server
  local port=${PORT[$1]} start end fails
  local clients=()
  start=$(date +%s.%N)
  for i in $(seq 1 50); do
    (curl -sS -o - --tftp-blksize 1468 "tftp://127.0.0.1:$port/f30.bin" 2>/dev/null | sha256sum | cut -d' ' -f1 > "$WORK/p.$1.$i") &
    clients+=($!)
  done
  wait "${clients[@]}" || true
  end=$(date +%s.%N)
  fails=0
  for i in $(seq 1 50); do [ "$(cat "$WORK/p.$1.$i")" = "$H30" ] || fails=$((fails + 1)); done
  if [ "$fails" -gt 0 ]; then echo "FAIL($fails)"; return; fi
  echo "$start $end" | awk '{ printf "%.1f", 50 * 30 * 1048576 / ($2 - $1) / 1e6 }'
}
PLABEL="50 x 30 MiB concurrent, aggregate (curl, blksize 1468)"
for s in "${SERVERS[@]}"; do RESULTS["$PLABEL|$s"]="$(parallel "$s") "; done

stat_of() { # values -> "median [min-max]"
  tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    for (i = 1; i <= NR; i++) if (v[i] !~ /^[0-9.]+$/) { print v[i]; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f [%s-%s]", m, v[1], v[NR] }'
}
median_of() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "TFTP on loopback, $(nproc) CPUs, $ROUNDS interleaved rounds (parallel row: 1 run); MB/s = 10^6 B/s, median [min-max]"
echo
printf '| row | kldload | tftpd-hpa | dnsmasq | atftpd | kldload/best peer |\n|---|---|---|---|---|---|\n'
for label in "${ROWS[@]%%|*}" "$PLABEL"; do
  line="| $label |"
  k=$(echo "${RESULTS["$label|kldload"]:-}" | median_of)
  best=0
  for s in "${SERVERS[@]}"; do
    v=${RESULTS["$label|$s"]:-}
    line+=" $(echo "$v" | stat_of) |"
    if [ "$s" != kldload ]; then
      m=$(echo "$v" | median_of)
      best=$(echo "$best $m" | awk '{ print ($2 > $1) ? $2 : $1 }')
    fi
  done
  ratio=$(echo "$k $best" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }')
  echo "$line $ratio |"
done
