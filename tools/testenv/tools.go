//go:build tools

// Package testenv pins the two control-plane binaries chassisd's tests run:
// kube-apiserver (from k8s.io/kubernetes) and etcd (from go.etcd.io/etcd/server/v3).
// It holds no code of its own; testenv.sh builds the two main packages with
// `go build` from this module, so go.mod/go.sum alone decide every version.
package testenv

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
