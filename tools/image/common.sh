# common.sh — sourced by base.sh, build.sh and run.sh: where chassisd's image tooling keeps its
# cache and its container storage, and the one storage configuration every buildah call uses.
#
# Owns: the cache directory (${CHASSISD_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chassisd/image})
# and writing storage.conf there: storage driver vfs (overlay needs a kernel/FUSE setup that
# sandboxes and CI machines often refuse; vfs needs nothing), image layers under the cache, so
# they survive between runs on one machine and a new machine starts from nothing.
# Must not: touch the system's default container storage (/var/lib/containers) or configuration.
# shellcheck shell=bash

image_cache="${CHASSISD_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chassisd/image}"
mkdir -p "$image_cache"
# The run root holds locks and mount bookkeeping only; /run is cleared at boot, as it should be.
storage_conf="$image_cache/storage.conf"
if [[ "$(id -u)" == 0 ]]; then image_runroot=/run/chassisd-image-storage
else image_runroot="${XDG_RUNTIME_DIR:-/tmp}/chassisd-image-storage-$(id -u)"; fi
storage_text="[storage]
driver = \"vfs\"
graphroot = \"$image_cache/storage\"
runroot = \"$image_runroot\"
"
if [[ ! -f "$storage_conf" || "$(cat "$storage_conf")" != "$storage_text" ]]; then
  printf '%s' "$storage_text" >"$storage_conf"
fi
export CONTAINERS_STORAGE_CONF="$storage_conf"
# OCI runtimes (crun, runc) need namespaces and rlimits that sandboxes and unprivileged CI often
# refuse; chroot isolation runs a build step or a command in the image's filesystem without one.
export BUILDAH_ISOLATION=chroot
