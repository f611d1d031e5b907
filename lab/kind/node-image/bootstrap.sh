#!/bin/sh
# Bootstraps the kind node's base rootfs offline from a Debian mirror:
# debootstrap trixie with packages-base.txt, then packages-sid.txt from sid
# inside a chroot (no service is started: policy-rc.d refuses). No image
# registry is used. The lab's files are added on top by Dockerfile.
#
# usage: bootstrap.sh MIRROR_URL TARGET_DIR
set -eu
mirror=$1
target=$2
here=$(cd "$(dirname "$0")" && pwd)
list() { grep -v '^#' "$1" | grep . ; }

debootstrap --variant=minbase --include="$(list "$here/packages-base.txt" | paste -sd, -)" trixie "$target" "$mirror"

cleanup() {
  for m in dev/pts dev proc sys; do umount -l "$target/$m" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t proc proc "$target/proc"
mount -t sysfs sysfs "$target/sys"
mount --bind /dev "$target/dev"
mount --bind /dev/pts "$target/dev/pts"

printf '#!/bin/sh\nexit 101\n' >"$target/usr/sbin/policy-rc.d"
chmod 755 "$target/usr/sbin/policy-rc.d"
cat >"$target/etc/apt/sources.list" <<SOURCES
deb $mirror trixie main
deb $mirror sid main
SOURCES
# Pin trixie by default so only the named packages and their needs come from sid.
cat >"$target/etc/apt/preferences.d/sid" <<PREFS
Package: *
Pin: release n=sid
Pin-Priority: 100
PREFS
apt="apt-get -o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false -y"
chroot "$target" env DEBIAN_FRONTEND=noninteractive $apt update
chroot "$target" env DEBIAN_FRONTEND=noninteractive $apt install -t sid $(list "$here/packages-sid.txt")
rm -f "$target/usr/sbin/policy-rc.d"
# Lean image: package lists and caches are not needed at run time.
rm -rf "$target/var/cache/apt/archives/"*.deb "$target/var/lib/apt/lists/"*
