"""`export-nir` (.net -> NIR file) and `import-nir` (NIR file -> .net, quantized
to Loihi fixed point with a report of what was rounded): docs/nir.md."""

from .options import FILE, add_command, add_json, integer, positive_float, print_result


def handle_export_nir(ns) -> int:
    """A .net file as a NIR graph for time step --dt (exact: import-nir gives the same network back),
    or a checkpoint's model: its float-neuron model (--neuron float, the default) or its .net's integers."""
    import zipfile

    from ..errors import ConfigError
    from ..nir.file import write_graph

    if zipfile.is_zipfile(ns.net):  # a torch checkpoint (a .net file is HDF5)
        from ..export.nir import export_nir_from_checkpoint

        neuron = ns.neuron or "float"
        graph = export_nir_from_checkpoint(ns.net, ns.dt, ns.client, neuron)
    else:
        from ..netfile import read_net
        from ..nir import export_nir

        if ns.neuron is not None:
            raise ConfigError(f"{ns.net}: --neuron takes a checkpoint; a .net file holds Lava's integer neurons only")
        neuron, graph = None, export_nir(read_net(ns.net), ns.dt, ns.client)
    write_graph(graph, ns.out)
    dt = graph.metadata["lava_msf_dt"]
    layers = 1 + max(n.metadata["lava_msf_layer"] for n in graph.nodes.values() if "lava_msf_layer" in (n.metadata or {}))
    result = {"net": ns.net, "out": ns.out, "dt": dt, "layers": layers, "for": ns.client, "neuron": neuron}
    target = (f", for {ns.client}" if ns.client else "") + (f", {neuron} neurons" if neuron else "")
    print_result(result, ns.json, f"exported {ns.net} ({layers} layers) to {ns.out} (NIR, dt = {dt:g} s{target})")
    return 0


def handle_import_nir(ns) -> int:
    """A NIR file (any framework's) as a .net file: floats quantized to Loihi fixed point."""
    from ..netfile import write_net
    from ..nir import read_nir

    net, report = read_nir(ns.nir_file, ns.dt, ns.timesteps)
    write_net(net, ns.out)
    result = {"nir": ns.nir_file, "out": ns.out, "layers": len(net.layers), **report}
    rows = []
    for name, r in report["quantization"].items():
        parts = [f"weight rel. error {r['weight_rel_error']:.2e} (exp {r['weight_exp']})"] if "weight_exp" in r else []
        if "threshold" in r:
            parts.append(f"threshold {r['threshold']['exact']:g} -> {r['threshold']['used']:g}")
        parts += [f"{key} {value:.2e}" for key, value in r.items() if key.endswith("error") and key != "weight_rel_error"]
        parts += [f"{key} {d['exact']:.6g} -> {d['used']:.6g}" for key, d in r.get("decays", {}).items()]
        if "scaled_by" in r:
            parts.append(f"scaled by {r['scaled_by']:g}")
        rows.append(f"  {name:32s} {', '.join(parts) or 'exact'}")
    head = (f"imported {ns.nir_file} ({len(net.layers)} layers, dt = {report['dt']:g} s) to {ns.out}: "
            f"{'exact' if report['exact'] else 'rounded to fixed point'}")
    print_result(result, ns.json, "\n".join([head, *rows]))
    return 0


def register(sub) -> None:
    s = add_command(sub, "export-nir", handle_export_nir, "export a .net file or a checkpoint to NIR (neuromorphic "
                    "intermediate representation)", inputs=("net",), outputs={"out": FILE})
    s.add_argument("net", help=".net file, or a checkpoint (lava-msf train)")
    s.add_argument("--neuron", choices=("float", "deploy"), default=None,
                   help="a checkpoint's model with float neurons (default: float weights, firing at v >= v_th) or "
                        "its deployable integer network (the .net's)")
    s.add_argument("--out", required=True, help="NIR file to write (HDF5)")
    s.add_argument("--dt", type=positive_float, default=None, help="seconds per time step (default: the one an imported network came with, else 1e-4)")
    s.add_argument("--for", dest="client", choices=("snntorch", "norse"), default=None,
                   help="write only the primitives that client's NIR import reads: no Scale (merges as edges, "
                        "scales in the weights); norse: LIFs at r = 1 (docs/nir.md)")
    add_json(s)

    s = add_command(sub, "import-nir", handle_import_nir, "import a NIR file as a .net file (Loihi fixed point)",
                    inputs=("nir_file",), outputs={"out": FILE})
    s.add_argument("nir_file", metavar="FILE.nir")
    s.add_argument("--out", required=True, help=".net file to write")
    s.add_argument("--dt", type=positive_float, default=None,
                   help="seconds per time step (default: the file's lava_msf_dt, else 1e-4)")
    s.add_argument("--timesteps", type=integer(0, 1 << 16), default=None,
                   help="steps per sample stored in the .net file (default: the file's, else 0)")
    add_json(s)
