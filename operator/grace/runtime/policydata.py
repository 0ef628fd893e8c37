"""Policy data (change windows, budgets, protected namespaces) follows its ConfigMap, no restart."""

from __future__ import annotations

import asyncio
import logging

from grace.govern.configmap import PolicyDataError, PolicyDataReloader, read_policy_configmap
from grace.govern.engines import PolicyEngineError
from grace.govern.policy import data_digest
from grace.runtime import metrics
from grace.runtime.app import Runtime

log = logging.getLogger("grace.policy")
RELOAD_SECONDS = 5.0


class PolicyDataWatch:
    """Re-reads the ConfigMap every few seconds; a bad one is logged and the last good one kept."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.reloader = PolicyDataReloader(rt.governor)
        self.source: tuple[str, str] | None = None
        """Where the data in force came from, and its digest: said once per change."""

    async def load(self) -> None:
        cfg = self.rt.config
        try:
            data = await asyncio.to_thread(
                read_policy_configmap,
                self.rt.kube.core,
                cfg.operator_namespace,
                cfg.policy_configmap,
            )
            applied = self.reloader.apply(data)
            self.rt.budgets.apply(applied)
            source = "defaults" if data is None else "ConfigMap"
            digest = data_digest(applied)
            if (source, digest) != self.source:
                self.source = source, digest
                metrics.POLICY_DATA.clear()
                metrics.POLICY_DATA.labels(digest).set(1)
                where = f"{cfg.operator_namespace}/{cfg.policy_configmap}"
                log.info(
                    "policy data from %s: %s",
                    where if data is not None else f"built-in defaults ({where} not found)",
                    self.reloader.current.wire(),
                )
        except PolicyDataError as e:
            log.error("policy ConfigMap %s ignored: %s", cfg.policy_configmap, e)
        except PolicyEngineError as e:
            log.error("policy engine did not take the new data: %s", e)
        except Exception:
            log.exception("reading the policy ConfigMap failed; keeping the last data")

    async def run(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_SECONDS)
            await self.load()
