"""What every command shares: the one-line parser, option validators (every
numeric option is checked at parse time, naming the option), common options,
the command spec (its handler, input and output paths) and result printing."""

import argparse
import json
import math
import re
from dataclasses import dataclass, field

from ..errors import ConfigError

ERROR_CHARS = 300  # longest error line printed (a file can put megabytes into a message)
INT32_MAX = (1 << 31) - 1


def error_line(message) -> str:
    """`lava-msf: error: MESSAGE` on one line, at most ERROR_CHARS characters of message."""
    text = " ".join(str(message).split())
    if len(text) > ERROR_CHARS:
        text = text[:ERROR_CHARS - 3] + "..."
    return f"lava-msf: error: {text}"


class UsageError(ConfigError):
    """A command line argparse refuses (unknown option, bad value)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a UsageError (main prints it on one line,
    exit 2) instead of the usage text and SystemExit."""

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def integer(minimum: int = 1, maximum: int = INT32_MAX):
    """An argparse type: an integer in [minimum, maximum]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be an integer from {minimum} to {maximum}, got {text!r}")
        return value

    return parse


positive_int = integer(1)


def real(minimum: float = 0.0, maximum: float = math.inf, open_minimum: bool = False, open_maximum: bool = False):
    """An argparse type: a finite number in the interval (bounds open or closed)."""
    lo, hi = "(" if open_minimum else "[", ")" if open_maximum else "]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        inside = (value > minimum if open_minimum else value >= minimum) and (
            value < maximum if open_maximum else value <= maximum)
        if not (math.isfinite(value) and inside):
            raise argparse.ArgumentTypeError(f"must be a finite number in {lo}{minimum:g}, {maximum:g}{hi}, "
                                             f"got {text!r}")
        return value

    return parse


positive_float = real(0.0, open_minimum=True)


def device(text: str) -> str:
    """cpu, cuda or cuda:N (whether that GPU exists is checked when torch is loaded: check_device)."""
    if not re.fullmatch(r"cpu|cuda(:\d{1,3})?", text):
        raise argparse.ArgumentTypeError(f"must be cpu, cuda or cuda:N, got {text!r}")
    return text


def check_device(name: str | None) -> None:
    """Refuse a CUDA device torch cannot use, before any work (loads torch)."""
    if name is None or not name.startswith("cuda"):
        return
    import torch

    index = int(name.partition(":")[2] or 0)
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA GPU is available to torch")
    if index >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA device(s)")


def reset_policy(text: str):
    """stream --reset: 'window', 'never' (None) or a positive number of steps."""
    if text in ("window", "never"):
        return None if text == "never" else text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be a positive number of steps, 'window' or 'never'; got {text!r}")


FILE, DIRECTORY = "file", "directory"


@dataclass(frozen=True)
class Command:
    """A subcommand: its handler, the attributes of the namespace naming input
    files, and those naming outputs with their kind (FILE or DIRECTORY), checked
    by main before the handler runs."""

    handle: object
    inputs: tuple = ()
    outputs: dict = field(default_factory=dict)


def add_command(sub, name: str, handle, help: str, inputs=(), outputs=None) -> Parser:
    s = sub.add_parser(name, help=help, description=(handle.__doc__ or help).strip())
    s.set_defaults(command_spec=Command(handle, tuple(inputs), dict(outputs or {})))
    return s


def add_json(s) -> None:
    s.add_argument("--json", action="store_true", help="print the result as one JSON object")


def add_dataset_options(s, default, source: str = "the one the .net file was exported with") -> None:
    """default None: the dataset named by the source (else digits, digits-scenes
    for a detection or segmentation network)."""
    from ..data import DATASETS, SCENES

    s.add_argument("--dataset", default=default, help=f"one of {', '.join(DATASETS)}; for detection and "
                   f"segmentation {', '.join(SCENES)} (default: {default or source + ', else digits (digits-scenes)'})")
    add_data_dir(s)


def add_input_file_options(s) -> None:
    """--inputs, --layout, --transform (run, report): the frames of an array file
    instead of a dataset (lava_msf.pipeline.read_inputs)."""
    from ..pipeline import LAYOUTS

    s.add_argument("--inputs", default=None, metavar="FILE[:KEY]",
                   help="integer frames instead of a dataset: FILE.npy, FILE.npz (its only array, or "
                   "FILE.npz:KEY) or FILE.h5 (its only dataset, or FILE.h5:PATH); T steps per sample as the "
                   "array gives; integers or bools (reals only if integer-valued, or pixels in [0, 1] for an "
                   "image network); no labels")
    s.add_argument("--layout", choices=sorted(LAYOUTS), default=None,
                   help="axes of --inputs: " + "; ".join(f"{k} = {v}" for k, v in LAYOUTS.items())
                   + " (default nchwt)")
    s.add_argument("--transform", action="store_true",
                   help="apply the input layer's NetX transform to --inputs: x * weight + bias (NetX leaves it "
                   "to the caller)")


def check_input_file_options(ns, needs_inputs=(), excludes=()) -> None:
    """--layout, --transform and the options `needs_inputs` need --inputs; with it,
    --dataset, --data-dir and the options `excludes` are refused, and --out may not
    be the input file."""
    from ..atomic import same_file
    from ..errors import OutputError
    from ..inputfile import split_key

    flag = lambda option: f"--{option.replace('_', '-')}"  # noqa: E731
    if ns.inputs is None:
        for option in ("layout", "transform", *needs_inputs):
            if getattr(ns, option):
                raise ConfigError(f"{flag(option)} needs --inputs")
        return
    for option in ("dataset", "data_dir", *excludes):
        if getattr(ns, option) is not None:
            raise ConfigError(f"{flag(option)} and --inputs exclude each other")
    if getattr(ns, "out", None) and same_file(ns.out, split_key(ns.inputs)[0]):
        raise OutputError(f"cannot write {ns.out}: it is also an input of this command")


def add_data_dir(s) -> None:
    s.add_argument("--data-dir", default=None,
                   help="folder of a dataset read from disk (docs/training.md gives each layout)")


def print_result(result: dict, as_json: bool, text: str) -> None:
    print(json.dumps(result, indent=2, sort_keys=True) if as_json else text)


def write_json(path, result: dict) -> None:
    """--out: the result as JSON, written atomically (an interrupted run leaves the old file)."""
    if path:
        from ..atomic import write_text

        write_text(path, json.dumps(result, indent=2, sort_keys=True) + "\n")


def progress_of(ns) -> bool:
    return not (getattr(ns, "json", False) or getattr(ns, "no_progress", False))
