"""Command line: `tui-gan` (dashboard), `train [--headless|--detach]`, `sweep`, `ls`, `runs`,
`attach`, `serve` (in a browser), `archs`, `sample`, `eval`, and `stop`, `pause`, `resume` for a
live job. parser.py holds the grammar, this module dispatches; train.py, runs.py, serve.py,
control.py and checkpoints.py do the work of each subcommand."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tui_gan.cli.checkpoints import cmd_archs, cmd_eval, cmd_sample
from tui_gan.cli.control import cmd_control
from tui_gan.cli.parser import CONTROL_COMMANDS, build_parser, parse
from tui_gan.cli.runs import cmd_attach, cmd_ls, cmd_runs
from tui_gan.cli.serve import cmd_serve
from tui_gan.cli.sweep import cmd_sweep
from tui_gan.cli.train import cmd_train
from tui_gan.errors import TuiGanError

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    args, argv = parse(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "archs":
            return cmd_archs(args)
        if args.command == "sample":
            return cmd_sample(args.checkpoint, args.n, args.output, args.seed, args.digit, args.pixels)
        if args.command == "eval":
            return cmd_eval(args.checkpoint, args.samples, args.data_dir)
        if args.command == "ls":
            return cmd_ls(Path(args.runs_dir), args.json, args.watch)
        if args.command == "sweep":
            return cmd_sweep(args)
        if args.command == "runs":
            return cmd_runs(Path(args.runs_dir), args.notify, args.read_only, args.pixels)
        if args.command in CONTROL_COMMANDS:
            return cmd_control(args.command, args.run, Path(args.runs_dir))
        if args.command == "attach":
            return cmd_attach(args.target, Path(args.runs_dir), args.notify, args.read_only, args.pixels)
        if args.command == "serve":
            return cmd_serve(args)
        return cmd_train(args, argv)
    except TuiGanError as exc:
        print(f"tui-gan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tui-gan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tui-gan archs | head`: the reader left, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush must not fail
        return 141
