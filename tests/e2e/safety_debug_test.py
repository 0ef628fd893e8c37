from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from tests.e2e.scenario import (
    BAD_IMAGE,
    GOOD_IMAGE,
    checkout_node,
    error_rate,
    get,
    set_image,
    wait_phase,
)
from tests.support.kube import apply


def test_curve(api: Any, dyn: Any, shop: str, prometheus: Any, operator: Any) -> None:
    import requests

    ns = shop
    apps = client.AppsV1Api(api)
    apply(dyn, [checkout_node(ns, [], mode="observe")], ns)
    wait_phase(dyn, "HealthNode", ns, "checkout", "Healthy", timeout=30)

    def show(tag):
        r = requests.get(prometheus.url + "/api/v1/query", params={"query": error_rate(ns)}).json()
        v = r["data"]["result"][0]["value"][1] if r["data"]["result"] else None
        d = apps.read_namespaced_deployment("checkout", ns)
        rss = apps.list_namespaced_replica_set(ns, label_selector="app=checkout").items
        print(
            tag,
            f"{time.monotonic() - t0:5.1f}",
            v,
            d.status.updated_replicas,
            d.status.available_replicas,
            [
                (
                    rs.metadata.annotations.get("deployment.kubernetes.io/revision"),
                    rs.status.replicas,
                    rs.status.ready_replicas,
                )
                for rs in rss
            ],
            get(dyn, "HealthNode", ns, "checkout").status.phase,
        )
        if d.status.available_replicas is None and not shown:
            shown.append(1)
            for p in (
                client.CoreV1Api(api).list_namespaced_pod(ns, label_selector="app=checkout").items
            ):
                print(
                    p.metadata.name,
                    p.status.phase,
                    [
                        (c.type, c.status, c.reason, str(c.last_transition_time))
                        for c in p.status.conditions or []
                    ],
                )
                print(
                    "   mf:",
                    [
                        (m.manager, m.operation, m.subresource, str(m.time))
                        for m in p.metadata.managed_fields
                    ],
                )

    t0 = time.monotonic()
    shown = []
    set_image(api, ns, BAD_IMAGE)
    for _ in range(15):
        show("bad")
        time.sleep(1)
    set_image(api, ns, GOOD_IMAGE)
    for _ in range(25):
        show("good")
        time.sleep(1)
