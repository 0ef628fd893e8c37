"""The suite never touches a cluster that is not a disposable test cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from grace_lab.localcluster.cluster import is_test_context


def _kubeconfig(tmp_path: Path, context: str) -> str:
    path = tmp_path / "config"
    path.write_text(
        f"apiVersion: v1\nkind: Config\ncurrent-context: {context}\ncontexts: []\n"
        "clusters: []\nusers: []\n"
    )
    return str(path)


def test_refuses_a_production_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRACE_TEST_CONTEXT", raising=False)
    ok, why = is_test_context(_kubeconfig(tmp_path, "prod-eu-1"))
    assert not ok
    assert "refusing" in why and "prod-eu-1" in why and "GRACE_TEST_CONTEXT" in why


@pytest.mark.parametrize("context", ["grace-local", "kind-kind", "kind-grace"])
def test_accepts_local_and_kind(tmp_path: Path, context: str) -> None:
    assert is_test_context(_kubeconfig(tmp_path, context))[0]


def test_explicit_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRACE_TEST_CONTEXT", "minikube")
    assert is_test_context(_kubeconfig(tmp_path, "minikube"))[0]
    assert not is_test_context(_kubeconfig(tmp_path, "prod"))[0]
