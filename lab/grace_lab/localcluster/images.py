"""Container images built on this machine with buildah (no registry, no daemon), run by the node.

The operator image comes from the project's Dockerfile with its base image as a build argument:
here a Debian bookworm + python3 base made with debootstrap and cached (`~/.cache/grace`),
elsewhere the pinned public base. Images reach containerd as docker archives (`ctr images
import`); pods name them by tags that are never pulled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from grace_lab.localcluster.binaries import OPA_VERSION, cache_dir

if TYPE_CHECKING:
    from grace_lab.localcluster.node import RealNode

REPO = Path(__file__).resolve().parents[3]
BASE_IMAGE = "localhost/grace-base:bookworm"
OPERATOR_IMAGE = "localhost/grace:dev"
PAUSE_IMAGE = "localhost/pause:grace"
OPA_IMAGE = f"localhost/opa:{OPA_VERSION.lstrip('v')}-static"
SHOP_IMAGE = "localhost/grace-shop"
SHOP_CONTEXT = REPO / "examples" / "realnode" / "shop"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates", "libatomic1")
"""libatomic1: the embedded policy engine (regopy) links libatomic.so.1."""
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_CONTEXT = ("Dockerfile", ".dockerignore", "pyproject.toml", "constraints.txt", "README.md")
IMAGE_CONTEXT_DIRS = ("operator", "policies")


def _storage() -> dict[str, str]:
    """buildah's environment: its own storage in the cache, chroot isolation (no daemon)."""
    root = cache_dir() / "buildah"
    conf = root / "storage.conf"
    if not conf.exists():
        root.mkdir(parents=True, exist_ok=True)
        conf.write_text(
            f'[storage]\ndriver = "overlay"\nrunroot = "{root / "run"}"\n'
            f'graphroot = "{root / "storage"}"\n'
        )
    return {
        **os.environ,
        "CONTAINERS_STORAGE_CONF": str(conf),
        "BUILDAH_ISOLATION": "chroot",
    }


def buildah(*args: str, timeout: float = 900) -> str:
    done = subprocess.run(
        ["buildah", *args],
        capture_output=True,
        text=True,
        env=_storage(),
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"buildah {args[0]} failed:\n{tail}")
    return done.stdout.strip()


def image_id(name: str) -> str | None:
    """buildah's id of a local image, None when it does not exist."""
    try:
        out = buildah("images", "--noheading", "--no-trunc", "--format", "{{.ID}}", name)
    except RuntimeError:
        return None
    return out.split()[0] if out else None


def image_size(name: str) -> int:
    """Bytes the image takes uncompressed (buildah's figure, in decimal units)."""
    listed = json.loads(buildah("images", "--json", name))
    number, unit = str(listed[0]["size"]).split()
    scale = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9}[unit]
    return int(float(number) * scale)


def _mirror() -> str:
    """The Debian mirror apt uses on this machine (debootstrap fetches from it too)."""
    listed = Path("/etc/apt/sources.list.d").glob("*")
    sources = [
        Path("/etc/apt/sources.list"),
        *sorted(p for p in listed if p.suffix in (".list", ".sources")),
    ]
    for path in sources:
        if path.is_file():
            for m in re.finditer(
                r"^(?:deb|URIs:)\s+(?:\[[^]]*\]\s+)?(\S+)", path.read_text(), flags=re.M
            ):
                if m.group(1).rstrip("/").endswith("/debian"):
                    return m.group(1)
    return "http://deb.debian.org/debian"


def ensure_base_image() -> str:
    """Debian bookworm minbase + python3 (debootstrap, ~40 s once), kept in buildah's storage."""
    if image_id(BASE_IMAGE):
        return BASE_IMAGE
    with tempfile.TemporaryDirectory(prefix="grace-rootfs-", dir=cache_dir()) as tmp:
        rootfs = Path(tmp) / "rootfs"
        done = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                "bookworm",
                str(rootfs),
                _mirror(),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"debootstrap failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (rootfs / junk).glob("*"):
                if f.is_file():
                    f.unlink()
        container = buildah("from", "scratch")
        try:
            buildah("copy", container, str(rootfs), "/")
            buildah(
                "config",
                "--cmd",
                '["python3"]',
                "--env",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env",
                "LANG=C.UTF-8",
                container,
            )
            buildah("commit", "--quiet", "--format", "docker", container, BASE_IMAGE)
        finally:
            buildah("rm", container)
    return BASE_IMAGE


def ensure_pause_image(node: RealNode, pause_binary: Path) -> None:
    """The sandbox image: a static pause program on an empty filesystem."""
    if not image_id(PAUSE_IMAGE):
        _binary_image(pause_binary, "/pause", "65535:65535", PAUSE_IMAGE)
    import_image(node, PAUSE_IMAGE)


