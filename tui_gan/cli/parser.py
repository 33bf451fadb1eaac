"""The command line's grammar: `tui-gan`'s subcommands and their options. The `train` options
that set a TrainConfig field are made from the fields (config.py declares each once), and
every usage error is one line: `tui-gan: error: ...`, with a "did you mean" where one fits."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence
from typing import Any, NoReturn

from tui_gan import __version__
from tui_gan.config import TrainConfig, option_fields, suggest

PROG = "tui-gan"
GROUP_TITLES = {
    "recipe": "how it trains (each architecture's recipe; `tui-gan archs` lists them)",
    "architecture": "what is built, for every architecture (`tui-gan archs --width 2` counts the parameters)",
}
# The options of `train` that steer the command rather than set a TrainConfig field.
TRAIN_COMMAND_OPTIONS = ("headless", "detach", "config", "resume", "run_dir", "nproc", "log_every")
TRAIN_COMMAND_OPTIONS += ("notify", "pixels")
# The shell's commands to a live job (cli/control.py), as a dashboard sends them.
CONTROL_COMMANDS = {
    "stop": "stop a live job after a final checkpoint, and wait until it has ended",
    "pause": "pause a live job (it keeps its place; resume goes on)",
    "resume": "resume a paused live job (a died or ended run continues with train --resume)",
}
CHECKPOINT_HELP = "a checkpoint, or a run folder: its newest architecture's best.pt, else latest.pt"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors; add_subparsers makes its subcommands of this class too."""

    commands: tuple[str, ...] = ()

    def error(self, message: str) -> NoReturn:
        # no usage dump first: the line says what is wrong, `--help` says the rest
        self.exit(2, f"{PROG}: error: {message}\n")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(self._unrecognized(extras, getattr(namespace, "command", None)))
        return namespace

    def _unrecognized(self, extras: list[str], command: str | None) -> str:
        parser = self._subcommand(command) or self
        # train is also what `tui-gan --option` means, so naming it there would puzzle
        where = f" for {PROG} {command}" if command and command != "train" else ""
        for token in extras:
            if token.startswith("-") and token != "-":
                name = token.split("=", 1)[0]
                # argparse keeps no public list of a parser's option strings
                hint = suggest(name, [s for s in parser._option_string_actions if s.startswith("--")])
                return f"unrecognized option {name}{where}{hint}"
        return f"unexpected argument {extras[0]!r}{where}"

    def _subcommand(self, name: str | None) -> argparse.ArgumentParser | None:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(name)
        return None


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(the parsed options, argv as `train` sees it). With no command, or options first,
    `tui-gan` means train (`tui-gan --arch dcgan`); a bare word first is a command or a typo of one."""
    parser = build_parser()
    first = argv[0] if argv else "-"
    if first in parser.commands or first in ("-h", "--help", "--version"):
        pass
    elif first.startswith("-"):
        argv = ["train", *argv]
    else:  # train takes no positional arguments, so this was meant as a command
        hint = suggest(first, parser.commands)
        parser.error(f"unknown command {first!r}{hint}; commands: {', '.join(parser.commands)}")
    if argv and argv[0] == "sweep":  # the train options it sweeps are checked per run (sweeps/grid.py)
        args, extras = parser.parse_known_args(argv)
        args.train_options = extras
        return args, argv
    return parser.parse_args(argv), argv


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Train a GAN on MNIST-style digits and watch it live in the terminal. "
        "With no command, opens the dashboard (headless when not in a terminal).",
        epilog="Options given without a command are train's: `tui-gan --arch dcgan`. "
        "Each command's options: tui-gan COMMAND --help.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    def command(name: str, about: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=about, description=about)

    _add_train(command("train", "train a GAN: with the dashboard, --headless or --detach"))
    _add_ls(command("ls", "list live training jobs and the runs under --runs-dir"))
    runs = command("runs", "the workspace: every run in one screen, compared and controlled from there")
    _add_runs(runs, "where finished runs are")
    _add_viewing(runs)
    _add_sweep(command("sweep", "a grid of runs over train options and seeds, run K at a time"))
    attach = command(
        "attach", "open the dashboard on a live job, a finished run read-only, or a sweep's workspace"
    )
    _add_target(attach, "a run folder")
    _add_runs(attach, "where `latest` looks for runs")
    _add_viewing(attach)
    _add_serve(command("serve", "the dashboard (or with --runs the workspace) in a web browser"))
    add_config_options(
        command("archs", "list the architectures, their sizes and how each trains"), group="architecture"
    )
    _add_sample(command("sample", "draw digits from a checkpoint's generator (PNG or .npy)"))
    _add_eval(command("eval", "judge a checkpoint's generator: quality metrics as JSON"))
    for name, about in CONTROL_COMMANDS.items():
        control = command(name, about)
        control.add_argument(
            "run",
            metavar="RUN",
            help="a live job's run folder (or a path in it, or its folder name under --runs-dir), "
            "its --name, or latest (the newest live job)",
        )
        _add_runs(control, "where RUN is looked for by folder name")
    parser.commands = tuple(sub.choices)
    return parser


def _add_ls(ls: argparse.ArgumentParser) -> None:
    _add_runs(ls, "where finished runs are")
    ls.add_argument("--json", action="store_true", help="a JSON object per run a line, for scripts")
    ls.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        metavar="SECONDS",
        help="list again every SECONDS (default 2) until Ctrl-C",
    )


def _add_sweep(sweep: argparse.ArgumentParser) -> None:
    sweep.allow_abbrev = False  # --seed is train's (swept), not short for --seeds
    sweep.epilog = (
        "Any train option is given once for every run, or swept with commas: "
        "tui-gan sweep --arch mlp,dcgan --loss hinge,lsgan --seeds 3 --budget 10m --parallel 2"
    )
    sweep.add_argument(
        "--seeds", type=int, default=1, metavar="N", help="runs of each config (seeds from --seed)"
    )
    sweep.add_argument(
        "--budget", metavar="TIME", help="training time of each run (90s, 10m, 2h); or give --max-steps"
    )
    sweep.add_argument(
        "--parallel", type=int, default=1, metavar="K", help="runs at once per GPU, or on the CPU (default 1)"
    )
    sweep.add_argument(
        "--search",
        choices=["tpe"],
        help="search instead of the grid: Optuna's TPE sampler picks each run's values (choices a,b "
        "and ranges LOW:HIGH), its median pruner ends runs that lag",
    )
    sweep.add_argument("--trials", type=int, default=20, metavar="N", help="runs of a --search (default 20)")
    slurm = sweep.add_argument_group("Slurm (--launcher slurm: each run an sbatch job, through submitit)")
    slurm.add_argument(
        "--launcher", choices=["local", "slurm"], default="local", help="where runs go (default local)"
    )
    slurm.add_argument("--partition", metavar="NAME", help="the partition runs are submitted to")
    slurm.add_argument(
        "--time", metavar="TIME", help="each run's time limit (90m, 4h; default: the budget and 50%%)"
    )
    slurm.add_argument(
        "--gpus-per-run", type=int, default=0, metavar="N", help="GPUs of each run (default 0)"
    )
    slurm.add_argument("--account", metavar="NAME", help="the account runs are charged to")
    slurm.add_argument(
        "--sbatch",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra sbatch option for every run (--sbatch cpus-per-task=4 --sbatch qos=low)",
    )
    sweep.add_argument(
        "--name",
        metavar="NAME",
        help="the sweep's name: its folder is RUNS_DIR/sweep-NAME (default: the time)",
    )
    _add_runs(sweep, "where the sweep folder goes")
    sweep.add_argument("--detach", action="store_true", help="run in the background, print where")
    mode = sweep.add_mutually_exclusive_group()
    mode.add_argument("--resume", metavar="SWEEP", help="continue a sweep's unfinished runs")
    mode.add_argument("--show", metavar="SWEEP", help="print a sweep's leaderboard")
    sweep.add_argument("--foreground", action="store_true", help=argparse.SUPPRESS)  # the coordinator


def _add_notify(parser: argparse.ArgumentParser) -> None:
    from tui_gan.notify import NOTIFY_MODES  # torch-free

    parser.add_argument(
        "--notify",
        choices=NOTIFY_MODES,
        default="auto",
        help="how the dashboard (or workspace) tells you a run finished, diverged, collapsed or "
        "crashed: a desktop notification (OSC 9, 777 or 99), the terminal bell, or off; auto picks "
        "from the terminal (the bell inside tmux and where it cannot tell)",
    )


def _add_target(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        default="latest",
        metavar="RUN_DIR|latest",
        help=f"{what} (default: the newest live job, else the newest run)",
    )


def _add_viewing(parser: argparse.ArgumentParser) -> None:
    """How a viewer (a dashboard or the workspace) shows things: --notify, --read-only, --pixels."""
    _add_notify(parser)
    _add_read_only(parser)
    _add_pixels(parser)


def _add_read_only(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="watch only: the keys that pause, stop, checkpoint or switch a run are off (q leaves)",
    )


def _add_serve(serve: argparse.ArgumentParser) -> None:
    _add_target(serve, "the run (or sweep folder) each browser tab attaches to")
    serve.add_argument("--runs", action="store_true", help="serve the workspace of --runs-dir instead")
    _add_runs(serve, "where `latest` and --runs look for runs")
    serve.add_argument(
        "--port",
        type=int,
        metavar="N",
        help="listen on 127.0.0.1:N (default: an owner-only Unix socket, forwarded with ssh -L)",
    )
    serve.add_argument(
        "--host", metavar="ADDR", help="listen on ADDR:PORT; other than loopback it needs --token"
    )
    serve.add_argument(
        "--token", metavar="T", help="the token the URL must carry (default: a random one, printed)"
    )
    serve.add_argument(
        "--socket", metavar="PATH", help="the Unix socket to listen on (default: one in the runtime folder)"
    )
    _add_read_only(serve)


def _add_runs(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--runs-dir", default="runs", metavar="DIR", help=f"{what} (default ./runs)")


def _add_train(train: argparse.ArgumentParser) -> None:
    mode = train.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true", help="no dashboard: Rich progress bar and log lines")
    mode.add_argument(
        "--detach", action="store_true", help="train in the background; attach with tui-gan attach"
    )
    train.add_argument(
        "--config", metavar="FILE", help="JSON or TOML file of settings; options given here win"
    )
    train.add_argument(
        "--resume",
        metavar="RUN_DIR|CKPT|auto",
        help="continue a run in its own folder (a run folder, or a checkpoint in one); auto with "
        "--run-dir: continue the run there if it has a checkpoint, else start it there (so a "
        "requeued or re-run command picks up where it was)",
    )
    train.add_argument(
        "--run-dir", metavar="DIR", help="write the run into DIR instead of a new folder under --runs-dir"
    )
    train.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train on N processes with DistributedDataParallel (one per GPU; gloo on CPUs), "
        "started with torchrun; the global batch is kept and split over them",
    )
    add_config_options(train)
    _add_notify(train)
    _add_pixels(train)
    train.add_argument(
        "--log-every", type=float, default=10.0, metavar="S", help="headless: seconds between log lines"
    )


def add_config_options(parser: argparse.ArgumentParser, group: str | None = None) -> None:
    """An option per TrainConfig field (or per field of one `group`): --the-name (bools: --name,
    or --no-name when on by default). Each defaults to None, so only the options given override
    a config file."""
    groups = {key: parser.add_argument_group(title) for key, title in GROUP_TITLES.items()}
    hints = typing.get_type_hints(TrainConfig)
    for field in option_fields():
        opt = field.metadata["option"]
        if group is not None and opt.group != group:
            continue
        flag = "--" + field.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": field.name, "default": None, "help": _help(field)}
        if hints[field.name] is bool:
            flag = "--no-" + flag[2:] if field.default else flag
            kwargs["action"] = "store_false" if field.default else "store_true"
        else:
            kwargs.update(type=_parsed(opt.parse) or _value_type(hints[field.name]), metavar=opt.metavar)
            choices = opt.choice_list()
            if choices:
                kwargs.update(choices=choices, type=_choice(choices))
            if opt.const is not None:
                kwargs.update(nargs="?", const=opt.const)
        groups.get(opt.group, parser).add_argument(flag, *opt.flags, **kwargs)


def _help(field: dataclasses.Field) -> str:
    opt = field.metadata["option"]
    default = f"{field.default:g}" if isinstance(field.default, float) else field.default
    text = opt.help.format(choices=", ".join(opt.choice_list()), default=default)
    if "{default}" not in opt.help and default is not None and not isinstance(default, bool):
        text += f" (default {default})"
    return text.replace("%", "%%")  # argparse expands %(...)s in help


def _value_type(hint: Any) -> type:
    """int from `int | None`."""
    return next((t for t in typing.get_args(hint) if t is not type(None)), hint)


def _parsed(parse):
    """A `type=` from an Option's parse: its ValueError's message is the usage error's."""
    if parse is None:
        return None

    def parsed(value: str):
        try:
            return parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parsed


