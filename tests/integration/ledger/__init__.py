"""The ledger's ConfigMap backend against a real kube-apiserver: sealing, races, crashes, RBAC."""
