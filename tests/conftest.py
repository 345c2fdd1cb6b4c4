"""Suite-wide fixtures: the real kube-apiserver + etcd control plane (started only when used)."""

pytest_plugins = ["chassisd.testing.pytest_controlplane"]
