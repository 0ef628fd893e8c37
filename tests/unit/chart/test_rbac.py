"""The chart gives the operator's ServiceAccount exactly what it needs, and nothing more.

tests/integration/chart runs a whole Mission with only these permissions (sufficiency); these
tests pin them down (minimality): a new permission has to be added to the table here, in review.
"""

from __future__ import annotations

from typing import Any

import pytest

from grace.ledger.configmapstore import ledger_role, witness_role
from tests.unit.chart.chart import WRITE_VERBS, Grant, grants, of_kind, one, render, table

NS = "grace-system"
SA = "grace"
KINDS = ("healthnodes", "playbooks", "missions", "approvalrequests")


def _own_kinds(scope: str) -> list[tuple[str, str, str]]:
    rows = [(scope, f"grace.dev/{k}", "get list watch") for k in KINDS]
    rows += [(scope, f"grace.dev/{k}/status", "patch") for k in KINDS]
    rows += [(scope, f"grace.dev/{k}", "create") for k in ("missions", "approvalrequests")]
    rows += [(scope, "grace.dev/missions", "delete")]  # finished automatic ones, by TTL
    return rows


def _targets(scope: str) -> list[tuple[str, str, str]]:
    return [
        (scope, "core/events", "create"),
        (scope, "coordination.k8s.io/leases", "get create update delete"),
        (scope, "apps/deployments", "get patch"),
        (scope, "apps/statefulsets", "get patch"),
        (scope, "apps/replicasets", "list"),
        (scope, "core/pods", "get list delete"),
        (scope, "core/pods/eviction", "create"),
        (scope, "autoscaling/horizontalpodautoscalers", "get list patch"),
    ]


def _self_and_ledger(ns: str = NS) -> list[tuple[str, str, str]]:
    return [
        (ns, "core/configmaps:grace-policy", "get"),
        (ns, "core/configmaps:grace-notifications", "get patch"),
        (ns, "coordination.k8s.io/leases", "get create update delete"),
        (ns, "core/configmaps", "get list watch create update"),
        (f"{ns}-witness", "core/configmaps", "get list watch create"),
    ]


CLUSTER_WIDE = table(
    [
        ("cluster", "apiextensions.k8s.io/customresourcedefinitions", "get list watch"),
        ("cluster", "core/nodes", "get list patch"),
        *_own_kinds("cluster"),
        *_targets("cluster"),
        *_self_and_ledger(),
    ]
)


def _grants(values: dict[str, Any] | None = None) -> set[Grant]:
    return grants(render(values), NS, SA)


def _diff(actual: set[Grant], expected: set[Grant]) -> str:
    extra = "\n  ".join(map(str, sorted(actual - expected)))
    missing = "\n  ".join(map(str, sorted(expected - actual)))
    return f"granted beyond the table:\n  {extra}\nin the table but not granted:\n  {missing}"


def test_cluster_wide_grants_are_exactly_the_table() -> None:
    actual = _grants()
    assert actual == CLUSTER_WIDE, _diff(actual, CLUSTER_WIDE)


def test_namespaced_install_writes_only_in_the_watched_namespaces() -> None:
    actual = _grants({"watchNamespaces": ["shop", "payments"]})
    expected = table(
        [
            ("cluster", "apiextensions.k8s.io/customresourcedefinitions", "get list watch"),
            ("cluster", "core/nodes", "get list patch"),
            ("cluster", "core/namespaces", "list watch"),
            *[("cluster", f"grace.dev/{k}", "get list watch") for k in KINDS],
            *[row for ns in ("shop", "payments") for row in _own_kinds(ns) + _targets(ns)],
            *_self_and_ledger(),
        ]
    )
    assert actual == expected, _diff(actual, expected)
    cluster_writes = {g for g in actual if g.scope == "cluster" and g.verb in WRITE_VERBS}
    assert cluster_writes == table([("cluster", "core/nodes", "patch")])


def test_without_cordon_no_node_is_reachable() -> None:
    actual = _grants({"rbac": {"cordonNodes": False}})
    assert not {g for g in actual if g.resource == "nodes"}
    assert actual == {g for g in CLUSTER_WIDE if g.resource != "nodes"}


def test_file_ledger_drops_the_ledger_configmap_roles() -> None:
    actual = _grants({"ledger": {"backend": "file"}, "replicaCount": 1})
    configmaps = {g for g in actual if g.resource == "configmaps"}
    assert configmaps == table(
        [
            (NS, "core/configmaps:grace-policy", "get"),
            (NS, "core/configmaps:grace-notifications", "get patch"),
        ]
    )


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"watchNamespaces": ["shop"]},
        {"ledger": {"backend": "file"}, "replicaCount": 1},
        {"ledger": {"namespace": "grace-ledger"}},
        {"replicaCount": 1},
    ],
    ids=["default", "namespaced", "file-ledger", "ledger-namespace", "one-replica"],
)
def test_invariants_hold_for_every_shape(values: dict[str, Any]) -> None:
    docs = render(values)
    actual = grants(docs, NS, SA)
    for g in actual:
        assert "*" not in (g.group, g.resource, g.verb), f"wildcard: {g}"
        assert g.resource != "secrets", f"the signing key is a mounted file, not an API read: {g}"
        assert g.verb not in ("impersonate", "escalate", "bind", "approve", "sign"), str(g)
        sub = g.resource.partition("/")[2]
        assert sub in ("", "status") or (g.resource, g.verb) == ("pods/eviction", "create"), (
            f"subresource beyond status and evictions (exec, attach, proxy...): {g}"
        )
        if g.verb in WRITE_VERBS:
            assert _write_allowed(g), f"write outside GRACE's kinds and playbook targets: {g}"
    # Only pods (deletePods), GRACE's own Leases and finished Missions (TTL) are ever deleted;
    # no workload is created.
    assert {g.resource for g in actual if g.verb == "delete"} <= {"pods", "leases", "missions"}
    assert not {g for g in actual if g.group == "apps" and g.verb in ("create", "delete")}
    roles = of_kind(docs, "Role", "ClusterRole")
    assert all(r["metadata"]["labels"]["app.kubernetes.io/part-of"] == "grace" for r in roles)


