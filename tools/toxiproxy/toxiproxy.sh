#!/usr/bin/env bash
# toxiproxy.sh — find or build the toxiproxy-server chassisd's fault-injection tests run.
#
# Owns: turning tools/toxiproxy/go.mod (the only place the version is pinned) into one binary in
# a cache directory outside the source tree, and printing its path. It never starts the server
# (chassisd.testing.toxiproxy does) and never writes inside the checkout.
#
# Output contract: progress goes to stderr; the LAST line on stdout is the binary's path, so
# callers do:  toxiproxy=$(bash tools/toxiproxy/toxiproxy.sh | tail -n 1)
#
# Order of preference:
#   1. $TOXIPROXY_SERVER, if set: it must be an executable file; nothing is built.
#   2. $CHASSISD_TOXIPROXY_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/chassisd/toxiproxy)
#      /<toxiproxy version>/toxiproxy-server, if a previous run finished it.
#   3. Build with Go (static, -trimpath, stripped, version stamped as Toxiproxy's release build
#      does) into a temporary directory next to the final one, then rename it into place, under
#      flock(1) when available, so two concurrent runs never see half a build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'toxiproxy.sh: %s\n' "$*" >&2; }
die() { printf 'toxiproxy.sh: error: %s\n' "$*" >&2; exit 1; }

binary=toxiproxy-server
pkg=github.com/Shopify/toxiproxy/v2/cmd/server

if [[ -n "${TOXIPROXY_SERVER:-}" ]]; then
  [[ -f "$TOXIPROXY_SERVER" && -x "$TOXIPROXY_SERVER" ]] ||
    die "TOXIPROXY_SERVER=$TOXIPROXY_SERVER is not an executable file; unset it to build $binary with Go, or point it at one"
  log "using TOXIPROXY_SERVER=$TOXIPROXY_SERVER (nothing built)"
  echo "$TOXIPROXY_SERVER"
  exit 0
fi

# Read the pin from go.mod with awk, so finding a finished cache needs no Go at all.
pin() { awk -v m="$1" '($1 == m || ($1 == "require" && $2 == m)) { for (i = 2; i <= NF; i++) if ($i ~ /^v[0-9]/) { print $i; exit } }' "$here/go.mod"; }
version="$(pin github.com/Shopify/toxiproxy/v2)"
[[ -n "$version" ]] || die "cannot read the github.com/Shopify/toxiproxy/v2 pin from $here/go.mod"

cache_root="${CHASSISD_TOXIPROXY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chassisd/toxiproxy}"
dir="$cache_root/$version"
if [[ -x "$dir/$binary" ]]; then
  log "found $binary $version in $dir"
  echo "$dir/$binary"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "neither TOXIPROXY_SERVER nor Go is available.
  Install Go >= 1.26 (https://go.dev/dl/ or your distribution's golang package) so this script
  can build $binary $version from $here/go.mod (needs the Go module proxy), or set
  TOXIPROXY_SERVER to an existing $binary binary."

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

# Static binary like Toxiproxy's release builds (no cgo, no C compiler needed); GOWORK=off so a
# go.work higher up cannot change the pinned version; -mod=readonly so go.sum must match.
export CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
# Toxiproxy's .goreleaser.yml stamps the version; without it `toxiproxy-server -version` and
# GET /version say "git". Its tags are vX.Y.Z, the stamped value is X.Y.Z.
ldflags="-s -w -X github.com/Shopify/toxiproxy/v2.Version=${version#v}"
start=$SECONDS
log "go: $(go version)"
log "building $binary $version from $pkg (the first build takes about 1 min on 2 cores)"
go build -C "$here" -trimpath -ldflags="$ldflags" -o "$tmp/$binary" "$pkg" >&2 ||
  die "go build of $pkg failed (see above)"
"$tmp/$binary" -version >&2 || die "the built $binary does not run"
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
