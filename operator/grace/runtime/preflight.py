"""Before `grace run` watches anything: the flags and the cluster checked (Preflight), the
metrics port taken, and the ledger opened with its witness."""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass
from typing import Any

from grace.govern.policy import PolicyBundle
from grace.ledger import ConfigMapStore, ConfigMapWitness, FileStore, Ledger, Signer
from grace.ledger.keys import KeyFileError
from grace.runtime import metrics
from grace.runtime.config import ConfigError, OperatorConfig
from grace.runtime.kube import Kube

log = logging.getLogger("grace")


@dataclass(frozen=True)
class Preflight:
    """What `grace run` checks (and the metrics port it takes) before it logs or watches
    anything, local things first, so that a flag that cannot work ends the process with one
    line naming the flag (ConfigError) or the cluster (ClusterUnavailableError), not a
    traceback halfway through start-up."""

    signer: Signer
    bundle: PolicyBundle
    kube: Kube

    @classmethod
    def check(cls, config: OperatorConfig) -> Preflight:
        try:
            signer = (
                Signer.from_file(config.signing_key) if config.signing_key else Signer.generate()
            )
        except KeyFileError as e:
            raise ConfigError("signing_key", f"{e} (give the Ed25519 private key PEM)") from e
        try:
            bundle = PolicyBundle.load(config.policy_dir)
        except OSError as e:
            raise ConfigError("policy_dir", f"{e} (give the directory holding grace/*.rego)") from e
        serve_metrics(config)  # the port is ours before anything remote is asked
        kube = Kube.connect(in_cluster=True)
        kube.probe()
        return cls(signer, bundle, kube)


def serve_metrics(config: OperatorConfig) -> None:
    """/metrics and the probes; a port that cannot be had is a ConfigError naming its flag."""
    if not config.metrics_port:
        return
    from prometheus_client import start_http_server

    try:
        start_http_server(config.metrics_port, addr=config.metrics_address)
    except OSError as e:
        where = f"{config.metrics_address}:{config.metrics_port}"
        if e.errno in (errno.EADDRINUSE, errno.EACCES):
            fix = "metrics_port", "pick a free --metrics-port; 0 turns /metrics off"
        else:
            fix = "metrics_address", "give an address of this host, e.g. 0.0.0.0 or 127.0.0.1"
        raise ConfigError(fix[0], f"cannot listen on {where}: {e.strerror or e} ({fix[1]})") from e


def check_witness(core: Any, namespace: str) -> bool:
    """Whether checkpoints can be witnessed in `namespace`: a server-side dry-run create of a
    ConfigMap there (the namespace exists, and the operator may write it). Said once at start,
    in one log line and the grace_ledger_witness_ok gauge, instead of a traceback on every
    checkpoint: without a witness, truncating the ledger's tail cannot be proven."""
    from kubernetes import client

    probe = {"metadata": {"generateName": "grace-witness-probe-"}, "data": {}}
    try:
        core.create_namespaced_config_map(namespace, probe, dry_run="All")
    except client.ApiException as e:
        what = (
            f"namespace {namespace} does not exist"
            if e.status == 404
            else f"the operator may not write ConfigMaps there ({e.status} {e.reason})"
        )
        log.error(
            "ledger witness unavailable: %s; checkpoints are signed but not witnessed, so a "
            "truncated ledger tail cannot be detected (create the namespace, or install the "
            "chart's witness Role)",
            what,
        )
        metrics.LEDGER_WITNESS_OK.labels(witness=namespace).set(0)
        return False
    metrics.LEDGER_WITNESS_OK.labels(witness=namespace).set(1)
    return True


def build_ledger(config: OperatorConfig, api_client: Any, signer: Signer) -> Ledger:
    if config.signing_key is None:
        log.warning(
            "no --signing-key: signing with a throwaway key (fine for a demo, not for prod)"
        )
    if config.ledger_backend == "configmap":
        from kubernetes import client

        core = client.CoreV1Api(api_client)
        store: Any = ConfigMapStore(core, config.ledger_namespace)
        witness = f"{config.ledger_namespace}-witness"
        check_witness(core, witness)
        witnesses: list[Any] = [ConfigMapWitness(core, witness)]
    else:
        try:
            config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
            store = FileStore(config.ledger_path)
        except OSError as e:
            raise ConfigError(
                "ledger_path", f"{e.filename or config.ledger_path}: {e.strerror or e}"
            ) from e
        witnesses = []
    return Ledger(store, signer, "grace.dev/ledger", witnesses=witnesses)
