"""The images built here run on the real node as the chart runs them: uid 65532, read-only root."""

from __future__ import annotations

import json
from typing import Any

import pytest

from grace import __version__
from grace_lab.localcluster.node import RealNode
from tests.realnode.conftest import ON_NODE, BuiltImages, pod_phase, wait_for

INSIDE = """
import getpass, importlib.metadata, importlib.util, json, os, shutil
from pathlib import Path
from grace.govern.engines import EmbeddedEngine
from grace.govern.policy import PolicyBundle
engine = EmbeddedEngine(PolicyBundle.load(Path("/app/policies")))
probe = Path("/probe")
try:
    probe.write_text("x")
    writable = True
except OSError:
    writable = False
print(json.dumps({
    "uid": os.getuid(), "user": getpass.getuser(), "home": os.environ.get("HOME"),
    "policy_digest": engine.digest, "root_writable": writable,
    "pip": [p for p in ("pip", "pip3") if shutil.which(p)] + (
        ["pip module"] if importlib.util.find_spec("pip") else []),
    "ensurepip": importlib.util.find_spec("ensurepip") is not None,
    "compilers": [c for c in ("cc", "gcc", "clang", "g++", "make") if shutil.which(c)],
    "lab": [m for m in ("grace_lab", "grace.localcluster", "grace.sim", "grace.cli.demo_cmd")
            if importlib.util.find_spec(m)],
    "commands": [e.name for e in importlib.metadata.entry_points(group="grace.commands")],
}))
"""

RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def run_to_completion(
    core: Any, namespace: str, name: str, containers: list[dict[str, Any]]
) -> None:
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {
                **ON_NODE,
                "restartPolicy": "Never",
                "containers": [
                    {"imagePullPolicy": "Never", "securityContext": RESTRICTED, **c}
                    for c in containers
                ],
            },
        },
    )
    phase = wait_for(
        f"pod {name} to finish",
        lambda: (p := pod_phase(core, namespace, name)) in ("Succeeded", "Failed") and p,
        120,
    )
    if phase != "Succeeded":
        logs = {
            c["name"]: core.read_namespaced_pod_log(name, namespace, container=c["name"])
            for c in containers
        }
        pytest.fail(f"pod {name} {phase}: {logs}")


def test_operator_image_runs_as_the_chart_runs_it(
    real_node: RealNode, images: BuiltImages, core: Any, namespace: str
) -> None:
    run_to_completion(
        core,
        namespace,
        "operator-image",
        [
            {"name": "version", "image": images.operator, "args": ["--version"]},
            {"name": "inside", "image": images.operator, "command": ["python", "-c", INSIDE]},
        ],
    )
    # Logs come through the API server from the kubelet (client cert + webhook authz).
    version = core.read_namespaced_pod_log("operator-image", namespace, container="version")
    assert version.strip() == f"grace {__version__}"
    inside = json.loads(
        core.read_namespaced_pod_log("operator-image", namespace, container="inside")
    )
    assert inside["uid"] == 65532 and inside["user"] == "grace" and inside["home"] == "/home/grace"
    assert len(inside["policy_digest"]) >= 16, "the embedded policy engine did not compile"
    assert inside["root_writable"] is False
    assert inside["pip"] == [] and inside["ensurepip"] is False, inside
    assert inside["compilers"] == [], inside
    assert inside["lab"] == [] and inside["commands"] == [], "the lab is in the operator image"
    sizes = ", ".join(f"{n} {s / 1e6:.0f} MB" for n, s in images.sizes.items())
    print(f"\nimage sizes: {sizes}; build/import seconds: {images.seconds}")


def test_opa_and_shop_images_run(
    real_node: RealNode, images: BuiltImages, core: Any, namespace: str
) -> None:
    run_to_completion(
        core,
        namespace,
        "other-images",
        [
            {"name": "opa", "image": images.opa, "args": ["version"]},
            {
                "name": "shop",
                "image": images.shop["good"],
                "command": ["python3", "-c", "import runpy, sys; sys.argv=['x']; print('ok')"],
            },
        ],
    )
    opa = core.read_namespaced_pod_log("other-images", namespace, container="opa")
    assert "Version: 1.22.0" in opa
