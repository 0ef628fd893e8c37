"""Every `grace` command, given bad input, says one line naming the problem and exits 2 (usage)
or 1 (runtime): never a traceback. No cluster is needed: there is no kubeconfig, or one whose
API server refuses connections. The first case of each command runs `grace` as its own
process, as a user would (~1 s of imports each, run four at a time); the rest run `main()` in
this process, where an escaping exception fails the test just the same."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from grace.cli.main import main
from grace.ledger.keys import Signer
from grace_lab.localcluster.processes import free_port

REPO = Path(__file__).resolve().parents[3]
USAGE, FAILURE = 2, 1


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    code: int
    says: str
    """What the one line must contain: the flag, file or cause it is about."""
    kubeconfig: str = "missing"
    """missing: no kubeconfig at all; dead: one whose API server refuses connections."""

    @property
    def id(self) -> str:
        shown = " ".join(repr(a) if not a or " " in a else a for a in self.argv)
        return f"{shown} [{self.kubeconfig}]"

    def command(self, place: Place) -> list[str]:
        """argv with TMP/ the scratch directory, POLICIES the repo's, BUSY a port in use and
        CLOSED one nobody serves."""
        words = {"TMP/": f"{place.tmp}/", "POLICIES": str(REPO / "policies")}
        words |= {"BUSY": str(place.busy), "CLOSED": str(place.closed)}
        out = []
        for arg in self.argv:
            for word, value in words.items():
                arg = arg.replace(word, value)
            out.append(arg)
        return out


@dataclass(frozen=True)
class Place:
    """Where the cases run: files to point flags at, ports, kubeconfigs, the environment."""

    tmp: Path
    busy: int
    closed: int
    env: dict[str, str]

    def kubeconfig(self, case: Case) -> str:
        return str(self.tmp / f"{case.kubeconfig}-kubeconfig.yaml")


tmp = Path("TMP")
run_ok = ("run", "--policy-dir", "POLICIES", "--metrics-port", "0")

AS_PROCESS = [
    Case(("run", "--prometheus-url", "http://[::1"), USAGE, "--prometheus-url"),
    Case((*run_ok, "--signing-key", str(tmp / "public.pem")), FAILURE, "--signing-key: "),
    Case(run_ok, FAILURE, "cannot reach the API server at", "dead"),
    Case(("status",), FAILURE, "no kubeconfig at"),
    Case(("focus", "-A"), FAILURE, "no kubeconfig at"),
    Case(("missions",), FAILURE, "no kubeconfig at"),
    Case(("learning",), FAILURE, "no kubeconfig at"),
    Case(("approvals", "-A"), FAILURE, "cannot reach the API server", "dead"),
    Case(("approve", "checkout-1"), FAILURE, "no kubeconfig at"),
    Case(("deny", "checkout-1"), USAGE, "--reason"),
    Case(("stats", "--metrics-url", "not a url"), USAGE, "--metrics-url"),
    Case(("ledger", "show", str(tmp / "absent.jsonl")), USAGE, "absent.jsonl"),
    Case(("crds", "--write", str(tmp / "public.pem")), FAILURE, "public.pem"),
    Case(("demo", "--dir", str(tmp / "public.pem" / "demo")), FAILURE, "public.pem"),
    Case(("cluster", "up", "--nodes", "0"), USAGE, "--nodes"),
    Case(("launch",), USAGE, "invalid choice: 'launch'"),
]

IN_PROCESS = [
    # grace run: flags checked by OperatorConfig (usage, exit 2)
    *(
        Case(("run", "--prometheus-url", url), USAGE, "--prometheus-url")
        for url in ("not a url", "http://", "ftp://example.com", "")
    ),
    Case(("run", "--prometheus-url", "127.0.0.1:19090"), USAGE, "--prometheus-url"),
    Case(("run", "--opa-url", "opa:8181"), USAGE, "--opa-url"),
    Case(("run", "-n", "Shop_Team"), USAGE, "--namespace"),
    Case(("run", "--ledger-namespace", ""), USAGE, "--ledger-namespace"),
    Case(("run", "--metrics-port", "70000"), USAGE, "--metrics-port"),
    Case(("run", "--metrics-address", "not an address"), USAGE, "--metrics-address"),
    Case(("run", "--policy-engine", "rego"), USAGE, "--policy-engine"),
    Case(("run", "--mission-tick", "soon"), USAGE, "--mission-tick"),
    # grace run: what the flags point at (runtime, exit 1), local things before the cluster
    Case((*run_ok, "--signing-key", str(tmp / "garbage.pem")), FAILURE, "garbage.pem"),
    Case((*run_ok, "--signing-key", str(tmp / "absent.pem")), FAILURE, "absent.pem"),
    Case(("run", "--policy-dir", "TMP/", "--metrics-port", "0"), FAILURE, "--policy-dir"),
    Case(
        ("run", "--policy-dir", "POLICIES", "--metrics-address=127.0.0.1", "--metrics-port=BUSY"),
        FAILURE,
        "--metrics-port",
    ),
    Case(run_ok, FAILURE, "no kubeconfig at"),
    # the cluster readers
    *(
        Case(argv, FAILURE, "no kubeconfig at")
        for argv in (
            ("missions", "show", "checkout-1"),
            ("approvals",),
            ("status", "-n", "shop"),
            ("deny", "checkout-1", "--reason", "no"),
        )
    ),
    *(
        Case(argv, FAILURE, "cannot reach the API server", "dead")
        for argv in (("status", "-A"), ("missions", "-A"), ("approve", "checkout-1"))
    ),
    Case(("status", "--context", "prod"), FAILURE, "no context 'prod'", "dead"),
    Case(("focus", "--limit", "some"), USAGE, "--limit"),
    Case(("missions", "-o", "yaml"), USAGE, "--output"),
    Case(("approve",), USAGE, "NAME"),
    # the operator's metrics
    Case(("stats", "--timeout", "0"), USAGE, "--timeout"),
    Case(
        ("stats", "--metrics-url", "http://127.0.0.1:CLOSED/metrics"),
        FAILURE,
        "Connection refused",
    ),
    # the ledger: its own contract, 2 for anything that is not a verdict on the ledger
    Case(("ledger", "verify", "--public-key", str(tmp / "public.pem")), USAGE, "FILE"),
    Case(("ledger", "show", "--since", "yesterday", "x"), USAGE, "--since"),
    Case(("ledger", "export", "--from-cluster"), USAGE, "no kubeconfig at"),
    Case(("ledger", "keygen", "--previous", str(tmp / "absent.pem")), USAGE, "absent.pem"),
    # the rest
    Case(("cluster",), USAGE, "SUBCOMMAND"),
    Case((), USAGE, "COMMAND"),
]


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Place]:
    tmp = tmp_path_factory.mktemp("bad-input")
    (tmp / "public.pem").write_text(Signer.generate().public_pem())
    (tmp / "garbage.pem").write_text("not a key\n")
    (tmp / "dead-kubeconfig.yaml").write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        f"clusters: [{{name: dead, cluster: {{server: 'https://127.0.0.1:{free_port()}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: u}}]\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KUBERNETES_", "GRACE_", "KUBECONFIG"))
    }
    env["HOME"] = str(tmp)  # no ~/.kube/config
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield Place(tmp, busy.getsockname()[1], free_port(), env)


@pytest.fixture(scope="module")
def processes(place: Place) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every AS_PROCESS case, four at a time."""

    def grace(case: Case) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "grace.cli.main", *case.command(place)],
            capture_output=True,
            text=True,
            env={**place.env, "KUBECONFIG": place.kubeconfig(case)},
            timeout=120,
            check=False,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip([c.id for c in AS_PROCESS], pool.map(grace, AS_PROCESS), strict=True))


