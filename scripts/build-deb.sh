#!/usr/bin/env bash
# Builds out/deb/kldload_<version>_amd64.deb: a self-contained, trimmed single-file publish of
# kldload (no .NET on the target), its settings as a conffile, a systemd unit, a man page and bash completion.
# Usage: scripts/build-deb.sh [OUTPUT_DIR]   (default out/deb)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=$(realpath -m "${1:-out/deb}")
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props | head -1)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
work=$(mktemp -d "${TMPDIR:-/tmp}/kldload-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Trimmed in partial mode: the .NET libraries marked trimmable lose what kldload never calls; kldload's
# own assemblies and LiteDB (reflection over BSON-mapped types, JSON over API records) stay whole, so
# the trimmer's warnings about reflection in them do not apply and are not shown.
# Published from a copy of the sources, so that a package build never rewrites the bin/ and obj/
# directories a build or test run in this checkout is using.
tree=$work/tree
mkdir -p "$tree"
tar -C "$repo" --exclude=bin --exclude=obj -cf - src ipxe appsettings.json Directory.Build.props \
  Directory.Packages.props global.json | tar -C "$tree" -xf -
publish=$work/publish
dotnet publish "$tree/src/Provisioner/Kldload.Provisioner.csproj" -c Release -r linux-x64 --self-contained \
  -p:PublishSingleFile=true -p:PublishTrimmed=true -p:TrimMode=partial \
  -p:SuppressTrimAnalysisWarnings=true -p:JsonSerializerIsReflectionEnabledByDefault=true \
  -p:SourceRevisionId="$commit" -p:IncludeNativeLibrariesForSelfExtract=true -p:StaticWebAssetsEnabled=false -p:DebugType=none -p:GenerateDocumentationFile=false \
  -o "$publish" >"$work/publish.log" 2>&1 || { cat "$work/publish.log"; exit 1; }
# Everything must be inside the one file: anything else beside it would be lost in /usr/bin.
extra=$(find "$publish" -type f ! -name kldload ! -name appsettings.json -printf '%f ')
if [ -n "$extra" ]; then
  echo "build-deb: the publish left files beside the binary: $extra" >&2
  exit 1
fi

root=$work/root
install -d "$root/DEBIAN" "$root/usr/bin" "$root/etc/kldload" "$root/lib/systemd/system" \
  "$root/usr/share/doc/kldload" "$root/usr/share/man/man1" "$root/usr/share/lintian/overrides" \
  "$root/usr/share/bash-completion/completions"
install -m 0755 "$publish/kldload" "$root/usr/bin/kldload"
# Bash completion, generated from the command tree of the binary just published (so it always names
# this build's commands and options); it runs here, so the package is built on its own architecture.
DOTNET_BUNDLE_EXTRACT_BASE_DIR="$work/bundle" "$publish/kldload" completion bash >"$root/usr/share/bash-completion/completions/kldload"
grep -q '^complete -F _kldload kldload$' "$root/usr/share/bash-completion/completions/kldload" \
  || { echo "build-deb: 'kldload completion bash' printed no completion script" >&2; exit 1; }
chmod 0644 "$root/usr/share/bash-completion/completions/kldload"
# The package's settings are the repository's with the data directory where the package keeps it and
# the admin surface on loopback and the hub's mesh address (packaging/deb/appsettings.sed).
sed -f packaging/deb/appsettings.sed appsettings.json >"$root/etc/kldload/appsettings.json"
grep -q '"DataDir": "/var/lib/kldload"' "$root/etc/kldload/appsettings.json" \
  || { echo "build-deb: could not set Kldload:DataDir in the packaged appsettings.json" >&2; exit 1; }
grep -q '"Urls": \[ "https://127.0.0.1:8443", "https://mesh-hub:8443" \]' "$root/etc/kldload/appsettings.json" \
  || { echo "build-deb: could not set Admin:Urls in the packaged appsettings.json" >&2; exit 1; }
chmod 0644 "$root/etc/kldload/appsettings.json"
install -m 0644 packaging/kldload.service "$root/lib/systemd/system/kldload.service"
install -m 0644 packaging/deb/copyright "$root/usr/share/doc/kldload/copyright"
sed -e "s/@VERSION@/$version/" -e "s/@COMMIT@/$commit/" -e "s/@DATE@/$(date -R)/" packaging/deb/changelog \
  | gzip -9n >"$root/usr/share/doc/kldload/changelog.gz"
gzip -9n <packaging/kldload.1 >"$root/usr/share/man/man1/kldload.1.gz"
install -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/kldload"
install -m 0644 packaging/deb/conffiles "$root/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" packaging/deb/control.in >"$root/DEBIAN/control"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control"

mkdir -p "$out"
deb=$out/kldload_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
