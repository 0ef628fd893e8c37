"""A real local control plane (etcd, kube-apiserver, controllers, KWOK, Prometheus, OPA) for tests and the demo."""
