"""charts/grace: lints, renders, refuses wrong values, and deploys what the operator expects."""

from __future__ import annotations

import argparse
import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from grace.api import crdgen
from grace.cli import run_cmd
from grace.govern.configmap import POLICY_CONFIGMAP, policy_data_from_configmap
from grace.govern.model import ChangeWindow, PolicyData
from grace.ledger import Signer
from grace.runtime import metrics
from tests.unit.chart.chart import (
    CHART,
    KUBE_VERSION,
    container,
    dashboard,
    of_kind,
    one,
    refusal,
    render,
    run_helm,
)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"networkPolicy": {"enabled": True}},
        {"networkPolicy": {"enabled": True, "scrapers": []}, "policy": {"engine": "embedded"}},
        {"ledger": {"backend": "file"}, "replicaCount": 1},
    ],
    ids=["default", "network-policy", "deny-all-embedded", "file-ledger"],
)
def test_helm_lint_strict_is_clean(values: dict[str, Any], tmp_path: Path) -> None:
    """`helm lint --strict` fails on warnings too (an unknown value, a template reading a key
    that is not set): what a user's CI runs before installing."""
    file = tmp_path / "values.json"
    file.write_text(json.dumps(values))
    done = run_helm(
        "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION, "--values", str(file)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout, done.stdout


def test_crds_ship_with_the_chart_as_generated() -> None:
    crds = of_kind(render(include_crds=True), "CustomResourceDefinition")
    assert sorted(c["metadata"]["name"] for c in crds) == sorted(
        f"{k.plural}.grace.dev" for k in crdgen.KINDS
    )
    assert all(
        c == crdgen.crd(k)
        for k in crdgen.KINDS
        for c in crds
        if c["spec"]["names"]["kind"] == k.kind
    )


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"replicaCount": 0}, "/replicaCount"),
        ({"ledger": {"backend": "sqlite"}}, "/ledger/backend"),
        ({"policy": {"engine": "cloud"}}, "/policy/engine"),
        ({"policy": {"config": {"maxConcurrentCluster": "many"}}}, "maxConcurrentCluster"),
        (
            {
                "policy": {
                    "config": {"changeWindows": [{"days": ["Mon"], "start": "9am", "end": "17:00"}]}
                }
            },
            "start",
        ),
        ({"policy": {"config": {"maxConcurency": 3}}}, "maxConcurency"),
        ({"watchNamespaces": "shop"}, "/watchNamespaces"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"operator": {"prometheusUrl": "prometheus:9090"}}, "/operator/prometheusUrl"),
        ({"operator": {"extraArgs": ["-v"]}}, "extraArgs"),
        ({"replicas": 2}, "replicas"),
        ({"networkPolicy": {"enable": True}}, "enable"),
        (
            {
                "networkPolicy": {
                    "scrapers": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]
                }
            },
            "/networkPolicy/scrapers/0",
        ),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else None,
)
def test_schema_refuses_wrong_values(values: dict[str, Any], complaint: str) -> None:
    error = refusal(values)
    assert "values don't meet the specifications of the schema" in error, error
    assert complaint in error, error


def test_file_ledger_with_two_replicas_is_refused() -> None:
    error = refusal({"ledger": {"backend": "file"}, "replicaCount": 2})
    assert "set replicaCount=1" in error


