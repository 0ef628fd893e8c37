"""examples/realnode as the tests and the demo run them: same objects, faster, on the real node."""

from __future__ import annotations

import pytest

from grace.api.healthnode import HealthNode
from grace.api.playbook import Playbook
from grace_lab.localcluster.node import NODE_LABEL
from grace_lab.localcluster.release import SCENARIOS, scenario_documents

FOLDERS = sorted(p.name for p in SCENARIOS.iterdir() if (p / "20-grace.yaml").exists())


def test_there_are_four_scenarios() -> None:
    assert FOLDERS == ["bad-release", "crashloop", "oom", "unready"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_a_scenario_runs_in_its_namespace_fast_and_on_the_real_node(folder: str) -> None:
    workloads, grace = scenario_documents(folder, "rn-x")
    nodes = [HealthNode.model_validate(d) for d in grace if d["kind"] == "HealthNode"]
    playbooks = [Playbook.model_validate(d) for d in grace if d["kind"] == "Playbook"]
    assert len(nodes) == 1 and len(playbooks) == 1
    for signal in nodes[0].spec.signals:
        assert signal.query is not None
        assert 'namespace="rn-x"' in signal.query and 'namespace="shop"' not in signal.query
        assert "[1m]" not in signal.query
    deployments = [d for d in workloads if d["kind"] == "Deployment"]
    assert deployments
    for dep in deployments:
        pod = dep["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {NODE_LABEL: "true"}
        assert pod["tolerations"][0]["key"] == NODE_LABEL
    assert playbooks[0].spec.cooldown is not None
