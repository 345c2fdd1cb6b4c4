"""Suite-wide fixtures: the real kube-apiserver + etcd control plane, and Toxiproxy in front of it
(each started only when a test uses it)."""

pytest_plugins = ["chassisd.testing.pytest_controlplane", "chassisd.testing.pytest_toxiproxy"]
