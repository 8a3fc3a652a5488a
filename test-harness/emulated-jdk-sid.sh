#!/usr/bin/env bash
# emulated-jdk-sid.sh ARCH — ds-comm's own fallback for ../shared/tools/emulated-jdk: prints a
# JAVA_HOME whose bin/java is Debian's OpenJDK 25 for ARCH (aarch64, s390x, riscv64, ppc64le)
# run by qemu user-mode emulation. test-harness/portability.sh uses it only when the shared tool
# fails or hands back a JDK that cannot start ds-comm's launcher.
#
# Why it exists (both seen on the CI image, Nov 2026):
#  1. The shared tool prefers Debian trixie; the mirror answers 404 for trixie's s390x and
#     ppc64el openjdk-25 / libc6 / zlib files, while the same packages from sid download fine.
#     This script always takes sid (the suite can be changed with DSCOMM_EMULATED_SUITE).
#  2. Debian's JRE keeps its configuration in /etc/java-25-openjdk and links to it with ABSOLUTE
#     symlinks (conf/security/java.security -> /etc/java-25-openjdk/security/java.security).
#     Unpacked into a private root, those links point at the host's /etc, where nothing is, so
#     the emulated JVM dies with "Error loading java.security file" the first time anything
#     touches java.security (InetAddress, hence every socket, hence the launcher's rendezvous).
#     This script re-points every absolute symlink of the root into the root.
#
# Behaviour otherwise follows the shared tool's documented one: the first call installs
# qemu-user-static if missing, downloads the JRE and the few libraries it needs with a private
# apt state into a cache (DSCOMM_EMULATED_JDK_CACHE, default /var/tmp/dscomm-emulated-jdk),
# writes bin/java as a wrapper that runs the real java under qemu-ARCH-static with
# QEMU_LD_PREFIX=<root>, and registers the architecture with binfmt_misc when allowed, so that a
# JVM started by the emulated one (a launched rank) is emulated too. Later calls print the
# cached path at once. QEMU_CPU is left to the caller (see docs/portability.md).
set -euo pipefail

arch=${1:?usage: emulated-jdk-sid.sh aarch64|s390x|riscv64|ppc64le}
case $arch in
  aarch64|arm64)   deb=arm64   qemu=aarch64 ;;
  s390x)           deb=s390x   qemu=s390x ;;
  riscv64)         deb=riscv64 qemu=riscv64 ;;
  ppc64le|ppc64el) deb=ppc64el qemu=ppc64le ;;
  *) echo "emulated-jdk-sid: unknown architecture '$arch'" >&2; exit 2 ;;
esac
suite=${DSCOMM_EMULATED_SUITE:-sid}
cache=${DSCOMM_EMULATED_JDK_CACHE:-/var/tmp/dscomm-emulated-jdk}
base=$cache/$suite-$deb
root=$base/root
home=$base/home
jvm=$root/usr/lib/jvm/java-25-openjdk-$deb

say() { echo "emulated-jdk-sid: $*" >&2; }

if ! command -v "qemu-$qemu-static" >/dev/null 2>&1; then
  say "installing qemu-user-static"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static; } >&2
fi

mkdir -p "$base"
exec 8>"$base.lock"
flock 8   # concurrent callers for one ISA: the first sets up, the others wait and reuse it

if [ ! -x "$home/bin/java" ]; then
  apt_dir=$base/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$base/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    > "$apt_dir/sources.list"
  # A private apt state for a foreign architecture: nothing of the host's dpkg/apt is touched.
  apt_opts=(-o "APT::Architecture=$deb" -o "APT::Architectures=$deb"
            -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o Dir::State::Status=/dev/null
            -o Debug::NoLocking=1)
  say "fetching the $suite package list for $deb"
  apt-get "${apt_opts[@]}" -qq update >&2
  say "downloading OpenJDK 25 ($suite, $deb)"
  rm -f "$base/debs"/*.deb
  packages=(openjdk-25-jre-headless libc6 libgcc-s1 libstdc++6 zlib1g libjpeg62-turbo liblcms2-2)
  (cd "$base/debs" && apt-get "${apt_opts[@]}" -qq download "${packages[@]}" 2>&1 \
     | grep -v 'Download is performed unsandboxed' >&2) || true
  for p in "${packages[@]}"; do
    ls "$base/debs/${p}"_*.deb >/dev/null 2>&1 || { say "package $p ($suite, $deb) did not download"; exit 1; }
  done
  rm -rf "$root" && mkdir -p "$root"
  for f in "$base/debs"/*.deb; do dpkg-deb -x "$f" "$root"; done
  [ -e "$root/lib" ] || ln -s usr/lib "$root/lib"
  [ -e "$root/lib64" ] || [ ! -d "$root/usr/lib64" ] || ln -s usr/lib64 "$root/lib64"
  # Re-point absolute symlinks into the root (see 2. above). A link whose target is not in the
  # root either is left alone: it was dangling in the package too.
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    if [ -e "$root$target" ] || [ -L "$root$target" ]; then ln -sfn "$root$target" "$link"; fi
  done < <(find "$root" -type l -lname '/*' -print0)
  [ -x "$jvm/bin/java" ] || { say "no JVM in $root after unpacking"; exit 1; }
  mkdir -p "$home/bin"
  printf '#!/bin/sh\nexport QEMU_LD_PREFIX=%s\nexec qemu-%s-static %s/bin/java "$@"\n' "$root" "$qemu" "$jvm" \
    > "$home/bin/java.tmp"
  chmod +x "$home/bin/java.tmp"
  ln -sfn "$jvm/lib" "$home/lib"
  ln -sfn "$jvm/conf" "$home/conf"
  version=$(sed -n 's/^JAVA_VERSION="\([^"]*\)"/\1/p' "$jvm/release" 2>/dev/null || true)
  echo "JAVA_VERSION=\"${version:-25}\"" > "$home/release"
  mv "$home/bin/java.tmp" "$home/bin/java"   # last: its presence means "set up completely"
fi

# binfmt_misc, so that the launcher's child JVMs (java.home/bin/java, an ELF of ARCH) run too.
binfmt=/proc/sys/fs/binfmt_misc
[ -e $binfmt/register ] || mount -t binfmt_misc binfmt_misc $binfmt 2>/dev/null || true
if [ ! -e "$binfmt/qemu-$qemu" ] && [ -w $binfmt/register ] && [ -f "/usr/lib/binfmt.d/qemu-$qemu.conf" ]; then
  # Debian's entry names a binfmt helper; the static binary with flag F (opened at registration)
  # works in containers and chroots as well.
  entry=$(sed "s#:/usr/libexec/qemu-binfmt/$qemu-binfmt-P:OPF#:/usr/bin/qemu-$qemu-static:F#" "/usr/lib/binfmt.d/qemu-$qemu.conf")
  echo "$entry" > $binfmt/register 2>/dev/null || say "binfmt_misc refused qemu-$qemu; launched ranks cannot start"
fi
echo "$home"
