//go:build tools

// Package helmtools pins the helm command chassisd's chart tests run (helm.sh/helm/v3, see
// README.md). It holds no code of its own; helm.sh builds helm.sh/helm/v3/cmd/helm with
// `go build` from this module, so go.mod/go.sum alone decide every version.
package helmtools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
