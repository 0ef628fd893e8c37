"""Start-up: build the Runtime (every component, once) and hand it to kopf as the handlers' memo."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from typing import Any

import kopf

from grace.runtime.config import OperatorConfig
from grace.runtime.kube import Kube

log = logging.getLogger("grace")


@dataclass
class Runtime:
    """What every handler needs, built once at start-up; handlers reach it through kopf's memo."""

    config: OperatorConfig
    kube: Kube
    parts: dict[str, Any]


def build(config: OperatorConfig) -> Runtime:
    from kubernetes import config as kubeconfig

    try:
        kubeconfig.load_incluster_config()
        api_client = kubeconfig.kubernetes.client.ApiClient()
    except kubeconfig.ConfigException:
        api_client = kubeconfig.new_client_from_config()
    return Runtime(config=config, kube=Kube(api_client), parts={})


def run(config: OperatorConfig) -> int:
    """Run the operator until SIGINT/SIGTERM; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runtime = build(config)
    if config.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(config.metrics_port, addr="0.0.0.0")
    import grace.handlers  # noqa: F401  (registers the handlers with kopf)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await kopf.operator(
            clusterwide=not config.namespaces,
            namespaces=config.namespaces,
            memo=runtime,
            standalone=config.standalone,
            stop_flag=stop,
        )

    asyncio.run(main())
    return 0
