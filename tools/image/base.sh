#!/usr/bin/env bash
# base.sh — find or bootstrap the Debian base image deploy/Dockerfile builds on when its
# registry base (python:3.11-slim) cannot be pulled.
#
# Owns: bootstrapping Debian bookworm with mmdebstrap (bookworm, bookworm-updates and
# bookworm-security, so the base carries the security updates of the day it was made) into a
# tarball in the image cache, importing it into buildah's storage as
# localhost/chassisd-base:bookworm-<YYYYMMDD>, and printing that name as the LAST stdout line.
# It never builds chassisd (build.sh does) and never writes inside the checkout.
#
# What the base holds, and why it is the equivalent of python:3.11-slim: Debian's Essential
# packages (dpkg and its status file stay, so scanners see every package and version), python3
# (3.11), python3-venv (the builder stage makes a virtualenv; the final stage deletes the pip
# wheels it brings) and ca-certificates. No apt, no perl beyond perl-base, no documentation
# except copyright files, no man pages, no locales.
#
# Cache: a base younger than CHASSISD_BASE_MAX_AGE_DAYS (default 7) days is reused; an older
# one is bootstrapped again, which is how new Debian security updates reach the image.
# CHASSISD_BASE_REFRESH=1 bootstraps now. A new machine bootstraps from nothing (~2 min).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tools/image/common.sh
source "$here/common.sh"
log() { printf 'base.sh: %s\n' "$*" >&2; }
die() { printf 'base.sh: error: %s\n' "$*" >&2; exit 1; }

suite=bookworm
mirror="${CHASSISD_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${CHASSISD_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
max_age_days="${CHASSISD_BASE_MAX_AGE_DAYS:-7}"
packages=python3,python3-venv,ca-certificates
name=localhost/chassisd-base

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# The newest tarball that is young enough, unless a refresh is asked for.
newest=""
if [[ "${CHASSISD_BASE_REFRESH:-0}" != 1 ]]; then
  newest="$(find "$image_cache" -maxdepth 1 -name "base-$suite-*.tar" -mtime "-$max_age_days" \
    -printf '%f\n' 2>/dev/null | sort | tail -n 1)"
fi

exec 9>"$image_cache/.base.lock"
flock 9
if [[ -z "$newest" ]]; then
  command -v mmdebstrap >/dev/null 2>&1 ||
    die "mmdebstrap is missing: apt-get install mmdebstrap (or \`make deps-debian\`)"
  stamp="$(date -u +%Y%m%d)"
  newest="base-$suite-$stamp.tar"
  log "bootstrapping Debian $suite ($packages) into $image_cache/$newest (about 2 min)"
  start=$SECONDS
  tmp="$(mktemp "$image_cache/.base-$suite.XXXXXX.tar")"
  trap 'rm -f "$tmp"' EXIT
  # merged-usr hook: /bin -> usr/bin etc. as Debian 12 does, without usrmerge (which needs perl).
  # The customize hook empties /etc/hostname and /etc/resolv.conf, which mmdebstrap fills from
  # the build machine; a container runtime mounts its own over them.
  mmdebstrap --quiet --variant=essential --include="$packages" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='truncate -s 0 "$1/etc/hostname" "$1/etc/resolv.conf"' \
    "$suite" "$tmp" \
    "deb $mirror $suite main" "deb $mirror $suite-updates main" \
    "deb $security_mirror $suite-security main" >&2 ||
    die "mmdebstrap failed (see above); it needs the Debian mirror $mirror"
  mv "$tmp" "$image_cache/$newest"
  trap - EXIT
  buildah rmi "$name:$suite-$stamp" >/dev/null 2>&1 || true  # a refresh on the same day
  log "bootstrapped in $((SECONDS - start))s"
  # Older tarballs and their images are superseded.
  for old in "$image_cache"/base-"$suite"-*.tar; do
    [[ "$(basename "$old")" == "$newest" ]] && continue
    old_tag="$(basename "$old" .tar)"
    buildah rmi "$name:${old_tag#base-}" >/dev/null 2>&1 || true
    rm -f "$old"
  done
fi

tag="${newest#base-}"
tag="${tag%.tar}"
image="$name:$tag"
if ! have_image "$image"; then
  log "importing $newest as $image"
  ctr="$(buildah from scratch)"
  trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
  buildah add --quiet "$ctr" "$image_cache/$newest" / >/dev/null
  buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd '["python3"]' \
    --label "org.opencontainers.image.title=chassisd-base" \
    --label "org.opencontainers.image.description=Debian $suite (+updates, +security, $tag) with $packages, bootstrapped by mmdebstrap" \
    "$ctr"
  buildah commit --quiet --rm "$ctr" "$image" >/dev/null
  trap - EXIT
fi
echo "$image"
