#!/usr/bin/env bash
# Installs every system package that kldload's tests, benchmarks and end-to-end rig use.
# Idempotent: packages already present are left alone. Run as root (CI does).
set -euo pipefail

packages=(
  # build and test basics
  ca-certificates curl git make jq openssl iproute2 nftables procps psmisc tcpdump zstd xz-utils file
  # TPM: software TPM, its setup tools and the reference client tools
  swtpm swtpm-tools tpm2-tools
  # TFTP peers (atftpd is unpacked beside tftpd-hpa, see below)
  tftpd-hpa tftp-hpa atftp busybox
  # DHCP peers and clients
  dnsmasq kea-dhcp4-server kea-dhcp6-server kea-admin isc-dhcp-client isc-dhcp-relay udhcpc nmap
  # IPv6 router discovery peers: rdisc6 (router solicitation) and radvd (another router; the
  # router advertisements, M = 1, of the IPv6-only end-to-end segment)
  ndisc6 radvd
  # HTTP peer
  nginx-light
  # WireGuard (no kernel module here: wireguard-go on the host side)
  wireguard-tools wireguard-go
  # virtual machines for the end-to-end tier
  qemu-system-x86 qemu-utils ovmf ipxe
  # the signed boot path (Boot:Loader=grub): Debian's shim (Microsoft-signed) and GRUB network image (Debian-signed)
  shim-signed grub-efi-amd64-signed
  # live image builder (images/build.sh): depmod/modprobe -d, cpio, readelf
  kmod cpio binutils
  # backup archives: age and age-keygen cross-check the age format
  age
  # dashboard tests
  chromium
  # BMC peers: ipmi_sim (OpenIPMI's BMC simulator), ipmitool (lanplus), redfishtool
  openipmi ipmitool redfishtool
  # PostgreSQL (Database:Provider=PostgreSql): the tests start private clusters with initdb/pg_ctl
  postgresql
  # the Debian package (make deb): lintian checks it, systemd-analyze verifies its unit
  lintian systemd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Do not let package scripts start the daemons: tests start their own copies on their own ports.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# The packaged daemons must not hold the ports the tests use: tests start their own copies.
for svc in tftpd-hpa dnsmasq kea-dhcp4-server kea-dhcp6-server nginx; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

# atftpd conflicts with tftpd-hpa as a package: unpack it under /opt/atftpd instead.
if [ ! -x /opt/atftpd/usr/sbin/atftpd ]; then
  tmp=$(mktemp -d) && chmod 0777 "$tmp"
  (cd "$tmp" && apt-get download -qq atftpd >/dev/null && dpkg-deb -x atftpd_*.deb /opt/atftpd)
  rm -rf "$tmp"
fi

echo "install-deps: all system packages present"
