"""Ending a child process the sim started (the sim's subprocess, llama.cpp's server)."""

from __future__ import annotations

import subprocess


def terminate(proc: subprocess.Popen, grace_s: float, kill_wait_s: float) -> None:
    """SIGTERM (a clean shutdown), SIGKILL if it lingers past `grace_s`; nothing if it ended."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(kill_wait_s)
