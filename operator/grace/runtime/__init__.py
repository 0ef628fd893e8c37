"""The operator process: its configuration, its Kubernetes I/O edge, its metrics, and start-up."""
