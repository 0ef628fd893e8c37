"""What the Mission safety scenarios share: a live watch of Missions (to SIGKILL the operator at a
step boundary, and to count how many run at once), a watch of pod deletions, and ledger counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from tests.support.stack import OperatorProcess

GROUP, VERSION = "grace.dev", "v1alpha1"
ACTIVE = frozenset({"Running", "Verifying", "RollingBack"})
"""Phases in which a Mission is acting on (or judging) its target: what a budget limits."""
TERMINAL = frozenset(
    {"Succeeded", "Failed", "RolledBack", "Denied", "Expired", "TimedOut", "Aborted"}
)

Predicate = Callable[[Any], bool]


def status_of(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def phase_of(obj: dict[str, Any]) -> str:
    return str(status_of(obj).get("phase") or "")


@dataclass
class Kill:
    """SIGKILL the operator the first time a watched Mission matches `when`."""

    name: str
    when: Predicate
    operator: OperatorProcess
    fired: threading.Event = field(default_factory=threading.Event)
    seen: Any = None
    """The object exactly as the watch delivered it when the kill was sent."""
    at: float = 0.0

    def offer(self, obj: Any) -> None:
        if self.fired.is_set() or not self.when(obj):
            return
        proc = self.operator.proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        self.at = time.monotonic()
        self.seen = obj
        self.fired.set()


class Watcher:
    """List, then watch from that version, resuming after timeouts and 410s: every change of
    every object is handed to `see`, in order, from a background thread."""

    def __init__(self, list_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.list_fn = list_fn
        self.args = args
        self.kwargs = kwargs
        self.kills: list[Kill] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Any:
        self._thread.start()
        if not self._ready.wait(15):
            raise AssertionError(f"{type(self).__name__} did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def kill_when(self, name: str, when: Predicate, operator: OperatorProcess) -> Kill:
        """SIGKILL the operator the first time an object seen here matches `when`."""
        kill = Kill(name, when, operator)
        with self._lock:
            self.kills.append(kill)
        return kill

    def see(self, obj: Any, event: str) -> None:
        raise NotImplementedError

    def _offer(self, obj: Any) -> None:
        with self._lock:
            kills = list(self.kills)
        for kill in kills:
            kill.offer(obj)

    @staticmethod
    def _version(obj: Any) -> str:
        if isinstance(obj, dict):
            return str((obj.get("metadata") or {}).get("resourceVersion") or "")
        return str(obj.metadata.resource_version or "")

    def _run(self) -> None:
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    listed = self.list_fn(*self.args, **self.kwargs)
                    if isinstance(listed, dict):
                        objs, version = (
                            listed.get("items") or [],
                            listed["metadata"]["resourceVersion"],
                        )
                    else:
                        objs, version = listed.items, listed.metadata.resource_version
                    for obj in objs:
                        self.see(obj, "LISTED")
                    self._ready.set()
                stream = watch.Watch().stream(
                    self.list_fn,
                    *self.args,
                    resource_version=version,
                    # The stop flag is seen only between events or when the server ends the
                    # watch: a short server-side timeout lets __exit__ join within a second.
                    timeout_seconds=1,
                    **self.kwargs,
                )
                for event in stream:
                    version = self._version(event["object"]) or version
                    if event["type"] != "BOOKMARK":
                        self.see(event["object"], event["type"])
                    if self._stop.is_set():
                        break
            except client.ApiException as e:
                if e.status == 410:  # too old: list again (nothing is lost, states are levels)
                    version = ""
                    continue
                self.errors.append(f"watch: {e.status} {e.reason}")
                time.sleep(0.2)
            except Exception as e:  # a dropped connection: carry on from the last version
                self.errors.append(f"watch: {type(e).__name__}: {e}")
                time.sleep(0.2)


class MissionWatch(Watcher):
    """Every status write of every Mission in `namespaces`, as a watch delivers them.

    A watch (not polling) sees each write the operator makes, so a boundary as short as one API
    call is still observed, and the count of Missions active at once is exact."""

    def __init__(self, api: Any, namespaces: Iterable[str]) -> None:
        custom = client.CustomObjectsApi(api)
        super().__init__(custom.list_cluster_custom_object, GROUP, VERSION, "missions")
        self.namespaces = set(namespaces)
        self.phases: dict[tuple[str, str], str] = {}
        self.history: list[tuple[float, str, str, str]] = []
        self.max_active = 0
        self.at_max: list[str] = []

    def active(self) -> list[str]:
        with self._lock:
            return sorted(f"{ns}/{n}" for (ns, n), p in self.phases.items() if p in ACTIVE)

    def see(self, obj: Any, event: str) -> None:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "")
        if ns not in self.namespaces:
            return
        key = (ns, meta.get("name", ""))
        phase = "" if event == "DELETED" else phase_of(obj)
        with self._lock:
            if self.phases.get(key) != phase:
                self.history.append((time.monotonic(), ns, key[1], phase))
            self.phases[key] = phase
            active = [f"{k[0]}/{k[1]}" for k, p in self.phases.items() if p in ACTIVE]
            if len(active) > self.max_active:
                self.max_active, self.at_max = len(active), sorted(active)
        if event != "DELETED":
            self._offer(obj)


class PodDeletions(Watcher):
    """Pods of one app that were deleted (or began terminating) while watched: an independent
    count of what deletePods steps did, whatever the operator claims."""

    def __init__(self, api: Any, namespace: str, app: str) -> None:
        core = client.CoreV1Api(api)
        super().__init__(core.list_namespaced_pod, namespace, label_selector=f"app={app}")
        self.deleted: set[str] = set()
        self.names: dict[str, str] = {}

    def see(self, obj: Any, event: str) -> None:
        self.names[obj.metadata.uid] = obj.metadata.name
        if event == "DELETED" or obj.metadata.deletion_timestamp:
            with self._lock:
                self.deleted.add(obj.metadata.uid)
            self._offer(obj)


class DeploymentWatch(Watcher):
    """Every change of the Deployments of one namespace (to kill right after a step's patch)."""

    def __init__(self, api: Any, namespace: str) -> None:
        apps = client.AppsV1Api(api)
        super().__init__(apps.list_namespaced_deployment, namespace)

    def see(self, obj: Any, event: str) -> None:
        if event != "DELETED":
            self._offer(obj)


# ---------------------------------------------------------------- the ledger, read independently


def ledger_entries(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            if "entry" in record:
                out.append(record["entry"])
    return out


def entries_about(entries: list[dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["subject"].get("uid") == uid]


def duplicate_keys(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(e["idempotency_key"] for e in entries)
    return {k: n for k, n in counts.items() if n > 1}


def verify_ledger(operator: OperatorProcess) -> subprocess.CompletedProcess[str]:
    """`grace ledger verify`, exactly as an auditor runs it."""
    return operator.verify_ledger()


# ---------------------------------------------------------------- policy data


def set_policy(api: Any, data: dict[str, str]) -> None:
    """Policy data for the next decisions (the operator re-reads it every few seconds)."""
    from tests.support.stack import ensure_policy_configmap

    ensure_policy_configmap(api, data)


def lease_holder(api: Any, namespace: str, kind: str, name: str) -> str | None:
    from grace.runtime.leases import lease_name

    try:
        lease = client.CoordinationV1Api(api).read_namespaced_lease(
            lease_name(kind, name), namespace
        )
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise
    holder = lease.spec.holder_identity
    return str(holder) if holder else None


def explain(mission: Any) -> str:
    """The Mission as `grace missions show` prints it: what an assertion message should carry."""
    from datetime import UTC, datetime

    from grace.api.mission import Mission
    from grace.cli.missions_cmd import render_show

    raw = mission.to_dict() if hasattr(mission, "to_dict") else mission
    return "\n" + render_show(Mission.model_validate(raw), datetime.now(UTC))
