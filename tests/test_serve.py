"""`tui-gan serve`: a real job, a real server process, a real browser (headless Chromium over the
DevTools protocol), the token, the owner-only socket (tried by a second user) and bad input."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser import Browser, chromium
from factories import endless_config, write_finished_run
from waiting import wait_gone, wait_until

from tui_gan.cli import main
from tui_gan.jobs import registry
from tui_gan.jobs.client import query_status
from tui_gan.serve import ServeError, plan_listen

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("private_runtime")]
needs_chromium = pytest.mark.skipif(chromium() is None, reason="no chromium (apt-get install chromium)")
OTHER_USER = "tuigan-other"
SYSTEM_PYTHON = "/usr/bin/python3"


class Served:
    """A `tui-gan serve` process, stopped (and its viewers with it) at the end."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui_gan", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        while not self.lines or not self.lines[-1].startswith("each browser tab"):
            line = self.proc.stdout.readline()
            if not line:  # it ended: say why
                raise AssertionError("".join(self.lines) + self.proc.stderr.read())
            self.lines.append(line)
        self.url = re.search(r"http://\S+", "".join(self.lines)).group(0)
        self.token = self.url.split("token=")[1]

    def stop(self) -> None:
        """Ctrl-C, as a person stops it; the viewers it started end with it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err


@pytest.fixture
def job(tmp_path, jobs):
    return jobs(endless_config(tmp_path))


@pytest.fixture
def finished(tmp_path) -> Path:
    """A finished run's folder: what serve needs when no browser starts a viewer."""
    return write_finished_run(tmp_path / "runs" / "done", "mlp", seed=0, fd_start=300, fd_end=80, steps=200)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def viewers_of(job) -> list[int]:
    """The pids of the job's attach processes (a browser tab's viewer), by their command line."""
    out = subprocess.run(["pgrep", "-f", f"tui_gan attach {job.run_dir}"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


@needs_chromium
@pytest.mark.timeout(180)
def test_the_dashboard_in_a_browser_with_its_keys_and_the_token_then_read_only(tmp_path, job):
    served = Served(str(job.run_dir), "--port", str(free_port()))
    try:
        assert served.url.startswith("http://127.0.0.1:") and len(served.token) >= 16
        with pytest.raises(urllib.error.HTTPError) as refused:  # no token: 403, the app never starts
            urllib.request.urlopen(served.url.split("?")[0], timeout=10)
        assert refused.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as wrong:
            urllib.request.urlopen(served.url[:-3] + "xyz", timeout=10)
        assert wrong.value.code == 403

        async def browse() -> None:
            async with Browser(1200, 800) as browser:
                await browser.open(served.url)
                for panel in ("losses", "samples", "events", job.run_dir.name):
                    await browser.wait_for_text(panel, 60)
                await browser.click(600, 300)
                await asyncio.sleep(1)
                shown = len(browser.frames)
                await browser.press(" ")  # the same keys as in a terminal: space pauses the job
                await browser.wait_for_text("paused", 30, after=shown)
                wait_until(lambda: query_status(job)["state"] == "paused", "the job paused", 30)
                await browser.screenshot(tmp_path / "browser.png")
                assert browser.statuses[served.url] == 200
                ours = [code for url, code in browser.statuses.items() if url.startswith(served.url[:22])]
                assert set(ours) <= {200, 404}  # 404: the favicon there is none of
                assert viewers_of(job)  # the tab is a viewer process of its own
                served.stop()  # with the tab still open
                wait_until(lambda: not viewers_of(job), "the tab's viewer gone with the server", 30)

        asyncio.run(browse())
        assert (tmp_path / "browser.png").stat().st_size > 10_000
    finally:
        served.stop()
    assert registry.pid_alive(job.pid)  # serving, viewing and leaving never stop training
    read_only_viewer_cannot_change_the_run(job)


def read_only_viewer_cannot_change_the_run(job) -> None:
    served = Served(str(job.run_dir), "--port", str(free_port()), "--read-only")
    try:
        assert "(read-only)" in served.lines[0]

        async def browse() -> None:
            async with Browser(1200, 800) as browser:
                await browser.open(served.url)
                await browser.wait_for_text("read-only viewer", 60)
                await browser.click(600, 300)
                await asyncio.sleep(1)
                for key in " cab":  # resume, checkpoint, switch architecture, roll back
                    await browser.press(key)
                await asyncio.sleep(2)
                assert query_status(job)["state"] == "paused" and query_status(job)["arch"] == "simple"
                await browser.press("q")  # leaves the viewer, not the training
                wait_until(lambda: not viewers_of(job), "the viewer left on q", 30)

        asyncio.run(browse())
        assert query_status(job)["state"] == "paused"
        assert not list((Path(job.run_dir) / "checkpoints").rglob("step_*.pt"))  # c did nothing
    finally:
        served.stop()


@pytest.mark.timeout(120)
@pytest.mark.skipif(os.geteuid() != 0, reason="making a second user needs root")
@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason=f"no {SYSTEM_PYTHON} for the second user")
def test_the_socket_is_the_owners_only(tmp_path, finished, monkeypatch):
    """Served on the default Unix socket: the page with the token, 403 without, and a second
    local user cannot even connect (neither to the default socket nor to one in an open folder)."""
    if subprocess.run(["id", OTHER_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", OTHER_USER], check=True)
    other = pwd.getpwnam(OTHER_USER)
    open_folder = Path(tempfile.mkdtemp(prefix="tui-gan-serve-"))  # /tmp: others may pass through
    open_folder.chmod(0o755)
    monkeypatch.setenv("TUI_GAN_RUNTIME_DIR", str(open_folder / "rt"))
    for args in ((), ("--socket", str(open_folder / "here.sock"))):
        served = Served(str(finished), *args)
        try:
            path = Path(re.search(r" on (\S+\.sock) ", served.lines[0]).group(1))
            assert path.parent == (open_folder / "rt" if not args else open_folder)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert f"ssh -N -L 8000:{path} " in served.lines[1]
            assert served.url == f"http://localhost:8000/?token={served.token}"
            assert get_over_socket(path, "/") == 403
            assert get_over_socket(path, f"/?token={served.token}") == 200
            probe = "import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"
            tried = subprocess.run(
                [SYSTEM_PYTHON, "-c", probe, str(path)],  # ours may sit in a folder of root's
                user=other.pw_uid,
                group=other.pw_gid,
                capture_output=True,
                text=True,
            )
            assert tried.returncode != 0 and "PermissionError" in tried.stderr
        finally:
            served.stop()
        assert not path.exists()  # removed when serving stops


def get_over_socket(path: Path, target: str) -> int:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost:8000\r\nConnection: close\r\n\r\n".encode())
        return int(s.makefile("rb").readline().split()[1])


def serve_error(*args: str) -> str:
    """The one line `tui-gan serve ARGS` exits 2 with (run in this process: the same main())."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["serve", *args]) == 2
    assert out.getvalue() == ""
    (line,) = err.getvalue().splitlines()
    return line


def test_bad_input_is_one_line(tmp_path, finished):
    run = str(finished)
    assert "not a tui-gan run folder" in serve_error(str(tmp_path / "nowhere"), "--port", "1")
    assert "state a --token" in serve_error(run, "--host", "0.0.0.0", "--port", str(free_port()))
    assert "--token needs 16" in serve_error(run, "--port", str(free_port()), "--token", "short")
    assert "not a port" in serve_error(run, "--port", "70000")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert f"cannot listen on 127.0.0.1:{port}: it is in use" in serve_error(run, "--port", str(port))
    (tmp_path / "file").write_text("")
    line = serve_error(run, "--socket", str(tmp_path / "file" / "s.sock"))
    assert line.startswith(f"tui-gan: error: cannot listen on {tmp_path / 'file' / 's.sock'}: ")
    assert "does not go with --port" in serve_error(run, "--socket", "x.sock", "--port", "9")
    assert "give no RUN_DIR" in serve_error(run, "--runs")


def test_a_stated_token_serves_beyond_loopback(tmp_path, finished):
    listen = plan_listen(8123, "0.0.0.0", "a-long-enough-token-1234", None)
    assert (listen.host, listen.port, listen.token) == ("0.0.0.0", 8123, "a-long-enough-token-1234")
    assert plan_listen(None, None, None, None).socket.parent == registry.runtime_dir()
    with pytest.raises(ServeError):
        plan_listen(None, "10.1.2.3", None, None)
    port = free_port()
    runs = str(finished.parent)
    where = ("--host", "0.0.0.0", "--port", str(port), "--token", "t" * 20)
    served = Served("--runs", "--runs-dir", runs, *where)
    try:
        assert served.lines[0].startswith(f"warning: serving the workspace of {runs} on 0.0.0.0:{port}")
        assert served.token == "t" * 20
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={'t' * 20}", timeout=10)
        body = page.read().decode()
        assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in body  # from the request's Host
    finally:
        served.stop()
    wait_gone(served.proc.pid)
