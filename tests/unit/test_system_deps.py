"""hack/system-deps.sh and hack/realnode-deps.sh, run for real with a fake apt-get: the first
run on a new machine passes.

The scripts' EXIT trap once returned 1 when /usr/sbin/policy-rc.d already existed, so the very
first `make test` / `make demo` on a fresh machine failed after installing everything (and the
real-node script, written later, copied the same trap). CI's machine already has the packages
and never runs that path; these tests always do. Both scripts share hack/lib/apt-install.sh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HACK = Path(__file__).resolve().parents[2] / "hack"
SCRIPTS = {
    "system-deps.sh": "prometheus prometheus-alertmanager lua5.4",
    "realnode-deps.sh": "containerd runc buildah debootstrap",
}
"""Each script, and a package its install line must name on a machine that has none of them."""
TOOLS = ("bash", "tee", "chmod", "rm", "id", "cat", "test", "grep", "dirname")
FAKE_APT = """#!/bin/bash
echo "$@" >> "$APT_LOG"
if [ "$1" = install ]; then
  [ -x "$POLICY" ] && echo "policy-rc.d present" >> "$APT_LOG"
  exit "${APT_INSTALL_EXIT:-0}"
fi
"""


def machine(tmp_path: Path, have: tuple[str, ...] = ()) -> tuple[Path, dict[str, str]]:
    """A PATH with only the basic tools, a fake apt-get, and fake binaries for `have`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    for name, text in (("apt-get", FAKE_APT), *((h, "#!/bin/sh\n") for h in have)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    policy = tmp_path / "policy-rc.d"
    env = {
        "PATH": str(bin_dir),
        "APT_LOG": str(tmp_path / "apt.log"),
        "POLICY": str(policy),
        "GRACE_POLICY_RC_D": str(policy),
        "HOME": str(tmp_path),
    }
    return policy, env


def run(env: dict[str, str], script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("bash") or "bash", str(HACK / script)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the scripts need root or sudo"),
    pytest.mark.parametrize("script", sorted(SCRIPTS)),
]


def test_an_existing_policy_rc_d_is_left_alone_and_the_run_succeeds(
    tmp_path: Path, script: str
) -> None:
    policy, env = machine(tmp_path)
    policy.write_text("#!/bin/sh\nexit 0\n")
    policy.chmod(0o755)
    done = run(env, script)
    assert done.returncode == 0, done.stderr
    assert policy.read_text() == "#!/bin/sh\nexit 0\n", "someone else's file is not touched"
    log = (tmp_path / "apt.log").read_text()
    [install] = [line for line in log.splitlines() if line.startswith("install")]
    assert install.startswith("install -y -q --no-install-recommends ")
    assert set(SCRIPTS[script].split()) <= set(install.split())


def test_a_policy_rc_d_it_creates_holds_services_during_install_and_goes_after(
    tmp_path: Path, script: str
) -> None:
    policy, env = machine(tmp_path)
    done = run(env, script)
    assert done.returncode == 0, done.stderr
    assert "policy-rc.d present" in (tmp_path / "apt.log").read_text()
    assert not policy.exists()


def test_nothing_missing_means_nothing_installed(tmp_path: Path, script: str) -> None:
    have = ("prometheus", "prometheus-alertmanager", "lua5.4", "containerd", "runc", "buildah")
    have += ("debootstrap", "iptables", "conntrack", "ip")
    _, env = machine(tmp_path, have=have)
    if script == "realnode-deps.sh" and not Path("/usr/lib/cni/bridge").exists():
        pytest.skip("this machine has no CNI plugins: the script would install them")
    done = run(env, script)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "apt.log").exists()


def test_a_failed_install_fails_the_script_and_still_cleans_up(tmp_path: Path, script: str) -> None:
    policy, env = machine(tmp_path)
    done = run({**env, "APT_INSTALL_EXIT": "100"}, script)
    assert done.returncode != 0
    assert not policy.exists()
