"""What a run records about its environment (env.json)."""

import json
import platform
import re
import shutil
import subprocess

import pytest
import torch

from netscale.training import env
from netscale.training.env import environment
from netscale.training.precision import bf16_capability
from netscale.version import __version__

KEYS = {
    "netscale",
    "torch",
    "python",
    "platform",
    "device",
    "device_name",
    "threads",
    "cpu_capability",
    "bf16_capability",
    "git_sha",
}


def test_records_versions_device_and_threads():
    device = torch.device("cpu")
    record = environment(device)
    assert set(record) == KEYS
    assert record["netscale"] == __version__ and record["torch"] == torch.__version__
    assert record["python"] == platform.python_version()
    assert record["device"] == "cpu" and record["threads"] == torch.get_num_threads()
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["bf16_capability"] == bf16_capability(device)[1]
    assert isinstance(record["device_name"], str) and record["device_name"]
    assert json.loads(json.dumps(record)) == record  # JSON-ready as it is


def test_threads_are_read_when_called():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert environment(torch.device("cpu"))["threads"] == 1
    finally:
        torch.set_num_threads(threads)


def test_git_sha_is_the_checkout_commit_or_none():
    sha = environment(torch.device("cpu"))["git_sha"]
    assert sha is None or re.fullmatch(r"[0-9a-f]{40}", sha)


def test_git_sha_names_the_netscale_checkout(monkeypatch):
    calls = []

    checkout = env.Path(env.__file__).resolve().parents[2]  # holds netscale/; not the cwd

    def fake_run(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, stdout=f"{checkout}\nabc123\n", stderr="")

    monkeypatch.setattr(env.subprocess, "run", fake_run)
    assert environment(torch.device("cpu"))["git_sha"] == "abc123"  # stripped
    (args,) = calls
    assert args[:2] == ["git", "-C"] and args[3:] == ["rev-parse", "--show-toplevel", "HEAD"]
    assert args[2] == str(checkout)


def test_no_git_gives_none(monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("git")

    def timeout(*args, **kwargs):
        raise subprocess.TimeoutExpired("git", 5)

    def not_a_repo(args, **kwargs):
        return subprocess.CompletedProcess(args, 128, stdout="", stderr="fatal: not a git repo")

    for fake in (missing, timeout, not_a_repo):
        monkeypatch.setattr(env.subprocess, "run", fake)
        assert environment(torch.device("cpu"))["git_sha"] is None, fake.__name__


def test_git_sha_is_none_when_netscale_is_not_a_checkout(tmp_path, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    project = tmp_path / "project"
    site = project / ".venv" / "lib" / "site-packages"
    (site / "netscale" / "training").mkdir(parents=True)
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (project / "README").write_text("a project that installs netscale in its venv\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    monkeypatch.setattr(env, "__file__", str(site / "netscale" / "training" / "env.py"))
    assert environment(torch.device("cpu"))["git_sha"] is None
