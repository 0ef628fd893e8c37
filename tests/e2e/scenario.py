"""Building blocks of the end-to-end scenarios: fast HealthNodes and Playbooks, reading state."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.support.kube import wait_for

GOOD_IMAGE = "registry.example/shop/checkout:1.4.2"
BAD_IMAGE = "registry.example/shop/checkout:1.4.3-bad"


def error_rate(namespace: str) -> str:
    return (
        f'sum(rate(shop_http_requests_total{{namespace="{namespace}",app="checkout",code=~"5.."}}[5s]))'
        f' / sum(rate(shop_http_requests_total{{namespace="{namespace}",app="checkout"}}[5s]))'
    )


def checkout_node(namespace: str, playbooks: list[str], mode: str = "autonomous") -> dict[str, Any]:
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "HealthNode",
        "metadata": {"name": "checkout"},
        "spec": {
            "criticality": "high",
            "target": {"kind": "Deployment", "name": "checkout"},
            "interval": "1s",
            "signals": [
                {
                    "name": "error-rate",
                    "query": error_rate(namespace),
                    "degraded": {"above": 0.02},
                    "critical": {"above": 0.10},
                    "for": "2s",
                }
            ],
            "remediation": {"mode": mode, "playbooks": playbooks},
        },
    }


def playbook(name: str, steps: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    body = {
        "description": f"e2e {name}",
        "risk": "low",
        "match": {"phases": ["Critical", "Degraded"]},
        "steps": steps,
        "verify": {
            "timeout": "60s",
            "interval": "1s",
            "initialDelay": "7s",
            "checks": [{"signal": "error-rate", "below": 0.02}],
            "failureLimit": 3,
            "stableFor": "3s",
        },
        "onFailure": "rollback",
        "cooldown": "0s",
        "timeout": "2m",
    }
    body.update(spec)
    return {
        "apiVersion": "grace.dev/v1alpha1",
        "kind": "Playbook",
        "metadata": {"name": name},
        "spec": body,
    }


def get(dyn: Any, kind: str, namespace: str, name: str) -> Any:
    return dyn.resources.get(api_version="grace.dev/v1alpha1", kind=kind).get(
        name=name, namespace=namespace
    )


def items(dyn: Any, kind: str, namespace: str) -> list[Any]:
    res = dyn.resources.get(api_version="grace.dev/v1alpha1", kind=kind)
    return list(res.get(namespace=namespace).items)


def phase_of(dyn: Any, kind: str, namespace: str, name: str) -> str | None:
    obj = get(dyn, kind, namespace, name)
    return (obj.get("status") or {}).get("phase")


def wait_phase(
    dyn: Any, kind: str, namespace: str, name: str, *phases: str, timeout: float = 60
) -> Any:
    def probe() -> Any:
        obj = get(dyn, kind, namespace, name)
        return obj if (obj.get("status") or {}).get("phase") in phases else None

    return wait_for(f"{kind} {name} in {phases}", probe, timeout=timeout)


def set_image(api: Any, namespace: str, image: str) -> None:
    apps = client.AppsV1Api(api)
    apps.patch_namespaced_deployment(
        "checkout",
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}},
    )


def image_of(api: Any, namespace: str) -> str:
    dep = client.AppsV1Api(api).read_namespaced_deployment("checkout", namespace)
    return str(dep.spec.template.spec.containers[0].image)


def the_mission(dyn: Any, namespace: str, timeout: float = 60) -> Any:
    return wait_for(
        "a Mission to be proposed",
        lambda: (found := items(dyn, "Mission", namespace)) and found[0],
        timeout=timeout,
    )


def approve(cluster: Any, namespace: str, request: str, user: str = "alice") -> None:
    """What `kubectl annotate approvalrequest X grace.dev/decision=approve ...` does, as `user`."""
    decide(cluster, namespace, request, "approve", user)


def decide(cluster: Any, namespace: str, request: str, decision: str, user: str) -> None:
    """Annotate the ApprovalRequest with `decision` (approve|deny) in `user`'s name, as `user`.

    Mission status names its ApprovalRequest one reconcile before the operator creates it (and a
    failover can stretch that gap): a request that does not exist yet is waited for.
    """
    api = cluster.api_client(user)
    try:
        wait_for(
            f"ApprovalRequest {request} to exist and take the decision",
            lambda: client.CustomObjectsApi(api).patch_namespaced_custom_object(
                "grace.dev",
                "v1alpha1",
                namespace,
                "approvalrequests",
                request,
                {
                    "metadata": {
                        "annotations": {
                            "grace.dev/decision": decision,
                            "grace.dev/decided-by": user,
                        }
                    }
                },
            ),
            timeout=60,
        )
    finally:
        api.close()
