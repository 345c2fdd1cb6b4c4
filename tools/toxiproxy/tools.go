//go:build tools

// Package toxiproxytools pins the toxiproxy-server chassisd's fault-injection tests run
// (github.com/Shopify/toxiproxy/v2, see README.md). It holds no code of its own; toxiproxy.sh
// builds github.com/Shopify/toxiproxy/v2/cmd/server with `go build` from this module, so
// go.mod/go.sum alone decide every version.
package toxiproxytools

import (
	_ "github.com/Shopify/toxiproxy/v2/cmd/server"
)
