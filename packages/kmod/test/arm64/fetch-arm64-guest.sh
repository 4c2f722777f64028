#!/bin/bash
# Fetches and unpacks what the arm64 16 KiB-page guest needs, once, into a cache folder:
# Debian 12's linux-image-6.12-arm64-16k (kernel), its headers (to cross-build sivshm.ko) with
# the host's own kbuild tools, and busybox-static for arm64. The host's dpkg is never touched:
# a private APT configuration with its own lists and status downloads the arm64 .debs, and
# `dpkg-deb -x` unpacks them into a staging root inside the cache (never into /).
#
#   fetch-arm64-guest.sh            prints the cache root, fetching only what is missing
#
# Cache: $SIVSHM_ARM64_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/sivshm/arm64-16k.
# Needs: apt-get, dpkg-deb, the host's Debian sources (bookworm + bookworm-security).
set -euo pipefail

cache="${SIVSHM_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sivshm/arm64-16k}"
root="$cache/root"
stamp="$cache/ready"

if [ -f "$stamp" ]; then
  echo "$root"
  exit 0
fi
# two runs on a cold cache: the second waits for the first, then finds the stamp
mkdir -p "$cache"
exec 9> "$cache.lock"
flock 9
if [ -f "$stamp" ]; then
  echo "$root"
  exit 0
fi

log() { echo "# fetch-arm64-guest: $*" >&2; }

# kbuild's fixdep and modpost run on the build machine: they come in the host's architecture
host_arch=$(dpkg --print-architecture)
mkdir -p "$cache/apt/lists/partial" "$cache/apt/archives/partial" "$cache/debs"
: > "$cache/apt/status"
cat > "$cache/apt/apt.conf" <<EOF
APT::Architecture "arm64";
APT::Architectures { "arm64"; "$host_arch"; };
Dir::State "$cache/apt";
Dir::State::Lists "$cache/apt/lists";
Dir::State::status "$cache/apt/status";
Dir::Cache "$cache/apt";
Dir::Cache::archives "$cache/apt/archives";
Dir::Etc::SourceParts "/etc/apt/sources.list.d";
Acquire::Languages "none";
APT::Sandbox::User "root";
EOF
arm_apt() { APT_CONFIG="$cache/apt/apt.conf" "$@"; }

log "updating the private arm64 package lists"
arm_apt apt-get -qq update >&2

# The metapackages name the versioned packages; follow them one level.
depends_of() { arm_apt apt-cache depends "$1" | sed -n 's/^ *Depends: //p' | grep -v '^<'; }
image=$(depends_of linux-image-6.12-arm64-16k | grep '^linux-image-6\.12\.' | head -1)
headers=$(depends_of linux-headers-6.12-arm64-16k | grep '^linux-headers-6\.12\.' | head -1)
[ -n "$image" ] && [ -n "$headers" ] || {
  echo "fetch-arm64-guest: linux-image-6.12-arm64-16k not found in the bookworm-security lists" >&2
  exit 1
}
common=$(depends_of "$headers" | grep -- '-common$' | head -1)
kbuild=$(depends_of "$headers" | grep '^linux-kbuild-' | head -1)
log "kernel $image, headers $headers $common, host tools $kbuild ($host_arch)"

cd "$cache/debs"
rm -f ./*.deb
arm_apt apt-get -qq download "$image" "$headers" "$common" busybox-static "$kbuild:$host_arch" >&2

rm -rf "$root.tmp"
mkdir -p "$root.tmp"
for deb in ./*.deb; do
  dpkg-deb -x "$deb" "$root.tmp"
done
kver=${image#linux-image-}
[ -f "$root.tmp/boot/vmlinuz-$kver" ] || {
  echo "fetch-arm64-guest: $image holds no boot/vmlinuz-$kver" >&2
  exit 1
}
echo "$kver" > "$root.tmp/kver"
# the headers' Makefile includes the common headers by absolute path: point it at the staged copy
sed -i "s#^include /usr/src/#include $root/usr/src/#" "$root.tmp/usr/src/linux-headers-$kver/Makefile"
rm -rf "$root" "$cache/apt/archives" "$cache/apt/lists"
mv "$root.tmp" "$root"
rm -f "$cache/debs"/*.deb
touch "$stamp"
echo "$root"
