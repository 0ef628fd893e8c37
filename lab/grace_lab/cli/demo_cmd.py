"""`grace demo`: GRACE's main job on a real local cluster, with a live timeline, cleaned up on exit.

A bad release of `checkout` drives it Critical; GRACE proposes a rollback, the policy asks a
human, alice approves with `kubectl grace approve`, the rollback runs and is verified against
real Prometheus metrics, and the signed ledger is verified at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from grace.cli.status_cmd import worst_signal

# The lab's modules are imported where they are used: `grace --help` registers this command
# without loading the local cluster.

REPO = Path(__file__).resolve().parents[3]
NS = "shop"
BAD_IMAGE = "registry.example/shop/checkout:1.4.3-bad"
CHAT_SECRET = "grace-demo-chat"
"""The real-node demo's apprise channel for the operator pods (channels carry tokens: a Secret)."""
T = TypeVar("T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run GRACE's main scenario on a real local cluster",
        description="A bad release, detected, approved by alice, rolled back, verified, and the "
        "ledger checked. On the current kube context when it is a test cluster (kind-*, or "
        "GRACE_TEST_CONTEXT), else on a local cluster started and stopped here.",
    )
    p.add_argument("--keep", action="store_true", help="leave everything running at the end")
    p.add_argument(
        "--local", action="store_true", help="always start the local cluster, whatever KUBECONFIG"
    )
    p.add_argument(
        "--kwok",
        action="store_true",
        help="simulated KWOK nodes even where a real node could run (root, overlayfs, ...)",
    )
    p.add_argument("--dir", type=Path, default=REPO / ".grace" / "demo")
    p.set_defaults(func=_demo)


@dataclass(frozen=True)
class Target:
    """The cluster the demo runs on, and how alice reaches it."""

    kubeconfig: str
    context: str
    local: bool

    def as_alice(self) -> list[str]:
        """kubectl flags acting as the ordinary user alice: her token context on the local
        cluster, impersonation elsewhere (kind has no such user)."""
        if self.local:
            return [f"--context={self.context}-alice"]
        return [f"--context={self.context}", "--as=alice", "--as-group=system:authenticated"]


def current_test_context() -> Target | None:
    """The current kube context, when it is a disposable test cluster (never anything else)."""
    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if not Path(kubeconfig.split(os.pathsep)[0]).is_file():
        return None
    from grace_lab.localcluster.cluster import is_test_context

    ok, _ = is_test_context(kubeconfig)
    if not ok:
        return None
    current = yaml.safe_load(Path(kubeconfig.split(os.pathsep)[0]).read_text())["current-context"]
    return Target(kubeconfig, str(current), local=False)


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def line(text: str) -> None:
    print(f"    {text}", flush=True)


def wait(
    what: str, probe: Callable[[], T | None], timeout: float, tick: Callable[[], None] | None = None
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        if tick:
            tick()
        time.sleep(0.5)
    raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f}s")


def fast(doc: dict[str, Any]) -> dict[str, Any]:
    """The shop's objects with demo-speed intervals (seconds instead of tens of seconds)."""
    spec = doc["spec"]
    if doc["kind"] == "HealthNode":
        spec["interval"] = "2s"
        for s in spec["signals"]:
            s["for"] = "4s"
            s["query"] = s["query"].replace("[1m]", "[15s]").replace("[5m]", "[30s]")
    if doc["kind"] == "Playbook":
        v = spec.setdefault("verify", {})
        v.update({"interval": "2s", "initialDelay": "16s", "timeout": "90s"})
        v["stableFor"] = "6s"
        for step in spec["steps"]:
            if step["action"] == "wait":
                step["with"]["duration"] = "3s"
    return doc


