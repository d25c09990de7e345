"""`report`: firing rates, synaptic operations, FLOPs and energy; plots."""

from .options import DIRECTORY, FILE, add_command, add_dataset_options, add_input_file_options, add_json, \
    check_input_file_options, positive_int, print_result, progress_of, write_json


def _data(ns, net):
    """The test split report runs on, or the frames of --inputs. A file that names
    no dataset (a plain NetX file) and fits none: the error says to pass --inputs."""
    from ..errors import LavaMsfError
    from ..pipeline import net_test_split, read_inputs

    if ns.inputs is not None:
        from ..analysis.report import Frames

        frames, where, _ = read_inputs(net, ns.inputs, ns.layout or "nchwt", ns.transform, samples=ns.samples)
        return Frames(where, frames)
    try:
        return net_test_split(net, ns.net, ns.dataset, ns.samples, ns.data_dir)
    except LavaMsfError as e:
        if ns.dataset is not None or net.meta.get("data", {}).get("dataset"):
            raise
        raise type(e)(f"{e}; the file names no dataset: pass --inputs FILE with frames for it") from None


def handle_report(ns) -> int:
    """Firing rates, synaptic operations, FLOPs and energy per inference of a
    .net file on a test split (and of its torch model with --checkpoint), or on
    the frames of an array file (--inputs); plots."""
    from ..analysis import analyze, report_text
    from ..netfile import read_net

    check_input_file_options(ns, excludes=("checkpoint",))
    net = read_net(ns.net)
    data = _data(ns, net)
    model = None
    if ns.checkpoint:
        from ..train import load_model

        model, _ = load_model(ns.checkpoint)
    r = analyze(net, data, model, ns.raster, progress=progress_of(ns))
    rasters = r.pop("rasters")
    r.update(net=ns.net, checkpoint=ns.checkpoint, plots=[])
    if ns.plots:
        from ..analysis.plots import write_plots

        r["plots"] = write_plots({**r, "rasters": rasters}, ns.plots)
    r["raster_layers"] = sorted(rasters)
    write_json(ns.out, r)
    print_result(r, ns.json, report_text(r) + "".join(f"\nplot: {p}" for p in r["plots"]))
    return 0


def register(sub) -> None:
    s = add_command(sub, "report", handle_report, "firing rates, synaptic operations, FLOPs and energy per "
                    "inference (SDT papers' method) of a .net file on a test split or on the frames of an "
                    "array file (--inputs); plots", inputs=("net", "checkpoint", "inputs"),
                    outputs={"out": FILE, "plots": DIRECTORY})
    s.add_argument("net")
    add_dataset_options(s, None)
    add_input_file_options(s)
    s.add_argument("--samples", type=positive_int, default=None,
                   help="the first N test samples, or of --inputs (default: all)")
    s.add_argument("--checkpoint", default=None, help="the torch checkpoint the file was exported from: "
                   "the same numbers for the torch model")
    s.add_argument("--plots", default=None, metavar="DIR", help="write PNG plots (rates, energy, rasters) here")
    s.add_argument("--raster", nargs="+", default=None, metavar="LAYER",
                   help="layers to draw rasters of (default: first, middle and last layer sending spikes or "
                   "graded messages)")
    s.add_argument("--out", default=None, help="also write the JSON report to this file")
    s.add_argument("--no-progress", action="store_true")
    add_json(s)
