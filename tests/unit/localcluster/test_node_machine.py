"""Pure parts of the real node: comparing machine snapshots, certificates for its identities."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from grace_lab.localcluster.node import MachineState
from grace_lab.localcluster.pki import issue, make_pki


def test_a_machine_compared_with_itself_has_no_differences() -> None:
    state = MachineState(sysctls={"kernel.panic": "0"}, chains={"iptables/nat": ["POSTROUTING"]})
    assert state.differences(MachineState(**state.__dict__)) == []


def test_every_kind_of_leftover_is_named() -> None:
    before = MachineState(
        sysctls={"kernel.panic": "0"},
        chains={"iptables/nat": ["POSTROUTING"]},
        netns=[],
        mounts=["/"],
        cgroups=["memory"],
        links=["eth0", "lo"],
        paths={"/var/lib/cni": False},
    )
    after = MachineState(
        sysctls={"kernel.panic": "10"},
        chains={"iptables/nat": ["KUBE-SERVICES", "POSTROUTING"]},
        netns=["cni-1"],
        mounts=["/", "/run/netns/cni-1"],
        cgroups=["memory", "memory/grace-node"],
        links=["eth0", "grace0", "lo"],
        paths={"/var/lib/cni": True},
    )
    assert before.differences(after) == [
        "sysctls kernel.panic: '0' -> '10'",
        "chains iptables/nat: ['POSTROUTING'] -> ['KUBE-SERVICES', 'POSTROUTING']",
        "netns added: cni-1",
        "mounts added: /run/netns/cni-1",
        "cgroups added: memory/grace-node",
        "links added: grace0",
        "paths /var/lib/cni: False -> True",
    ]


def _sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in ext}


def test_the_api_server_certificate_follows_the_node_address(tmp_path: Path) -> None:
    make_pki(tmp_path)
    assert "192.0.2.7" not in _sans(tmp_path / "apiserver.crt")
    first = (tmp_path / "apiserver.crt").read_bytes()
    make_pki(tmp_path)
    assert (tmp_path / "apiserver.crt").read_bytes() == first, "unchanged SANs: kept"
    make_pki(tmp_path, node_ip="192.0.2.7")
    assert {"192.0.2.7", "127.0.0.1", "10.0.0.1", "kubernetes.default.svc"} <= _sans(
        tmp_path / "apiserver.crt"
    )


def test_a_client_certificate_names_the_user_and_groups(tmp_path: Path) -> None:
    make_pki(tmp_path)
    issue(tmp_path, "kubelet", "system:node:vm", ["system:nodes"])
    cert = x509.load_pem_x509_certificate((tmp_path / "kubelet.crt").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=system:node:vm,O=system:nodes"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
