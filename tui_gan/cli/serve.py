"""`tui-gan serve`: what each browser tab opens (a run's dashboard, or the workspace), checked
before the server starts, then tui_gan/serve.py serves it."""

from __future__ import annotations

from pathlib import Path

from tui_gan.errors import ConfigError


def cmd_serve(args) -> int:
    from tui_gan.jobs.attach import attach_target
    from tui_gan.jobs.registry import resolve_run
    from tui_gan.serve import plan_listen, serve, viewer_command
    from tui_gan.sweeps.state import SWEEP_FILE

    listen = plan_listen(args.port, args.host, args.token, args.socket)
    if args.runs:
        if args.target != "latest":
            raise ConfigError("serve --runs serves the workspace of --runs-dir: give no RUN_DIR with it")
        folder = Path(args.runs_dir).resolve()
        if not folder.is_dir():
            raise ConfigError(f"--runs-dir {args.runs_dir} is not a folder")
        command, title = viewer_command("runs", folder, args.read_only), f"the workspace of {folder}"
    elif (Path(args.target) / SWEEP_FILE).is_file():
        folder = Path(args.target).resolve()
        command, title = viewer_command("runs", folder, args.read_only), f"the sweep {folder}"
    else:
        run_dir = resolve_run(args.target, Path(args.runs_dir)).resolve()
        attach_target(run_dir)  # a died job or a foreign folder: its one-line error now, not per tab
        command, title = viewer_command("attach", run_dir, args.read_only), f"the dashboard of {run_dir}"
    if args.read_only:
        title += " (read-only)"
    return serve(command, title, listen)
