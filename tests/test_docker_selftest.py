"""The Docker deployment built and run for real: docker/selftest.sh (image build, Compose stack,
/healthz, sign-up, a streamed answer, restart, teardown; see the script).

Skipped, with the reason, where no Docker engine is installed (dockerd not on PATH): the test
never installs one. Where it is installed but not running, the test starts it as these
machines need it (no iptables, no bridge, vfs storage) and stops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
SELFTEST = PROJECT_DIR / "docker" / "selftest.sh"
# A cold build compiles llama.cpp (about 25 minutes on two busy cores); a cached one takes
# seconds. The rest of the run takes a few minutes.
SELFTEST_TIMEOUT_SECONDS = 3600

pytestmark = pytest.mark.docker


def _engine_answers() -> bool:
    result = subprocess.run(["docker", "info"], capture_output=True, timeout=60, check=False)
    return result.returncode == 0


@pytest.fixture
def docker_engine(tmp_path: Path) -> Iterator[None]:
    """A running Docker engine: the one that runs, else dockerd started here (and stopped)."""
    if shutil.which("dockerd") is None:
        pytest.skip(
            "no Docker engine installed (dockerd not on PATH): install one (on Debian: "
            "apt-get install docker.io debootstrap) to run docker/selftest.sh"
        )
    if shutil.which("docker") is None:
        pytest.skip("dockerd is installed but no docker client is on PATH")
    if _engine_answers():
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("the Docker engine is not running, and only root can start dockerd")
    log_dir = PROJECT_DIR / "var"
    log_dir.mkdir(exist_ok=True)
    with (log_dir / "dockerd-selftest.log").open("ab") as log:
        dockerd = subprocess.Popen(
            ["dockerd", "--iptables=false", "--bridge=none", "--storage-driver=vfs"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _engine_answers():
            if dockerd.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dockerd did not start, see {log_dir / 'dockerd-selftest.log'}")
            time.sleep(1)
        yield
    finally:
        dockerd.terminate()
        try:
            dockerd.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dockerd.kill()
            dockerd.wait(timeout=30)


@pytest.mark.timeout(SELFTEST_TIMEOUT_SECONDS + 120)
def test_the_docker_stack_builds_runs_answers_and_keeps_the_conversation(
    docker_engine: None, tmp_path: Path
) -> None:
    output = tmp_path / "selftest.log"
    with output.open("w") as log:
        result = subprocess.run(
            ["bash", str(SELFTEST)],
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=SELFTEST_TIMEOUT_SECONDS,
            check=False,
        )
    text = output.read_text()
    print(text[-4000:])  # the numbers, shown with -s or -rA
    assert result.returncode == 0, text[-8000:]
    assert "PASSED" in text
    assert "compose up -> /healthz 200:" in text