def _choice(choices: Sequence[str]):
    """A `type=` that names the valid choices, and the near one, itself (argparse lists them
    quoted and would not guess)."""

    def choice(value: str) -> str:
        if value in choices:
            return value
        hint = suggest(value, choices)
        raise argparse.ArgumentTypeError(f"invalid choice {value!r}{hint}; choose from: {', '.join(choices)}")

    return choice


def _add_sample(sample: argparse.ArgumentParser) -> None:
    sample.add_argument("checkpoint", metavar="CKPT|RUN_DIR", help=CHECKPOINT_HELP)
    sample.add_argument("-n", type=int, default=64, metavar="N", help="how many digits (default 64)")
    sample.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="FILE.png (a grid) or FILE.npy (N x 28 x 28 uint8); without it the grid is drawn in "
        "the terminal (see --pixels; characters where there is no colour)",
    )
    sample.add_argument("--seed", type=int, default=0, metavar="N", help="noise seed (default 0)")
    sample.add_argument(
        "--digit",
        type=int,
        metavar="D",
        help="only this digit, 0-9 (a --conditional run's "
        "checkpoint; without it such a checkpoint draws 0-9 in turn)",
    )
    _add_pixels(sample)


def _add_pixels(parser: argparse.ArgumentParser) -> None:
    from tui_gan.pixels import PIXEL_MODES  # torch-free

    parser.add_argument(
        "--pixels",
        choices=PIXEL_MODES,
        type=_choice(PIXEL_MODES),
        default="auto",
        help="how digits are drawn in the terminal: an image (kitty graphics or sixel) or half blocks; "
        "auto asks the terminal, and draws half blocks where it does not answer or is a pipe, tmux, "
        "screen, TERM=dumb or NO_COLOR",
    )


def _add_eval(evaluate: argparse.ArgumentParser) -> None:
    evaluate.add_argument("checkpoint", metavar="CKPT|RUN_DIR", help=CHECKPOINT_HELP)
    evaluate.add_argument(
        "-n",
        "--samples",
        type=int,
        default=None,
        metavar="N",
        help="digits to generate (default: the run's eval-samples)",
    )
    evaluate.add_argument(
        "--data-dir", metavar="DIR", help="where the run's dataset is (default: as trained)"
    )