def one_line(case: Case, code: int, out: str, err: str) -> None:
    said = out + err
    assert "Traceback" not in said, said
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, said
    assert case.says in lines[0], lines[0]
    assert out == ""
    assert code == case.code, said


@pytest.mark.parametrize("case", AS_PROCESS, ids=lambda c: c.id)
def test_grace_as_a_process(
    case: Case, processes: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = processes[case.id]
    one_line(case, result.returncode, result.stdout, result.stderr)


@pytest.mark.parametrize("case", IN_PROCESS, ids=lambda c: c.id)
def test_grace_main(
    case: Case,
    place: Place,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in [k for k in os.environ if k not in place.env]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", place.env["HOME"])
    monkeypatch.setenv("KUBECONFIG", place.kubeconfig(case))
    try:
        code = main(case.command(place))
    except SystemExit as e:  # argparse's refusals
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    one_line(case, code, out, err)


def test_debug_shows_the_traceback(place: Place) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "grace.cli.main", "status", "--debug"],
        capture_output=True,
        text=True,
        env={**place.env, "KUBECONFIG": str(place.tmp / "missing-kubeconfig.yaml")},
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ClusterUnavailableError: no kubeconfig at" in result.stderr


def test_a_bug_is_one_line_too_and_says_how_to_see_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from grace.cli import crds_cmd

    def broken(args: object) -> int:
        raise KeyError("spec")

    monkeypatch.setattr(crds_cmd, "_crds", broken)
    assert main(["crds"]) == 1
    assert capsys.readouterr().err == (
        "grace crds: error: unexpected KeyError: 'spec' "
        "(a bug in grace: rerun with --debug and report the traceback)\n"
    )
    with pytest.raises(KeyError):
        main(["crds", "--debug"])


@pytest.mark.parametrize(
    ("failure", "line"),
    [
        (RuntimeError("etcd exited during start-up"), "etcd exited during start-up"),
        (
            subprocess.CalledProcessError(1, ["kubectl", "apply", "-f", "x.yaml"]),
            "`kubectl apply -f x.yaml` failed with exit code 1",
        ),
        (FileNotFoundError(2, "No such file or directory", "/x"), "/x: No such file or directory"),
    ],
)
def test_what_the_tools_around_grace_raise_reads_as_one_line(failure: Exception, line: str) -> None:
    from grace.cli.errors import explain

    said = explain(failure)
    assert (str(said), said.code) == (line, FAILURE)