def _binary_image(binary: Path, path: str, user: str, tag: str) -> None:
    """An image of one static binary on an empty filesystem, run as `user`."""
    container = buildah("from", "scratch")
    try:
        buildah("copy", container, str(binary), path)
        buildah("config", "--entrypoint", json.dumps([path]), "--user", user, container)
        buildah("commit", "--quiet", "--format", "docker", container, tag)
    finally:
        buildah("rm", container)


def _context() -> Path:
    """A clean build context: only what .dockerignore lets in (never .venv or .grace)."""
    ctx = cache_dir() / "build-context" / re.sub(r"\W", "_", str(REPO))
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir(parents=True)
    for name in IMAGE_CONTEXT:
        shutil.copy2(REPO / name, ctx / name)
    for name in IMAGE_CONTEXT_DIRS:
        shutil.copytree(
            REPO / name,
            ctx / name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )
    return ctx


def build_operator_image(base: str | None = None, tag: str = OPERATOR_IMAGE) -> str:
    """`buildah bud` of the project's Dockerfile (layers cached: unchanged code rebuilds in
    seconds). RUN steps see the host's CA bundle: outbound TLS may be intercepted here."""
    args = ["bud", "--layers", "--format", "docker", "--isolation", "chroot", "-t", tag]
    if base:
        args += ["--build-arg", f"PYTHON_IMAGE={base}"]
    if HOST_CA_BUNDLE.exists():
        args += ["-v", f"{HOST_CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt:ro"]
    buildah(*args, str(_context()))
    return tag


def build_opa_image(opa_binary: Path, tag: str = OPA_IMAGE) -> str:
    """The OPA sidecar: the static binary built from its module, alone on an empty filesystem."""
    marker = cache_dir() / "buildah" / "opa-image.source"
    source = f"{opa_binary}:{opa_binary.stat().st_mtime_ns}"
    if image_id(tag) and marker.exists() and marker.read_text() == source:
        return tag
    _binary_image(opa_binary, "/opa", "65532:65532", tag)
    marker.write_text(source)
    return tag


def _label(name: str, key: str) -> str | None:
    if image_id(name) is None:
        return None
    labels = json.loads(buildah("inspect", "--type", "image", name))["OCIv1"]["config"]
    return (labels.get("Labels") or {}).get(key)


def build_shop_images(base: str, versions: Sequence[tuple[str, str]]) -> list[str]:
    """The real shop's images: one per (tag, fault) built from examples/realnode/shop.

    No layer cache: buildah 1.28 reuses an ENV layer whatever its build argument, which would
    make every release the same image. A label with the inputs' digest skips unchanged ones."""
    tags = []
    sources = b"".join(p.read_bytes() for p in sorted(SHOP_CONTEXT.iterdir()) if p.is_file())
    for tag, fault in versions:
        name = f"{SHOP_IMAGE}:{tag}"
        digest = hashlib.sha256(sources + f"{image_id(base)}:{fault}".encode()).hexdigest()
        if _label(name, "dev.grace.source") != digest:
            buildah(
                "bud",
                "--no-cache",
                "--format",
                "docker",
                "--isolation",
                "chroot",
                "--build-arg",
                f"BASE={base}",
                "--build-arg",
                f"SHOP_FAULT={fault}",
                "--label",
                f"dev.grace.source={digest}",
                "-t",
                name,
                str(SHOP_CONTEXT),
            )
        tags.append(name)
    return tags


def import_image(node: RealNode, name: str) -> float:
    """Put a buildah image into the node's containerd (skipped when that id is already there);
    returns the seconds it took."""
    wanted = image_id(name)
    if wanted is None:
        raise RuntimeError(f"no local image {name}")
    marker = node.dir / "containerd" / "imported.json"
    imported = json.loads(marker.read_text()) if marker.exists() else {}
    if imported.get(name) == wanted and name in node.ctr("images", "ls", "-q"):
        return 0.0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grace-image-", dir=cache_dir()) as tmp:
        archive = Path(tmp) / "image.tar"
        buildah("push", "--quiet", name, f"docker-archive:{archive}:{name}")
        node.ctr("images", "import", str(archive))
    imported[name] = wanted
    marker.write_text(json.dumps(imported, indent=2))
    return time.monotonic() - t0


SHOP_RELEASES = {
    "good": ("1.0", ""),
    "errors": ("1.1-errors", "errors"),
    "crash": ("1.2-crash", "crash"),
}
"""The shop's releases: a good one and the bad ones the scenarios roll out."""


def build_all(node: RealNode | None = None) -> dict[str, tuple[int, float]]:
    """Build the operator, OPA and shop images (and import them into `node` when given);
    returns each image's size in bytes and the seconds its import took."""
    from grace_lab.localcluster.binaries import ensure_binaries

    base = ensure_base_image()
    names = [
        build_operator_image(base),
        build_opa_image(ensure_binaries(verbose=False).opa),
        *build_shop_images(base, list(SHOP_RELEASES.values())),
    ]
    return {n: (image_size(n), import_image(node, n) if node else 0.0) for n in names}