def _demo(args: argparse.Namespace) -> int:
    from grace.runtime.kube import Kube
    from grace_lab.localcluster.binaries import ensure_binaries
    from grace_lab.localcluster.cluster import CONTEXT, LocalCluster
    from grace_lab.localcluster.graceprocess import OperatorProcess
    from grace_lab.localcluster.install import (
        ensure_policy_configmap,
        grant,
        install_admission_policy,
        install_crds,
    )
    from grace_lab.localcluster.opa import OpaServer
    from grace_lab.localcluster.prometheus import PrometheusServer
    from grace_lab.sim import AlertWebhook, Scope, ShopExporter

    workdir: Path = args.dir
    workdir.mkdir(parents=True, exist_ok=True)  # a --dir that cannot be made fails first
    bins = ensure_binaries()
    target = None if args.local else current_test_context()
    with ExitStack() as cleanup:
        try:
            if target is None:
                from grace_lab.localcluster.node import unavailable_reason

                reason = "--kwok" if args.kwok else unavailable_reason()
                if reason is None:
                    return _real_node_demo(args, workdir, cleanup)
                say(
                    "1. a real control plane on 127.0.0.1 "
                    "(etcd, kube-apiserver, scheduler, KWOK nodes)"
                )
                line(f"no real node ({reason}): the shop is simulated on KWOK nodes")
                cluster = LocalCluster(workdir / "cluster")
                t0 = time.monotonic()
                cluster.up()
                if not args.keep:
                    cleanup.callback(cluster.down)
                line(f"up in {time.monotonic() - t0:.1f}s at {cluster.server}")
                target = Target(str(cluster.kubeconfig), CONTEXT, local=True)
            else:
                say(f"1. the current kube context {target.context!r}, a test cluster")
                line("its kubelets pull images: on kind run hack/kind-images.sh first")
            kube = Kube.connect(target.kubeconfig, target.context)
            api, core, apps, custom = kube.api_client, kube.core, kube.apps, kube.custom
            install_crds(api)
            if _exists(core.read_namespace, NS):
                if not target.local:
                    raise DemoError(f"namespace {NS!r} exists: the demo leaves what it finds alone")
            else:
                core.create_namespace({"metadata": {"name": NS}})
                if not target.local and not args.keep:
                    cleanup.callback(core.delete_namespace, NS)
            ensure_policy_configmap(api)
            install_admission_policy(api)  # who may approve is enforced by the API server
            grant(api, NS, "alice", "grace-approver")
            kubectl = [
                str(bins.kubectl),
                f"--kubeconfig={target.kubeconfig}",
                f"--context={target.context}",
            ]

            say("2. the shop: checkout -> payments-db, simulated by an exporter Prometheus scrapes")
            subprocess.run(
                [*kubectl, "-n", NS, "apply", "-f", str(REPO / "examples/shop/10-workloads.yaml")],
                check=True,
            )
            subprocess.run(
                [*kubectl, "-n", NS, "rollout", "status", "deployment/checkout", "--timeout=60s"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            exporter = cleanup.enter_context(ShopExporter(api, [Scope(NS)], seed=3))
            prom = cleanup.enter_context(PrometheusServer([exporter.address], scrape_interval=1))
            prom.wait_scraping()
            opa = cleanup.enter_context(OpaServer(REPO / "policies"))
            line(f"Prometheus {prom.url}, OPA {opa.url}, exporter {exporter.url}")

            say("3. GRACE: `grace run` with the OPA server as its policy engine")
            # A new ledger each run: the Learner rebuilds from it, and after a few earlier runs'
            # successes the policy would auto-approve, skipping the human step this demo shows.
            shutil.rmtree(workdir / "operator", ignore_errors=True)
            # The on-call's chat: a local JSON endpoint GRACE notifies through apprise.
            chat = cleanup.enter_context(AlertWebhook())
            (workdir / "operator").mkdir(parents=True)
            channels = workdir / "operator" / "channels.yaml"
            channels.write_text(f"chat: {chat.url.replace('http://', 'json://')}\n")
            operator = OperatorProcess(
                target.kubeconfig,
                prom.url,
                workdir / "operator",
                "--policy-engine=opa",
                f"--opa-url={opa.url}",
                "--namespace=shop",
                f"--notify-channels-file={channels}",
                "--notify-interval=1",
            )
            operator.start()
            cleanup.callback(operator.stop)
            line(f"operator pid {operator.proc.pid if operator.proc else '?'}, log {operator.log}")
            docs = [
                fast(d)
                for f in ("20-healthnodes.yaml", "30-playbooks.yaml")
                for d in yaml.safe_load_all((REPO / "examples/shop" / f).read_text())
                if d
            ]
            for doc in docs:
                plural = doc["kind"].lower() + "s"
                custom.create_namespaced_custom_object("grace.dev", "v1alpha1", NS, plural, doc)
            line(
                "HealthNodes checkout, payments-db and three Playbooks applied (demo-speed intervals)"
            )

            return _story(
                custom,
                kubectl,
                target,
                lambda: _set_image(apps, "checkout", BAD_IMAGE),
                operator.verify_ledger,
                chat,
            )
        except KeyboardInterrupt:
            print("\ninterrupted: cleaning up", file=sys.stderr)
            return 130
        except DemoError as e:
            say(f"demo FAILED: {e}")
            return 1
        finally:
            if not args.keep:
                say("stopping everything the demo started")
            elif (workdir / "cluster").is_dir():
                say(
                    "--keep: the cluster runs on (not the processes the demo ran beside it); stop it "
                    f"with `grace cluster --dir {workdir / 'cluster'} down`"
                )


def _real_node_demo(args: argparse.Namespace, workdir: Path, cleanup: ExitStack) -> int:
    """Steps 1-3 on a real node: the operator runs as pods from its own image, installed by
    its chart, and the shop is real containers serving real requests."""
    from kubernetes import client, config

    from grace_lab.localcluster import images
    from grace_lab.localcluster.binaries import ensure_binaries
    from grace_lab.localcluster.cluster import CONTEXT, LocalCluster
    from grace_lab.localcluster.install import grant, install_crds
    from grace_lab.localcluster.node import PodTargets
    from grace_lab.localcluster.prometheus import PrometheusServer
    from grace_lab.localcluster.release import (
        ChartRelease,
        ensure_namespaces,
        local_values,
        scenario_documents,
    )
    from grace_lab.sim import AlertWebhook

    say("1. a real control plane and a real node (kubelet, kube-proxy, containerd + runc)")
    cluster = LocalCluster(workdir / "cluster", nodes=1, real_node=True)
    t0 = time.monotonic()
    cluster.up()
    if not args.keep:
        cleanup.callback(cluster.down)
    node = cluster.real_node()
    for step, seconds in cluster.timings.items():
        line(f"{step}: {seconds:.1f}s")
    line(f"up in {time.monotonic() - t0:.1f}s: API {cluster.server}, node {node.name} Ready")
    target = Target(str(cluster.kubeconfig), CONTEXT, local=True)
    api = config.new_client_from_config(target.kubeconfig, context=CONTEXT)
    install_crds(api)
    core = client.CoreV1Api(api)
    kubectl = [str(ensure_binaries(verbose=False).kubectl), f"--kubeconfig={target.kubeconfig}"]

    say("2. images built here with buildah and imported into containerd (no registry)")
    t0 = time.monotonic()
    for name, (size, seconds) in images.build_all(node).items():
        line(f"{name}: {size / 1e6:.0f} MB" + (f", imported in {seconds:.1f}s" if seconds else ""))
    line(f"built and imported in {time.monotonic() - t0:.1f}s")

    say("3. GRACE installed by its chart: two replicas from that image, an OPA sidecar each")
    cleanup.enter_context(PodTargets(node))
    prom = cleanup.enter_context(
        PrometheusServer(
            job="prometheus",
            scrape_interval=1,
            scrape_configs=node.scrape_configs(),
            host=node.address,
        )
    )
    release = ChartRelease(target.kubeconfig, "grace", "grace-system")
    ensure_namespaces(api, [NS, release.namespace])
    # The on-call's chat, as on KWOK: a local JSON endpoint GRACE notifies through apprise. The
    # operator runs in pods here, so the endpoint listens on the node's address (as Prometheus
    # does) and the chart mounts the channel from a Secret (`notifications.channelsSecret`).
    chat = cleanup.enter_context(AlertWebhook(host=node.address))
    _apply_secret(
        core,
        release.namespace,
        CHAT_SECRET,
        {"channels.yaml": f"chat: {chat.url.replace('http://', 'json://')}\n"},
    )
    t0 = time.monotonic()
    release.install(
        {
            **local_values(prom.url, [NS]),
            "notifications": {"channelsSecret": CHAT_SECRET, "interval": 1},
        }
    )
    release.wait_ready(core, 2)
    grant(api, NS, "alice", "grace-approver")
    line(f"helm install -> two operator pods Ready in {time.monotonic() - t0:.1f}s")
    subprocess.run([*kubectl, "get", "pods", "-A", "-o", "wide"], check=True)
    columns = "NAME:.metadata.name,IMAGES:.spec.containers[*].image,IP:.status.podIP"
    subprocess.run(
        [*kubectl, "-n", release.namespace, "get", "pods", "-o", f"custom-columns={columns}"],
        check=True,
    )
    workloads, grace = scenario_documents("bad-release", NS)
    subprocess.run(
        [*kubectl, "-n", NS, "apply", "-f", "-"],
        input=yaml.safe_dump_all(workloads),
        text=True,
        check=True,
    )
    subprocess.run(
        [*kubectl, "-n", NS, "rollout", "status", "deployment/checkout", "--timeout=120s"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    line(f"the shop: checkout ({images.SHOP_IMAGE}) and a load generator, real containers")
    custom = client.CustomObjectsApi(api)
    for doc in grace:
        plural = doc["kind"].lower() + "s"
        custom.create_namespaced_custom_object("grace.dev", "v1alpha1", NS, plural, doc)
    line("HealthNode checkout (error rate its containers count) and Playbook rollback-bad-release")

    def verify_ledger() -> subprocess.CompletedProcess[str]:
        keys = workdir / "public.pem"
        keys.write_text(release.public_key(core))
        return subprocess.run(
            [
                *(sys.executable, "-m", "grace.cli.main", "ledger", "verify", "--from-cluster"),
                f"--ledger-namespace={release.namespace}",
                f"--public-key={keys}",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "KUBECONFIG": target.kubeconfig},
            check=False,
        )

    bad = f"{images.SHOP_IMAGE}:{images.SHOP_RELEASES['errors'][0]}"
    apps = client.AppsV1Api(api)
    code = _story(
        custom, kubectl, target, lambda: _set_image(apps, "checkout", bad), verify_ledger, chat
    )
    subprocess.run([*kubectl, "get", "pods", "-A", "-o", "wide"], check=False)
    return code


def _set_image(apps: Any, deployment: str, image: str) -> str:
    apps.patch_namespaced_deployment(
        deployment,
        NS,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}},
    )
    return f"{deployment}'s image becomes {image}"


def _story(
    custom: Any,
    kubectl: list[str],
    target: Target,
    release: Callable[[], str],
    verify_ledger: Callable[[], subprocess.CompletedProcess[str]],
    chat: Any = None,
) -> int:
    """Steps 4-8, the same on KWOK and on a real node: checkout Healthy, a bad release,
    the Mission, alice's approval (announced in `chat`, the on-call's channel, when there is
    one), the verified rollback, the ledger."""
    from grace.api.healthnode import HealthNode
    from grace.api.mission import Mission
    from grace_lab.localcluster.binaries import ensure_binaries

    bins = ensure_binaries(verbose=False)

    def node(name: str) -> HealthNode:
        raw = custom.get_namespaced_custom_object("grace.dev", "v1alpha1", NS, "healthnodes", name)
        return HealthNode.model_validate(raw)

    wait("checkout Healthy", lambda: node("checkout").status.phase.value == "Healthy", 60)
    line("checkout is Healthy")
    subprocess.run([*kubectl, "-n", NS, "get", "healthnodes"], check=True)

    say(f"4. a bad release: {release()}")
    seen: set[str] = set()

    def show_node() -> None:
        n = node("checkout")
        key = f"node:{n.status.phase.value}"
        if key not in seen:
            seen.add(key)
            worst = worst_signal(n)
            detail = ""
            if worst is not None and worst.value is not None:
                bound = f", threshold {worst.threshold}" if worst.threshold else ""
                detail = f" ({worst.name}={worst.value:.3f}{bound})"
            line(f"[checkout] {n.status.phase.value}{detail}")

    wait(
        "checkout Critical",
        lambda: node("checkout").status.phase.value == "Critical",
        90,
        show_node,
    )
    show_node()

    def mission() -> Mission | None:
        items = custom.list_namespaced_custom_object("grace.dev", "v1alpha1", NS, "missions")[
            "items"
        ]
        auto = [m for m in items if m["spec"].get("healthNode") == "checkout"]
        return Mission.model_validate(auto[0]) if auto else None

    def show_timeline() -> None:
        show_node()
        m = mission()
        if m is None:
            return
        for ev in m.status.timeline:
            key = f"{ev.time.isoformat()}:{ev.event}"
            if key not in seen:
                seen.add(key)
                line(f"[{m.metadata.name} {m.status.progress or ''}] {ev.event}: {ev.message}")

    say("5. GRACE proposes a Mission; the policy decides")
    m = wait("a Mission", mission, 60, show_timeline)

    def awaiting() -> Mission | None:
        x = mission()
        return x if x is not None and x.status.approval is not None else None

    def finished() -> Mission | None:
        x = mission()
        return x if x is not None and x.status.phase.value in _FINAL else None

    m = wait("the approval request", awaiting, 90, show_timeline)
    show_timeline()
    assert m.status.approval is not None
    request = m.status.approval.request
    if chat is not None:
        told = wait(
            "the approval request in the on-call's chat",
            lambda: [b for b in chat.notifications() if request in str(b.get("message"))],
            30,
            show_timeline,
        )
        line(f"[chat] {told[0].get('title', '')}")
        for text in str(told[0].get("message", "")).splitlines():
            line(f"[chat]   {text}")
    say(f"6. alice approves with `kubectl grace approve {request}`")
    env = {**os.environ, "KUBECONFIG": target.kubeconfig}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    approve = [
        str(bins.kubectl),
        "grace",
        "approve",
        request,
        "-n",
        NS,
        *target.as_alice(),
        "--reason=bad release confirmed, roll it back",
    ]
    line("$ " + " ".join(approve[1:]))
    subprocess.run(approve, check=True, env=env)

    say("7. the rollback runs and is verified against the real metrics")
    done = wait("the Mission to finish", finished, 240, show_timeline)
    show_timeline()
    line(f"Mission {done.metadata.name}: {done.status.phase.value} — {done.status.message}")
    if done.status.verification:
        for c in done.status.verification.checks:
            line(
                f"  check {c.signal}: expected {c.expected}, observed {c.observed}, passed={c.passed}"
            )
    wait(
        "checkout Healthy again",
        lambda: node("checkout").status.phase.value == "Healthy",
        90,
        show_node,
    )
    show_node()
    subprocess.run([*kubectl, "-n", NS, "get", "healthnodes,missions,approvalrequests"], check=True)

    say("8. the signed ledger: every decision and outcome, verified")
    result = verify_ledger()
    for out in (result.stdout + result.stderr).strip().splitlines():
        line(out)
    if result.returncode != 0 or done.status.phase.value != "Succeeded":
        say("demo FAILED")
        return 1
    say("demo finished: Mission Succeeded, ledger verified")
    return 0


class DemoError(Exception):
    """The demo cannot go on; said in one line."""


_FINAL = {"Succeeded", "Failed", "RolledBack", "Denied", "Expired", "TimedOut", "Aborted"}


def _apply_secret(core: Any, namespace: str, name: str, data: dict[str, str]) -> None:
    """Create the Secret, or replace what a demo kept running (`--keep`) left there."""
    body = {"metadata": {"name": name}, "stringData": data}
    if _exists(core.read_namespaced_secret, name, namespace):
        core.replace_namespaced_secret(name, namespace, body)
    else:
        core.create_namespaced_secret(namespace, body)


def _exists(read: Callable[..., Any], *args: Any) -> bool:
    from kubernetes import client

    try:
        read(*args)
        return True
    except client.ApiException as e:
        if e.status == 404:
            return False
        raise
