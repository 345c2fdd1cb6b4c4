#!/usr/bin/env bash
# testenv.sh — find or build the kube-apiserver and etcd binaries chassisd's tests run.
#
# Owns: turning tools/testenv/go.mod (the only place versions are pinned) into two binaries in
# a cache directory outside the source tree, and printing that directory. It never starts the
# binaries (chassisd.testing.controlplane does) and never writes inside the checkout.
#
# Output contract: progress goes to stderr; the LAST line on stdout is
#     KUBEBUILDER_ASSETS=<dir>
# so callers do:  assets=$(bash tools/testenv/testenv.sh | tail -n 1) && export "$assets"
#
# Order of preference:
#   1. $KUBEBUILDER_ASSETS, if set: it must hold both binaries; nothing is built.
#   2. $CHASSISD_TESTENV_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/chassisd/testenv)
#      /<k8s-version>-<etcd-version>/, if a previous run finished it.
#   3. Build with Go (static, -trimpath, stripped) into a temporary directory next to the
#      final one, then rename it into place, so two concurrent runs never see half a build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: error: %s\n' "$*" >&2; exit 1; }

has_binaries() { [[ -x "$1/kube-apiserver" && -x "$1/etcd" ]]; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  has_binaries "$KUBEBUILDER_ASSETS" ||
    die "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS does not contain executable kube-apiserver and etcd; unset it to build them with Go, or point it at a directory that has both"
  log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS (nothing built)"
  echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  exit 0
fi

# Read the pins from go.mod with awk, so finding a finished cache needs no Go at all.
pin() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$here/go.mod"; }
k8s_version="$(pin k8s.io/kubernetes)"
etcd_version="$(pin go.etcd.io/etcd/server/v3)"
[[ -n "$k8s_version" && -n "$etcd_version" ]] || die "cannot read the k8s.io/kubernetes and etcd pins from $here/go.mod"

cache_root="${CHASSISD_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chassisd/testenv}"
assets="$cache_root/$k8s_version-$etcd_version"

if has_binaries "$assets"; then
  log "found kube-apiserver $k8s_version and etcd $etcd_version in $assets"
  echo "KUBEBUILDER_ASSETS=$assets"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "neither KUBEBUILDER_ASSETS nor Go is available.
  Install Go >= 1.26 (https://go.dev/dl/ or your distribution's golang package) so this script
  can build kube-apiserver $k8s_version and etcd $etcd_version (needs the Go module proxy), or
  set KUBEBUILDER_ASSETS to a directory holding kube-apiserver and etcd binaries
  (for example one made by controller-runtime's setup-envtest)."

mkdir -p "$cache_root"

# Serialise concurrent builders when flock(1) exists: the second waits, then finds the result.
# Without flock both build and the rename below still keeps the result whole.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache_root/.lock"
  flock 9
  if has_binaries "$assets"; then
    log "another run finished the build: $assets"
    echo "KUBEBUILDER_ASSETS=$assets"
    exit 0
  fi
fi

tmp="$(mktemp -d "$cache_root/.build-$k8s_version-$etcd_version.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Static binaries like the Kubernetes release builds (no cgo, no C compiler needed); GOWORK=off
# so a go.work higher up cannot change the pinned versions; -mod=readonly so go.sum must match.
export CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
build() {
  local out="$1" pkg="$2" ldflags="$3" start=$SECONDS
  log "building $out from $pkg (the first build takes 5-30 min on 2 cores)"
  go build -C "$here" -trimpath -ldflags="$ldflags" -o "$tmp/$out" "$pkg" >&2 ||
    die "go build of $pkg failed (see above)"
  log "built $out in $((SECONDS - start))s"
}
# Kubernetes stamps its version at link time (hack/lib/version.sh); without this /version and
# `kube-apiserver --version` say v0.0.0-master.
minor="${k8s_version#v1.}"
minor="${minor%%.*}"
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean"
done
total_start=$SECONDS
log "go: $(go version)"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build etcd go.etcd.io/etcd/server/v3 "-s -w"
"$tmp/kube-apiserver" --version >&2 || die "the built kube-apiserver does not run"
"$tmp/etcd" --version >&2 || die "the built etcd does not run"
chmod 0755 "$tmp"

# rename(2) onto a non-empty directory fails, so whoever renames first wins and the rest drop
# their copy.
if mv -T "$tmp" "$assets" 2>/dev/null; then
  trap - EXIT
  log "installed into $assets in $((SECONDS - total_start))s"
else
  has_binaries "$assets" || die "could not move the build into $assets"
  log "another run installed $assets first; using it"
fi
echo "KUBEBUILDER_ASSETS=$assets"
