"""`inspect`: resource report and constraint check on a Loihi-class chip."""

from .options import add_command, add_json, positive_int, print_result


def _inspect_source(source: str, timesteps):
    """A .net file, or a registry model at its native size with untrained
    weights (exported in memory; nothing is run)."""
    import os

    if os.path.exists(source) or source.endswith(".net"):
        from ..netfile import read_net

        return read_net(source)
    from ..export import export_network
    from ..model import create_model

    return export_network(create_model(source, timesteps=timesteps).eval())


def handle_inspect(ns) -> int:
    """Resource report and constraint check of a network on a Loihi-class target."""
    from ..chip.loihi2 import get_target
    from ..chip.report import inspect_network, report_text

    target = get_target(ns.target)
    net = _inspect_source(ns.source, ns.timesteps)
    r = {**inspect_network(net, target), "source": ns.source}
    print_result(r, ns.json, report_text(r))
    return 0


def register(sub) -> None:
    s = add_command(sub, "inspect", handle_inspect, "resource report and constraint check on a Loihi-class chip "
                    "(counts only, nothing is run)")
    s.add_argument("source", help="a .net file, or a registry model name (native size, untrained weights)")
    s.add_argument("--target", default="loihi2", help="target chip (loihi2)")
    s.add_argument("--timesteps", type=positive_int, default=None, help="T for a registry model (default: its own)")
    add_json(s)
