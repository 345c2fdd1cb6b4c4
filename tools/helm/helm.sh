#!/usr/bin/env bash
# helm.sh — find or build the helm binary (or kustomize-build) chassisd's chart tests run.
#
# Owns: turning tools/helm/go.mod (the only place versions are pinned) into binaries in a cache
# directory outside the source tree, and printing the path of the one asked for. It never runs
# them and never writes inside the checkout.
#
#   bash tools/helm/helm.sh              # helm
#   bash tools/helm/helm.sh kustomize    # kustomize-build DIR: `kustomize build` (krusty library)
#
# Output contract: progress goes to stderr; the LAST line on stdout is the binary's path, so
# callers do:  helm=$(bash tools/helm/helm.sh | tail -n 1)
#
# Order of preference (helm; kustomize-build the same with $KUSTOMIZE_BUILD):
#   1. $HELM, if set: it must be an executable file; nothing is built.
#   2. $CHASSISD_HELM_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/chassisd/helm)
#      /<helm version>/helm, if a previous run finished it.
#   3. Build with Go (static, -trimpath, stripped, version stamped as helm's Makefile does) into
#      a temporary directory next to the final one, then rename it into place, under flock(1)
#      when available, so two concurrent runs never see half a build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'helm.sh: %s\n' "$*" >&2; }
die() { printf 'helm.sh: error: %s\n' "$*" >&2; exit 1; }

tool="${1:-helm}"
# Read the pins from go.mod with awk, so finding a finished cache needs no Go at all.
pin() { awk -v m="$1" '($1 == m || ($1 == "require" && $2 == m)) { for (i = 2; i <= NF; i++) if ($i ~ /^v[0-9]/) { print $i; exit } }' "$here/go.mod"; }
helm_version="$(pin helm.sh/helm/v3)"
kustomize_version="$(pin sigs.k8s.io/kustomize/api)"
client_go_version="$(pin k8s.io/client-go)"
[[ -n "$helm_version" && -n "$kustomize_version" && -n "$client_go_version" ]] ||
  die "cannot read the helm.sh/helm/v3, sigs.k8s.io/kustomize/api and k8s.io/client-go pins from $here/go.mod"

case "$tool" in
  helm)
    override_var=HELM binary=helm version="$helm_version" pkg=helm.sh/helm/v3/cmd/helm
    # helm's Makefile stamps its version and the Kubernetes version it assumes when no cluster
    # is asked (`helm template`, `helm lint`: .Capabilities.KubeVersion, deprecation checks);
    # without it helm says v3.22 and assumes Kubernetes v1.20. client-go v0.Y.Z is Kubernetes 1.Y.
    minor="${client_go_version#v0.}"
    minor="${minor%%.*}"
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
    ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    for pkg_var in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
      ldflags+=" -X $pkg_var.k8sVersionMajor=1 -X $pkg_var.k8sVersionMinor=$minor"
    done
    ;;
  kustomize)
    override_var=KUSTOMIZE_BUILD binary=kustomize-build version="kustomize-api-$kustomize_version"
    pkg=./kustomize-build ldflags="-s -w"
    ;;
  *) die "unknown tool '$tool' (helm or kustomize)" ;;
esac

override="${!override_var:-}"
if [[ -n "$override" ]]; then
  [[ -f "$override" && -x "$override" ]] ||
    die "$override_var=$override is not an executable file; unset it to build $binary with Go, or point it at one"
  log "using $override_var=$override (nothing built)"
  echo "$override"
  exit 0
fi

cache_root="${CHASSISD_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chassisd/helm}"
dir="$cache_root/$version"
if [[ -x "$dir/$binary" ]]; then
  log "found $binary $version in $dir"
  echo "$dir/$binary"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "neither $override_var nor Go is available.
  Install Go >= 1.26 (https://go.dev/dl/ or your distribution's golang package) so this script
  can build $binary $version from $here/go.mod (needs the Go module proxy), or set
  $override_var to an existing $binary binary."

mkdir -p "$cache_root"

# Serialise concurrent builders when flock(1) exists: the second waits, then finds the result.
# Without flock both build and the rename below still keeps the result whole.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache_root/.lock"
  flock 9
  if [[ -x "$dir/$binary" ]]; then
    log "another run finished the build: $dir/$binary"
    echo "$dir/$binary"
    exit 0
  fi
fi

tmp="$(mktemp -d "$cache_root/.build-$version.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Static binaries like helm's release builds (no cgo, no C compiler needed); GOWORK=off so a
# go.work higher up cannot change the pinned versions; -mod=readonly so go.sum must match.
export CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
start=$SECONDS
log "go: $(go version)"
log "building $binary $version from $pkg (the first build takes about 2-5 min on 2 cores)"
go build -C "$here" -trimpath -ldflags="$ldflags" -o "$tmp/$binary" "$pkg" >&2 ||
  die "go build of $pkg failed (see above)"
if [[ "$tool" == helm ]]; then
  "$tmp/$binary" version >&2 || die "the built helm does not run"
fi
chmod 0755 "$tmp"

# rename(2) onto a non-empty directory fails, so whoever renames first wins and the rest drop
# their copy.
if mv -T "$tmp" "$dir" 2>/dev/null; then
  trap - EXIT
  log "built $binary into $dir in $((SECONDS - start))s"
else
  [[ -x "$dir/$binary" ]] || die "could not move the build into $dir"
  log "another run installed $dir first; using it"
fi
echo "$dir/$binary"
