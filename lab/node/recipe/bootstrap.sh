#!/bin/sh
# Bootstraps the lab node rootfs offline from a Debian mirror, without any
# image registry: debootstrap sid with the packages of packages.txt, then the
# files of rootfs/. Prints debootstrap's "I:" lines as progress.
#
# usage: bootstrap.sh MIRROR_URL TARGET_DIR
set -eu
mirror=$1
target=$2
here=$(cd "$(dirname "$0")" && pwd)
packages=$(grep -v '^#' "$here/packages.txt" | grep . | paste -sd, -)

debootstrap --variant=minbase --include="$packages" sid "$target" "$mirror"
cp -a "$here/rootfs/." "$target/"
# Keep the image lean: package lists and caches are not needed at run time.
rm -rf "$target/var/cache/apt/archives/"*.deb "$target/var/lib/apt/lists/"*
