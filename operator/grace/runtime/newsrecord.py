"""The I/O edge of grace.notify.record: the `grace-notifications` ConfigMap, read and replaced
with its resourceVersion (a write that lost a race is dropped; the next round reads again)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grace.notify.record import RECORD_CONFIGMAP, NewsRecord


@dataclass(frozen=True)
class Stored:
    record: NewsRecord
    data: dict[str, str]
    """The data as read, to tell whether anything changed."""
    body: dict[str, Any] | None
    """apiVersion/kind/metadata of the ConfigMap (for its Events); None while it does not exist."""


class NewsRecordStore:
    def __init__(self, core: Any, namespace: str, name: str = RECORD_CONFIGMAP) -> None:
        self.core = core
        self.namespace = namespace
        self.name = name

    def read(self) -> Stored:
        try:
            cm = self.core.read_namespaced_config_map(self.name, self.namespace)
        except Exception as e:
            if getattr(e, "status", None) != 404:
                raise
            return Stored(NewsRecord(), {}, None)
        data = dict(cm.data or {})
        meta = cm.metadata
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": meta.name,
                "namespace": meta.namespace,
                "uid": meta.uid,
                "resourceVersion": meta.resource_version,
            },
        }
        return Stored(NewsRecord.from_data(data), data, body)

    def write(self, stored: Stored) -> bool:
        """Write the record back if it changed; False when another write came first (409)."""
        data = stored.record.to_data()
        if data == stored.data:
            return True
        try:
            if stored.body is None:  # the chart creates it; a bare `grace run` creates it here
                meta = {"name": self.name, "labels": {"app.kubernetes.io/part-of": "grace"}}
                self.core.create_namespaced_config_map(
                    self.namespace, {"metadata": meta, "data": data}
                )
            else:  # a patch (the chart's labels stay), made on the version that was read
                gone: dict[str, str | None] = {k: None for k in stored.data if k not in data}
                rv = stored.body["metadata"]["resourceVersion"]
                self.core.patch_namespaced_config_map(
                    self.name,
                    self.namespace,
                    {"metadata": {"resourceVersion": rv}, "data": {**data, **gone}},
                )
        except Exception as e:
            if getattr(e, "status", None) in (409, 422):
                return False
            raise
        return True
