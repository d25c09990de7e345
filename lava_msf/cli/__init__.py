"""The `lava-msf` command line.

Every user error ends in one line on stderr and exit status 2; results go to
stdout as text, or as one JSON object with --json. Each command's options sit
next to its handler (one module per command group); torch and Lava are loaded
by the handlers that need them, so parsing stays fast.
"""

import sys
import warnings

from .. import signals
from ..errors import LavaMsfError, LavaMsfWarning
from . import export, info, inspect, nir, report, run, stream, train
from .options import DIRECTORY, Parser, error_line

EXIT_USAGE = 2


def build_parser() -> Parser:
    p = Parser(prog="lava-msf", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for group in (info, train, export, run, stream, inspect, report, nir):
        group.register(sub)
    return p


def check_outputs(ns) -> None:
    """Before any work: every output of the command can be written, and none is
    one of its inputs or another of its outputs."""
    from ..atomic import check_destination, same_file
    from ..errors import OutputError

    spec = ns.command_spec
    inputs = [getattr(ns, name) for name in spec.inputs if getattr(ns, name, None)]
    outputs = [(getattr(ns, name), kind) for name, kind in spec.outputs.items() if getattr(ns, name, None)]
    for i, (out, kind) in enumerate(outputs):
        if any(same_file(out, source) for source in inputs):
            raise OutputError(f"cannot write {out}: it is also an input of this command")
        if any(same_file(out, other) for other, _ in outputs[:i]):
            raise OutputError(f"cannot write {out}: it is also another output of this command")
        check_destination(out, directory=kind == DIRECTORY)


def _show_warning(message, category, filename, lineno, file=None, line=None, _default=warnings.showwarning):
    """lava-msf's own warnings (e.g. NetX's delay clamp) as one line on stderr."""
    if issubclass(category, LavaMsfWarning):
        print(f"lava-msf: warning: {str(message).splitlines()[0][:300]}", file=sys.stderr)
    else:
        _default(message, category, filename, lineno, file, line)


def main(argv=None) -> int:
    warnings.showwarning = _show_warning
    try:
        ns = build_parser().parse_args(argv)
        signals.install_sigterm_handler()
        check_outputs(ns)
        return ns.command_spec.handle(ns)
    except LavaMsfError as e:
        print(error_line(e), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (signals.Terminated)
        print("lava-msf: interrupted", file=sys.stderr)
        return signals.exit_status(e)
