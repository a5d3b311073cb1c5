"""HAProxy's admin socket (mode 666, `level admin`) and files live in a 0700 folder of the
data dir, under the variable names the installed Ray reads."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import ray_head
from cluster.state import StackError


@pytest.fixture
def short() -> Iterator[Path]:
    """A folder with a path short enough for sockets (pytest's tmp_path is not)."""
    path = Path(tempfile.mkdtemp(prefix="srh", dir="/tmp"))
    yield path
    shutil.rmtree(path)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_haproxy_file_is_in_a_private_folder_of_the_data_dir(short: Path) -> None:
    home = short / "h"
    paths = ray_head.haproxy_paths(home)
    folder = home / "haproxy"
    assert _mode(folder) == 0o700
    assert set(paths) == {
        "RAY_SERVE_HAPROXY_SOCKET_PATH", "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC",
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE", "RAY_SERVE_HAPROXY_SERVER_STATE_FILE",
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH",
    }  # fmt: skip
    for value in paths.values():
        assert Path(value) == folder or Path(value).parent == folder
    folder.chmod(0o755)  # loosened by hand: the next `up` tightens it again
    ray_head.haproxy_paths(home)
    assert _mode(folder) == 0o700


def test_the_installed_ray_reads_these_variables(short: Path) -> None:
    paths = ray_head.haproxy_paths(short / "h")
    names = list(paths)
    code = (
        "import json; from ray.serve._private import constants as c; "
        f"print(json.dumps({{n: getattr(c, n) for n in {names!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **paths}, capture_output=True,
        text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout.strip().splitlines()[-1]) == paths


def test_a_deep_data_dir_gets_a_private_temp_folder(tmp_path: Path) -> None:
    home = tmp_path / ("d" * 80)
    folder = ray_head.haproxy_dir(home)
    try:
        assert folder.name.startswith(f"stockray-{os.getuid()}-") and _mode(folder) == 0o700
        sock = folder / ("x" * ray_head.RAY_NODE_ID_LEN) / "metrics.sock"
        assert len(str(sock)) <= ray_head.SOCKET_PATH_MAX
        assert ray_head.haproxy_dir(home) == folder  # the same folder on the next `up`
    finally:
        folder.rmdir()


def test_a_symlink_in_its_place_is_refused(short: Path) -> None:
    home = short / "h"
    home.mkdir()
    elsewhere = short / "elsewhere"
    elsewhere.mkdir()
    (home / "haproxy").symlink_to(elsewhere)
    with pytest.raises(StackError, match="not a folder of this user"):
        ray_head.haproxy_dir(home)
