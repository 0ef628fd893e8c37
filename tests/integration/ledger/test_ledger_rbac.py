"""Least privilege: with only the shipped Roles, a writer appends but cannot undo history."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from kubernetes import client

from grace.ledger import EntryType, Subject
from grace.ledger.configmapstore import DATA_KEY, ledger_role, witness_role
from tests.integration.ledger.conftest import LedgerSite
from tests.support.kube import wait_for

pytestmark = pytest.mark.cluster

USER = "carol"


def _grant(rbac: client.RbacAuthorizationV1Api, namespace: str, role: dict[str, Any]) -> None:
    name = role["metadata"]["name"]
    rbac.create_namespaced_role(namespace, role)
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "User", "name": USER, "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )


def _refused(call: Callable[[], object]) -> int:
    with pytest.raises(client.ApiException) as refused:
        call()
    return refused.value.status  # type: ignore[no-any-return]


def test_the_ledger_and_witness_roles_allow_appends_but_no_rewrite(site: LedgerSite) -> None:
    carol = site.core(USER)
    assert _refused(lambda: carol.list_namespaced_config_map(site.namespace)) == 403

    rbac = client.RbacAuthorizationV1Api(site.core().api_client)
    _grant(rbac, site.namespace, ledger_role(site.namespace))
    _grant(rbac, site.witness_namespace, witness_role(site.witness_namespace))
    for ns in (site.namespace, site.witness_namespace):
        wait_for(
            f"{USER} may read ConfigMaps in {ns}", partial(carol.list_namespaced_config_map, ns)
        )

    ledger = site.ledger(USER)
    for i in range(16):
        kind = EntryType.MISSION_FINISHED if i % 8 == 7 else EntryType.STEP_FINISHED
        subject = Subject(kind="Mission", namespace="shop", name=f"m{i // 8}")
        ledger.append(kind, subject, {"i": i}, f"rbac-{i}")
    assert ledger.witness_failures == 0

    segments = site.segment_objects()
    sealed, head = segments[0], segments[-1]
    assert sealed.immutable and not head.immutable
    witnessed = site.witness(USER).checkpoints()
    assert [c.tree_size for c in witnessed] == [5, 8, 13, 16]
    report = site.report()
    assert report.ok and report.checked == 16, report.summary()

    name, ns = sealed.metadata.name, site.namespace
    assert _refused(lambda: carol.delete_namespaced_config_map(name, ns)) == 403
    assert _refused(lambda: carol.delete_namespaced_config_map(head.metadata.name, ns)) == 403
    patch = {"data": {DATA_KEY: ""}}
    assert _refused(lambda: carol.patch_namespaced_config_map(name, ns, patch)) == 403
    # update is allowed (the head must grow), but a sealed segment refuses any edit
    edited = carol.read_namespaced_config_map(name, ns)
    edited.data[DATA_KEY] = edited.data[DATA_KEY].replace('"i":1}', '"i":9}')
    assert _refused(lambda: carol.replace_namespaced_config_map(name, ns, edited)) == 422

    wns = site.witness_namespace
    wname = carol.list_namespaced_config_map(wns).items[0].metadata.name
    stored = carol.read_namespaced_config_map(wname, wns)
    assert _refused(lambda: carol.replace_namespaced_config_map(wname, wns, stored)) == 403
    assert _refused(lambda: carol.patch_namespaced_config_map(wname, wns, patch)) == 403
    assert _refused(lambda: carol.delete_namespaced_config_map(wname, wns)) == 403
    assert _refused(lambda: carol.delete_collection_namespaced_config_map(wns)) == 403

    # nothing changed, and the writer's own Roles are enough to audit the ledger
    report = site.report(user=USER)
    assert report.ok and report.checked == 16, report.summary()
    assert [cm.metadata.resource_version for cm in site.segment_objects()] == [
        cm.metadata.resource_version for cm in segments
    ]
