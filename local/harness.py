"""The local AWS the demo, the browser test and the benchmarks run against: moto on a free
loopback port, `cargo lambda watch` serving the functions (and their URLs), and a request to a
function URL. No state of its own: every process it starts is returned to the caller."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
REGIONS = ["us-east-1", "eu-west-1"]
# moto's placeholder credentials; nothing here reaches AWS.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"demo: {what} did not come up within {timeout:.0f}s")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except Exception:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Background:
    """A process in its own process group, stopped with everything it started."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None):
        self.log = log
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_moto(work: Path, log: str) -> tuple[Background, str]:
    """moto_server on a free loopback port; returns it and its endpoint once it answers."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = Background([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], work / log)
    try:
        wait_until(lambda: answers(f"{endpoint}/moto-api/"), "moto")
    except BaseException:
        moto.stop()
        raise
    os.environ.update(FAKE_CREDENTIALS)
    return moto, endpoint


def dotenv_quote(value: str) -> str:
    """A value for an env file: single quotes keep JSON's double quotes as they are."""
    if "\n" in value or ("'" in value and '"' in value):
        raise ValueError(f"cannot write {value!r} to an env file")
    return f"'{value}'" if '"' in value else f'"{value}"'


def start_watch(work: Path, env: dict[str, str], log: str, extra: tuple[str, ...] = ()) -> tuple[Background, int]:
    """`cargo lambda watch` serving every function (and its URL) with `env` (`extra`: more
    watch options, such as --release); returns it and its port once it listens."""
    port = free_port()
    env_file = work / f"{log}.env"
    # Quoted: values such as ALLOWED_SIZES hold '=' signs.
    env_file.write_text("".join(f"{k}={dotenv_quote(v)}\n" for k, v in env.items()))
    watcher = Background(
        [str(BIN / "cargo-lambda"), "lambda", "watch", "--ignore-changes", "-A", "127.0.0.1",
         "-P", str(port), "--env-file", str(env_file), *extra],
        work / f"{log}.log",
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
    )
    try:
        wait_until(lambda: port_open(port), "cargo lambda watch")
    except BaseException:
        watcher.stop()
        raise
    return watcher, port


def url_request(url: str, method: str, body: bytes | None = None, content_type: str | None = None,
                secret: str | None = None, timeout: float = 120) -> tuple[bool, object]:
    """One request to a function URL: (True, (status, body)) for any HTTP answer."""
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("content-type", content_type)
    if secret is not None:
        req.add_header("x-fleetkeeper-secret", secret)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return True, (res.status, res.read().decode())
    except urllib.error.HTTPError as e:
        return True, (e.code, e.read().decode())
    except OSError as e:
        return False, str(e)