def _deployment(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return one(render(values), "Deployment")


def _grace_run(values: dict[str, Any] | None = None) -> argparse.Namespace:
    """The operator container's arguments, parsed by the real `grace run` parser."""
    args = container(_deployment(values), "operator")["args"]
    parser = argparse.ArgumentParser()
    run_cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(args)


def test_deployment_runs_grace_run_with_flags_it_knows() -> None:
    run = _grace_run()
    assert run.command == "run"
    assert run.operator_namespace == "grace-system"
    assert run.identity == "system:serviceaccount:grace-system:grace"
    assert (run.policy_engine, run.opa_url) == ("opa", "http://127.0.0.1:8181")
    assert (run.ledger_backend, run.ledger_namespace) == ("configmap", "grace-system")
    assert str(run.signing_key) == "/etc/grace/signing-key"
    assert str(run.policy_dir) == "/app/policies"
    assert run.namespaces == []


def test_two_replicas_by_default_elect_a_leader_and_spread() -> None:
    docs = render()
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert _grace_run().leader_elect
    env = {e["name"]: e for e in container(deployment, "operator")["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    pod = deployment["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector
    # kube-linter's pdb-unhealthy-pod-eviction-policy: with the default (IfHealthyBudget) an
    # unready replica counts against the budget, so one crash-looping replica blocks every drain.
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": selector},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


def test_one_replica_runs_without_election_or_disruption_budget() -> None:
    docs = render({"replicaCount": 1})
    assert not _grace_run({"replicaCount": 1}).leader_elect
    assert "affinity" not in one(docs, "Deployment")["spec"]["template"]["spec"]
    assert not of_kind(docs, "PodDisruptionBudget")


def test_watch_namespaces_reach_the_operator() -> None:
    run = _grace_run({"watchNamespaces": ["shop", "payments"]})
    assert run.namespaces == ["shop", "payments"]


def test_pod_is_non_root_read_only_and_bounded() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    every = [*pod.get("initContainers", []), *pod["containers"]]
    assert {c["name"] for c in every} == {"policies", "operator", "opa"}
    for c in every:
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][bound]), (c["name"], bound)
    for c in pod["containers"]:
        assert c["livenessProbe"] and c["readinessProbe"], c["name"]
    assert container(_deployment(), "operator")["startupProbe"]["httpGet"]["port"] == "metrics"


def test_opa_sidecar_answers_only_inside_the_pod() -> None:
    deployment = _deployment()
    opa = container(deployment, "opa")
    assert opa["image"] == "openpolicyagent/opa:1.22.0-static"
    assert "--addr=127.0.0.1:8181" in opa["args"], "the decision API is not for the network"
    assert opa["args"][-1] == "/policies" and "--ignore=*_test.rego" in opa["args"]
    assert opa["readinessProbe"]["httpGet"] == {"path": "/health", "port": "opa-diag"}
    assert [p["containerPort"] for p in opa["ports"]] == [8282]
    init = container(deployment, "policies")
    assert init["command"] == ["cp", "-R", "/app/policies/.", "/policies/"], "the image's policies"
    assert "opa" not in {
        c["name"]
        for c in _deployment({"policy": {"engine": "embedded"}})["spec"]["template"]["spec"][
            "containers"
        ]
    }
    assert _grace_run({"policy": {"engine": "embedded"}}).policy_engine == "embedded"


def test_generated_signing_key_is_one_the_operator_loads() -> None:
    secret = one(render(), "Secret", "grace-ledger-key")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    signer = Signer.from_pem(base64.b64decode(secret["data"]["private.pem"]))
    assert len(signer.key_id) == 16
    volumes = {v["name"]: v for v in _deployment()["spec"]["template"]["spec"]["volumes"]}
    assert volumes["signing-key"]["secret"]["secretName"] == "grace-ledger-key"


def test_an_existing_key_secret_is_used_not_generated() -> None:
    docs = render({"signingKey": {"create": False, "secretName": "ledger-key-2026"}})
    assert not of_kind(docs, "Secret")
    volumes = {v["name"]: v for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["signing-key"]["secret"]["secretName"] == "ledger-key-2026"


def test_policy_configmap_is_what_the_operator_parses() -> None:
    config = {
        "changeWindows": [
            {"days": ["Mon", "Tue"], "start": "08:00", "end": "18:00", "timezone": "Europe/Paris"}
        ],
        "protectedNamespaces": ["kube-system", "payments"],
        "maxConcurrentPerNamespace": 2,
        "maxConcurrentCluster": 7,
        "maxPerNamespacePerHour": 9,
    }
    cm = one(render({"policy": {"config": config}}), "ConfigMap", POLICY_CONFIGMAP)
    assert cm["metadata"]["namespace"] == "grace-system"
    data = policy_data_from_configmap(cm["data"])
    assert data.change_windows == [
        ChangeWindow(days=["Mon", "Tue"], start="08:00", end="18:00", timezone="Europe/Paris")
    ]
    assert data.protected_namespaces == ["kube-system", "payments"]
    assert (
        data.max_concurrent_per_namespace,
        data.max_concurrent_cluster,
        data.max_per_namespace_per_hour,
    ) == (2, 7, 9)


def test_policy_configmap_without_config_has_empty_data_not_null() -> None:
    """`data:` with nothing under it is null: Polaris rated the ConfigMap "danger" for it, and a
    client that reads `.data` as a map breaks. The policy's defaults then apply."""
    cm = one(render(), "ConfigMap", POLICY_CONFIGMAP)
    assert cm["data"] == {}, cm
    assert policy_data_from_configmap(cm["data"]) == PolicyData()


def test_configmap_ledger_gets_a_witness_namespace_kept_on_uninstall() -> None:
    ns = one(render(), "Namespace")
    assert ns["metadata"]["name"] == "grace-system-witness"
    assert ns["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert ns["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Prune=false"
    assert not of_kind(render(), "PersistentVolumeClaim")


def test_file_ledger_lives_on_a_kept_volume() -> None:
    docs = render(
        {"ledger": {"backend": "file", "persistence": {"size": "5Gi"}}, "replicaCount": 1}
    )
    pvc = one(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["strategy"]["type"] == "Recreate", "never two writers of the file"
    operator = container(deployment, "operator")
    mount = next(m for m in operator["volumeMounts"] if m["name"] == "ledger")
    run = _grace_run({"ledger": {"backend": "file"}, "replicaCount": 1})
    assert str(run.ledger_path).startswith(mount["mountPath"] + "/")
    assert not of_kind(docs, "Namespace")


def test_service_monitor_scrapes_the_metrics_port() -> None:
    assert not of_kind(render(), "ServiceMonitor")
    docs = render({"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}})
    monitor, service = one(docs, "ServiceMonitor"), one(docs, "Service")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_network_policy_is_offered_not_imposed() -> None:
    """Off by default: a policy that does not match where Prometheus runs stops the scrapes."""
    assert not of_kind(render(), "NetworkPolicy")


def test_network_policy_lets_only_the_scrapers_reach_metrics_and_opa() -> None:
    docs = render({"networkPolicy": {"enabled": True}})
    policy, deployment = one(docs, "NetworkPolicy"), one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    # Named ports: each must be one the pod declares, or the rule admits nothing.
    declared = {
        p["name"]: p["protocol"]
        for c in deployment["spec"]["template"]["spec"]["containers"]
        for p in c.get("ports", [])
    }
    allowed = {p["port"]: p["protocol"] for p in rule["ports"]}
    assert allowed == declared == {"metrics": "TCP", "opa-diag": "TCP"}


def test_network_policy_without_opa_or_scrapers() -> None:
    embedded = render({"networkPolicy": {"enabled": True}, "policy": {"engine": "embedded"}})
    (rule,) = one(embedded, "NetworkPolicy")["spec"]["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
    (rule,) = one(
        render({"networkPolicy": {"enabled": True, "scrapers": [peer]}}), "NetworkPolicy"
    )["spec"]["ingress"]
    assert rule["from"] == [peer]
    # An ingress rule without `from` admits everyone: no scrapers must mean no rule at all.
    closed = one(render({"networkPolicy": {"enabled": True, "scrapers": []}}), "NetworkPolicy")
    assert closed["spec"]["ingress"] == []
    assert closed["spec"]["policyTypes"] == ["Ingress"]


def _operator_metric_names() -> set[str]:
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names.update(_sample_names(family.name, family.type))
    return names


def _sample_names(name: str, kind: str) -> list[str]:
    if kind == "counter":
        return [f"{name}_total"]
    if kind == "histogram":
        return [f"{name}_bucket", f"{name}_sum", f"{name}_count"]
    return [name]


def test_dashboard_queries_only_metrics_the_operator_exports() -> None:
    board = dashboard()
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bgrace_[a-z_]+", e)}
    exported = _operator_metric_names()
    assert used and used <= exported, f"not exported by grace.runtime.metrics: {used - exported}"


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    panels = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in dashboard()["panels"]}
    wanted = {
        "Missions by outcome": "grace_missions_total",
        "Time to recovery": "grace_time_to_recovery_seconds_bucket",
        "Approvals pending": "grace_approvals_pending",
        "Policy decisions": "grace_policy_decisions_total",
        "Ledger size": "grace_ledger_entries",
    }
    for title, metric in wanted.items():
        assert metric in panels.get(title, ""), title


def _matchers(selector: str) -> set[str]:
    return {m.replace(" ", "") for m in re.findall(r'\w+\s*=~?\s*"[^"]*"', selector)}


def test_dashboard_shows_one_install_at_a_time_and_is_read_only() -> None:
    """Two installs scraped by one Prometheus must not add up: every metric in every panel is
    narrowed to the install picked in the namespace and job variables (one value each, no All),
    which the chart's ServiceMonitor sets as target labels. Provisioned, so not editable."""
    board = dashboard()
    assert board["editable"] is False
    variables = {v["name"]: v for v in board["templating"]["list"]}
    exported = _operator_metric_names()
    for name, scope in (("namespace", set()), ("job", {'namespace="$namespace"'})):
        variable = variables[name]
        assert variable["type"] == "query" and not variable["multi"], name
        assert not variable["includeAll"], name
        query = variable["query"]["query"]
        found = re.fullmatch(rf"label_values\((grace_[a-z_]+)(\{{.*\}})?, {name}\)", query)
        assert found, query
        metric, selector = found.groups()
        assert metric in exported, metric
        assert _matchers(selector or "") == scope, name
    install = {'namespace="$namespace"', 'job="$job"'}
    queries = [t["expr"] for p in board["panels"] for t in p["targets"]]
    for expr in queries:
        selectors = re.findall(r"\bgrace_[a-z_]+(\{[^}]*\})?", expr)
        assert selectors, expr
        for selector in selectors:
            assert install <= _matchers(selector), expr


def test_values_file_documents_every_top_level_key_in_the_schema() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(values) <= set(schema["properties"])
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(("release", "namespace"), [("grace", "grace-system"), ("ops", "platform")])
def test_admission_policy_exempts_exactly_the_operators_own_identity(
    release: str, namespace: str
) -> None:
    """Automatic Missions are requested by `grace run --identity`: the requester policy must
    let that user through under any release name and namespace, and no other ServiceAccount."""
    docs = render(release=release, namespace=namespace)
    args = container(one(docs, "Deployment"), "operator")["args"]
    identity = next(a.split("=", 1)[1] for a in args if a.startswith("--identity="))
    policy = one(docs, "ValidatingAdmissionPolicy", "grace-mission-requester")
    operator = next(v for v in policy["spec"]["variables"] if v["name"] == "operator")
    quoted = re.findall(r"'([^']*)'", operator["expression"])
    assert quoted == [identity, "system:masters"]
    assert identity.startswith(f"system:serviceaccount:{namespace}:")
