#!/usr/bin/env bash
# build.sh — build chassisd's container image from deploy/Dockerfile with buildah (`make image`).
#
# Owns: choosing the base (PYTHON_IMAGE if set; else python:3.11-slim if it can be pulled; else
# the Debian bookworm base base.sh bootstraps), the build arguments (VERSION from pyproject.toml,
# REVISION from git, SOURCE from an https origin remote), tagging localhost/chassisd:<version>,
# copying the image's SBOM out to build/image/, and dropping images the new one superseded.
# It never pushes (see README "Building the image") and never runs the image (tests do).
#
# Output contract: progress goes to stderr; the LAST two stdout lines are
#     CONTAINERS_STORAGE_CONF=<the storage configuration the image is in>
#     CHASSISD_IMAGE=localhost/chassisd:<version>
# so callers do:  export $(bash tools/image/build.sh | tail -n 2)
#
# Needs: buildah and mmdebstrap (`make deps-debian`), root (the build's RUN steps and the
# bootstrap change root into the image's filesystem), PyPI and the Debian mirror.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=tools/image/common.sh
source "$here/common.sh"
log() { printf 'build.sh: %s\n' "$*" >&2; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

command -v buildah >/dev/null 2>&1 ||
  die "buildah is missing: apt-get install buildah (or \`make deps-debian\`)"
[[ "$(id -u)" == 0 ]] ||
  die "run as root: buildah's chroot isolation and the base bootstrap need it here"

version="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$repo/pyproject.toml")"
revision="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
if [[ "$revision" != unknown && -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]]; then
  revision="$revision-dirty"
fi
source_url="$(git -C "$repo" remote get-url origin 2>/dev/null || true)"
[[ "$source_url" == https://* ]] || source_url=""
image="localhost/chassisd:$version"
registry_base=python:3.11-slim

start=$SECONDS
base="${PYTHON_IMAGE:-}"
if [[ -z "$base" ]]; then
  if timeout 60 buildah pull --quiet "docker.io/library/$registry_base" >/dev/null 2>&1; then
    base="docker.io/library/$registry_base"
  else
    log "$registry_base cannot be pulled; building on a locally bootstrapped Debian base"
    base="$(bash "$here/base.sh" | tail -n 1)"
  fi
fi
log "building $image on $base (revision $revision)"

# The trust store this machine's Python uses, for a TLS-inspecting proxy between the build and
# PyPI; an ordinary network does not need it, and it never lands in a layer (a build secret).
ca_bundle="${PIP_CERT:-$(python3 -c 'import ssl; print(ssl.get_default_verify_paths().cafile or "")')}"
secret=()
[[ -n "$ca_bundle" && -s "$ca_bundle" ]] && secret=(--secret "id=pip-ca,src=$ca_bundle")

old_id="$(buildah inspect --type image --format '{{.FromImageID}}' "$image" 2>/dev/null || true)"
build_start=$SECONDS
# The labels are also given on the command line: buildah's layer cache reuses a cached LABEL
# step although the REVISION build argument changed, which left a stale revision on the image.
buildah build --quiet --layers --isolation chroot --pull-never \
  --file "$repo/deploy/Dockerfile" \
  --build-arg "PYTHON_IMAGE=$base" \
  --build-arg "VERSION=$version" \
  --build-arg "REVISION=$revision" \
  --build-arg "SOURCE=$source_url" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.source=$source_url" \
  "${secret[@]}" \
  --tag "$image" "$repo" >&2 || die "buildah build failed (see above)"
log "built $image in $((SECONDS - build_start))s ($((SECONDS - start))s with the base)"

new_id="$(buildah inspect --type image --format '{{.FromImageID}}' "$image")"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
  buildah rmi "$old_id" >/dev/null 2>&1 || true  # superseded; its layers stay cached if shared
fi
# Each source change leaves its builder stage behind as an untagged image (~300 MB with vfs).
# The two newest stay as the layer cache (this build's and one other branch's); older go.
buildah images --filter dangling=true --json | python3 -c '
import json, sys
images = sorted(json.load(sys.stdin) or [], key=lambda i: i["created"], reverse=True)
print("\n".join(i["id"] for i in images[2:]))' | xargs -r buildah rmi >/dev/null 2>&1 || true

# The SBOM the builder wrote, next to the image for whoever publishes it.
out="$repo/build/image"
mkdir -p "$out"
ctr="$(buildah from --pull-never "$image")"
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt="$(buildah mount "$ctr")"
cp "$mnt/opt/chassisd/sbom.cdx.json" "$out/chassisd-$version.cdx.json"
buildah umount "$ctr" >/dev/null
log "SBOM: build/image/chassisd-$version.cdx.json"
log "size: $(buildah images --format '{{.Size}}' "$image")"

echo "CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF"
echo "CHASSISD_IMAGE=$image"
