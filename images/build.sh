#!/usr/bin/env bash
# Builds the kldload live image from Debian packages only (apt-get download + dpkg-deb -x) and the
# NativeAOT kldload-agent: out/image/{kernel,initrd,manifest.json}, accepted by
#   kldload image import out/image
# Reproducible: same packages + same agent source give the same initrd bytes (fixed mtimes, sorted
# cpio, gzip -n). Downloads are cached in out/cache/debs; a rerun only repacks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/out/image}
cache=$root/out/cache/debs
stage=$root/out/cache/stage
name=${IMAGE_NAME:-kldload-live}
version=${IMAGE_VERSION:-1}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}

say() { echo "image: $*" >&2; }

kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
kver=${kernel_pkg#linux-image-}
# The user space: busybox (static), iproute2 + wireguard-tools, nftables (the agent locks the public
# NIC down with it), and the libraries they, OpenSSL (System.Security.Cryptography) and libsodium
# (NSec) need. `apt-cache depends` and `readelf -d` of each tool gave this list.
packages=("$kernel_pkg" busybox-static iproute2 wireguard-tools nftables libnftables1 libnftnl11 libjansson4 libgmp10 libxtables12 libedit2 libtinfo6
  libc6 libbpf1 libbsd0 libcap2 libelf1 libmd0 libmnl0 zlib1g libssl3 libsodium23)

mkdir -p "$cache" "$out"
# One build at a time per checkout: the stage and cache directories are shared.
exec 9>"$root/out/.build.lock"
flock 9
missing=()
for p in "${packages[@]}"; do
  ls "$cache/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "downloading ${missing[*]}"
  (cd "$cache" && apt-get download "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
fi

say "publishing kldload-agent (NativeAOT)"
dotnet publish "$root/src/Agent" -c Release -r linux-x64 -o "$root/out/agent" --nologo -v quiet >&2

rm -rf "$stage" && mkdir -p "$stage/pkgs" "$stage/root"
for p in "${packages[@]}"; do
  dpkg-deb -x "$(ls "$cache/${p}_"*.deb | head -1)" "$stage/pkgs"
done
pk=$stage/pkgs
r=$stage/root

say "kernel $kver"
cp "$pk/boot/vmlinuz-$kver" "$out/kernel.tmp"

mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,usr/lib/kldload,etc,proc,sys,dev,run,tmp,root,lib/modules}
cp "$pk/bin/busybox" "$r/bin/busybox"
for applet in $("$pk/bin/busybox" --list); do
  [ -e "$r/bin/$applet" ] || ln -s busybox "$r/bin/$applet"
done
cp "$pk/sbin/ip" "$r/usr/sbin/ip" 2>/dev/null || cp "$pk/bin/ip" "$r/usr/sbin/ip"
cp "$pk/usr/bin/wg" "$r/usr/bin/wg"
cp "$pk/usr/sbin/nft" "$r/usr/sbin/nft"
cp "$root/out/agent/kldload-agent" "$r/usr/lib/kldload/"
cp "$root"/out/agent/*.so "$r/usr/lib/kldload/" 2>/dev/null || true

# Shared libraries: the dynamic loader, and every library named by a NEEDED entry, transitively,
# plus the ones .NET opens with dlopen (OpenSSL, libsodium).
mkdir -p "$r/lib64" "$r/lib/x86_64-linux-gnu"
cp -L "$pk/lib64/ld-linux-x86-64.so.2" "$r/lib64/"
find_lib() { find "$pk/lib" "$pk/usr/lib" -name "$1" \( -type f -o -type l \) 2>/dev/null | head -1; }
queue=(libssl.so.3 libcrypto.so.3 libsodium.so.23)
for bin in "$r/usr/sbin/ip" "$r/usr/bin/wg" "$r/usr/sbin/nft" "$r/usr/lib/kldload/kldload-agent"; do
  queue+=($(readelf -d "$bin" | awk -F'[][]' '/NEEDED/{print $2}'))
done
declare -A seen=()
while [ ${#queue[@]} -gt 0 ]; do
  lib=${queue[0]}; queue=("${queue[@]:1}")
  [ -n "${seen[$lib]:-}" ] && continue
  seen[$lib]=1
  [ "$lib" = ld-linux-x86-64.so.2 ] && continue
  src=$(find_lib "$lib")
  [ -n "$src" ] || { say "FAILED: $lib not found in the Debian packages"; exit 1; }
  cp -L "$src" "$r/lib/x86_64-linux-gnu/$lib"
  queue+=($(readelf -d "$r/lib/x86_64-linux-gnu/$lib" | awk -F'[][]' '/NEEDED/{print $2}'))
done
# NSec asks for "libsodium"; .NET probes libsodium.so next to the binary first.
[ -e "$r/usr/lib/kldload/libsodium.so" ] || ln -s /lib/x86_64-linux-gnu/libsodium.so.23 "$r/usr/lib/kldload/libsodium.so"
ln -sf libssl.so.3 "$r/lib/x86_64-linux-gnu/libssl.so"

# Kernel modules the boot needs, with their dependencies (modules.dep from depmod on the package).
# Storage drivers too: the agent inventories the disks (commissioning), which needs them bound.
# nf_tables, nft_ct (conntrack) and nft_reject_inet (TCP reset, ICMP admin-prohibited) for the public
# NIC's ruleset; crc32c_generic first, since libcrc32c (which nf_tables needs) asks the crypto API for
# crc32c at load, a soft dependency that modprobe --show-depends does not list (without it nf_tables
# did not load in the VM).
modules=(virtio_pci virtio_net e1000 e1000e wireguard nvme virtio_blk virtio_scsi ahci sd_mod crc32c_generic nf_tables nft_ct nft_reject_inet)
depmod -b "$pk" "$kver"
for m in "${modules[@]}"; do
  modprobe -d "$pk" -S "$kver" --show-depends "$m" | awk '/^insmod/{print $2}'
done | sort -u | while read -r ko; do
  rel=${ko#"$pk"}
  mkdir -p "$r$(dirname "$rel")"
  cp "$ko" "$r$rel"
done
cp "$pk/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$r/lib/modules/$kver/" 2>/dev/null || true
depmod -b "$r" "$kver"
printf '%s\n' "${modules[@]}" > "$r/etc/kldload-modules"

install -m 0755 "$root/images/init" "$r/init"
install -m 0755 "$root/images/udhcpc.script" "$r/etc/udhcpc.script"
echo "$name $version" > "$r/etc/kldload-image"
echo "root:x:0:0:root:/root:/bin/sh" > "$r/etc/passwd"
echo "root:x:0:" > "$r/etc/group"

say "packing the initrd"
find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$r" && find . -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) | gzip -n -6 > "$out/initrd.tmp"
mv "$out/kernel.tmp" "$out/kernel"
mv "$out/initrd.tmp" "$out/initrd"
cat > "$out/manifest.json" <<JSON
{ "name": "$name", "version": "$version", "architecture": "x86_64",
  "cmdline": "console=ttyS0,115200 panic=10",
  "notes": "kldload live image: Debian $kernel_pkg, busybox, iproute2, wireguard-tools, nftables, kldload-agent" }
JSON
say "wrote $out: kernel $(stat -c %s "$out/kernel") bytes, initrd $(stat -c %s "$out/initrd") bytes, sha256 $(sha256sum "$out/initrd" | cut -c1-16)"
