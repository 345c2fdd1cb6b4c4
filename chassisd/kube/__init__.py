"""The Kubernetes adapter: the only package that imports `kubernetes`."""
