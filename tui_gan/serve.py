"""`tui-gan serve`: the dashboard (or the workspace) in a web browser, through textual-serve.

Each browser tab runs its own `tui-gan attach` (or `runs`) process under Textual's web driver:
one more viewer of the job, with the same keys (none that change a run with --read-only).

Safe by default on a shared GPU server: the server listens on a Unix socket in the owner-only
runtime folder, which OpenSSH forwards to a laptop's port (`ssh -L 8000:SOCKET host`); with
--port it listens on loopback only. Either way every request carries a token: the printed
URL's ?token=, then a same-site cookie the first page sets (the page's scripts, styles and
websocket have no query of their own). Without it: 403."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

from tui_gan.errors import TuiGanError

TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{16,}")  # long, and nothing a URL would have to escape
FORWARD_PORT = 8000  # the laptop's port in the printed ssh line


class ServeError(TuiGanError):
    pass


@dataclass(frozen=True)
class Listen:
    """Where the server listens: a Unix socket, or host:port."""

    socket: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    token: str = ""


def plan_listen(port: int | None, host: str | None, token: str | None, socket_path: str | None) -> Listen:
    """The options' Listen, or a one-line ServeError: a host other than loopback needs a stated token."""
    if token is not None and not TOKEN_RE.fullmatch(token):
        raise ServeError("--token needs 16 or more letters, digits or ._~- (try: openssl rand -hex 16)")
    if socket_path is not None and (port is not None or host is not None):
        raise ServeError("--socket listens on a Unix socket: it does not go with --port or --host")
    stated = token is not None
    token = token or secrets.token_urlsafe(18)
    if port is None and host is None:
        return Listen(socket=Path(socket_path) if socket_path else _default_socket(), token=token)
    port = FORWARD_PORT if port is None else port
    if not 0 < port < 65536:
        raise ServeError(f"--port {port} is not a port (1-65535)")
    host = host or "127.0.0.1"
    if not is_loopback(host) and not stated:
        raise ServeError(f"--host {host} is reachable from other machines: state a --token to serve there")
    return Listen(host=host, port=port, token=token)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_socket() -> Path:
    from tui_gan.jobs.registry import JobError, runtime_dir

    try:
        return runtime_dir() / f"serve-{os.getpid()}.sock"
    except JobError as exc:
        raise ServeError(str(exc)) from None


def viewer_command(what: str, target: Path, read_only: bool) -> str:
    """The shell command each browser tab runs: `attach` of a run folder, or `runs` of a folder."""
    import shlex

    words = [sys.executable, "-m", "tui_gan"]
    words += ["attach", str(target)] if what == "attach" else ["runs", "--runs-dir", str(target)]
    words += ["--notify", "off"] + (["--read-only"] if read_only else [])
    return " ".join(shlex.quote(w) for w in words)


def serve(command: str, title: str, listen: Listen) -> int:
    """Serve until Ctrl-C or SIGTERM (the viewers end with the server; training goes on)."""
    logging.basicConfig(level=logging.WARNING, format="tui-gan serve: %(message)s")
    asyncio.run(DashboardServer(command, title, listen.token).run(listen))
    return 0


class DashboardServer(Server):
    """textual-serve's Server with the token guard, URLs made from the request (a tunnel's local
    port is not known here) and a listener we choose (a Unix socket or host:port)."""

    def __init__(self, command: str, title: str, token: str) -> None:
        super().__init__(command, title=title)
        self.token = token.encode()
        self.cookie = "tui_gan_" + hashlib.sha256(self.token).hexdigest()[:12]  # one per server

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        given = request.query.get("token")
        if given is not None and secrets.compare_digest(given.encode(), self.token):
            response = await handler(request)
            response.set_cookie(self.cookie, self.token.decode(), httponly=True, samesite="Strict")
            return response
        if secrets.compare_digest(request.cookies.get(self.cookie, "").encode(), self.token):
            return await handler(request)
        raise web.HTTPForbidden(text="tui-gan serve: open the address it printed, with its ?token=\n")

    async def handle_index(self, request: web.Request) -> web.Response:
        secure = request.scheme == "https"
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{'wss' if secure else 'ws'}://{request.host}/ws",
            "config": {"static": {"url": f"{request.scheme}://{request.host}/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def on_startup(self, app: web.Application) -> None:
        """(textual-serve prints its logo here; run() prints where to connect instead.)"""

    async def run(self, listen: Listen) -> None:
        runner = web.AppRunner(await self._make_app(), handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        listening = False
        try:
            await _start_site(runner, listen)
            listening = True
            print(instructions(listen, self.title), flush=True)
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                asyncio.get_running_loop().add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()
            if listening and listen.socket is not None:
                listen.socket.unlink(missing_ok=True)


async def _start_site(runner, listen: Listen) -> None:
    """Listen where `listen` says, or a one-line ServeError (a port in use, a folder we cannot write)."""
    if listen.socket is None:
        site = web.TCPSite(runner, listen.host, listen.port)
        where = f"{listen.host}:{listen.port}"
    else:
        _clear_stale_socket(listen.socket)
        old = os.umask(0o177)  # the socket is owner-only from its first moment
        site = web.UnixSite(runner, str(listen.socket))
        where = str(listen.socket)
    try:
        await site.start()
    except OSError as exc:
        in_use = exc.errno in (98, 48)  # EADDRINUSE on Linux, macOS
        why = "it is in use (another tui-gan serve?): choose another --port" if in_use else exc.strerror
        raise ServeError(f"cannot listen on {where}: {why or exc}") from None
    finally:
        if listen.socket is not None:
            os.umask(old)


def _clear_stale_socket(path: Path) -> None:
    """A socket left by a killed server is removed; a live one or another file is not ours to take."""
    if not path.parent.is_dir():
        raise ServeError(f"cannot listen on {path}: {path.parent} is not a folder")
    if not path.exists() and not path.is_symlink():
        return
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(str(path))
    except OSError:
        if path.is_socket():
            path.unlink()
            return
        raise ServeError(f"cannot listen on {path}: something that is not a socket is there") from None
    finally:
        probe.close()
    raise ServeError(f"cannot listen on {path}: another server listens there")


def instructions(listen: Listen, title: str) -> str:
    """Where to point a browser: for a socket, the ssh line that forwards a laptop's port to it."""
    query = f"/?token={listen.token}"
    user, host = getpass.getuser(), socket.getfqdn()
    host = socket.gethostname() if host.startswith("localhost") else host
    if listen.socket is not None:
        how = [
            f"serving {title} on {listen.socket} (a Unix socket only you can open)",
            f"on your laptop:  ssh -N -L {FORWARD_PORT}:{listen.socket} {user}@{host}",
            f"then open:       http://localhost:{FORWARD_PORT}{query}",
        ]
    elif is_loopback(listen.host):
        how = [
            f"serving {title} on {listen.host}:{listen.port} (this machine only)",
            f"open:                          http://{listen.host}:{listen.port}{query}",
            f"from a laptop, forward first:  ssh -N -L {listen.port}:{listen.host}:{listen.port} "
            f"{user}@{host}",
        ]
    else:
        shown = host if listen.host in ("0.0.0.0", "::") else listen.host
        how = [
            f"warning: serving {title} on {listen.host}:{listen.port}: anyone who can reach it "
            "and has the token can watch (and, without --read-only, stop) training",
            f"open: http://{shown}:{listen.port}{query}",
        ]
    how.append("each browser tab is one more viewer; Ctrl-C here stops serving, training goes on")
    return "\n".join(how)