def _write_allowed(g: Grant) -> bool:
    """Writes go to GRACE's kinds, Events, Leases, the ledger, and the playbook targets only."""
    if g.group == "grace.dev":
        # status only, new Missions and ApprovalRequests, and deleting finished Missions past
        # their TTL: never a user's spec or metadata
        kind, _, sub = g.resource.partition("/")
        if sub == "status":
            return g.verb == "patch"
        if g.verb == "delete":
            return kind == "missions"
        return g.verb == "create" and kind in ("missions", "approvalrequests")
    allowed = {
        ("", "events"): {"create"},
        ("coordination.k8s.io", "leases"): {"create", "update", "delete"},
        ("apps", "deployments"): {"patch"},
        ("apps", "statefulsets"): {"patch"},
        ("", "pods"): {"delete"},
        ("", "nodes"): {"patch"},
        ("", "pods/eviction"): {"create"},
        ("autoscaling", "horizontalpodautoscalers"): {"patch"},
    }
    if (g.group, g.resource) == ("", "configmaps"):
        if g.name == "grace-notifications":  # the notification record, in place
            return g.scope != "cluster" and g.verb == "patch"
        # the ledger's segments and witnessed checkpoints: namespaced, never cluster-wide
        return g.scope != "cluster" and g.verb in ("create", "update")
    return g.verb in allowed.get((g.group, g.resource), set())


def test_ledger_roles_are_the_ledger_packages_own_rules() -> None:
    docs = render()
    ledger = one(docs, "Role", "grace-ledger")
    witness = one(docs, "Role", "grace-ledger-witness")
    assert ledger["metadata"]["namespace"] == NS
    assert witness["metadata"]["namespace"] == f"{NS}-witness"
    assert ledger["rules"] == ledger_role(NS)["rules"]
    assert witness["rules"] == witness_role(f"{NS}-witness")["rules"]
    verbs = set(ledger["rules"][0]["verbs"]) | set(witness["rules"][0]["verbs"])
    assert not {"delete", "patch", "deletecollection"} & verbs, "a sealed segment could go"
    assert "update" not in witness["rules"][0]["verbs"], "a witnessed checkpoint could change"


def test_ledger_in_its_own_namespace_moves_the_roles_and_keeps_policy_out_of_reach() -> None:
    actual = grants(render({"ledger": {"namespace": "grace-ledger"}}), NS, SA)
    writable = {g.scope for g in actual if g.resource == "configmaps" and g.verb == "update"}
    assert writable == {"grace-ledger"}
    created = {g.scope for g in actual if g.resource == "configmaps" and g.verb == "create"}
    assert created == {"grace-ledger", "grace-ledger-witness"}


def test_bindings_name_only_the_charts_service_account() -> None:
    docs = render(release="ops", namespace="platform")
    sa = one(docs, "ServiceAccount")["metadata"]
    assert (sa["name"], sa["namespace"]) == ("ops-grace", "platform")
    for binding in of_kind(docs, "RoleBinding", "ClusterRoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "ops-grace", "namespace": "platform"}
        ]
    assert grants(docs, "platform", "ops-grace"), "the release's own ServiceAccount is bound"


def test_two_releases_do_not_share_cluster_scoped_names() -> None:
    a = {
        d["metadata"]["name"]
        for d in of_kind(render(namespace="a"), "ClusterRole", "ClusterRoleBinding")
    }
    b = {
        d["metadata"]["name"]
        for d in of_kind(render(namespace="b"), "ClusterRole", "ClusterRoleBinding")
    }
    operator_roles = {n for n in a if n.startswith("grace-") and n.endswith("-operator")}
    assert operator_roles and not operator_roles & b


def test_user_roles_and_admission_policy_ship_unbound_to_the_operator() -> None:
    docs = render()
    names = {d["metadata"]["name"] for d in of_kind(docs, "ClusterRole")}
    assert {"grace-viewer", "grace-approver"} <= names
    bound = {b["roleRef"]["name"] for b in of_kind(docs, "RoleBinding", "ClusterRoleBinding")}
    assert not {"grace-viewer", "grace-approver"} & bound
    policies = {d["metadata"]["name"] for d in of_kind(docs, "ValidatingAdmissionPolicy")}
    assert policies, "the ValidatingAdmissionPolicy ships with the chart"
