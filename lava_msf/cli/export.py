"""`export` (checkpoint -> .net file) and `import-sdt` (official SDT-V2
checkpoint -> lava-msf checkpoint)."""

from .options import FILE, add_command, add_data_dir, add_json, positive_int, print_result


def handle_export(ns) -> int:
    """Checkpoint -> .net file, with the quantization report and the float vs.
    quantized test metric (accuracy; mAP or mIoU of a detection or segmentation model)."""
    from ..export import evaluate_network, export_for_data
    from ..pipeline import check_dataset_fits
    from ..netfile import write_net
    from ..tasks.evaluate import CLASSIFY, DEFAULT_DATASET, HEADLINE, metric_text, score, test_split
    from ..train import evaluate, load_model
    from ..train.trainer import check_input

    model, state = load_model(ns.checkpoint)
    task = model.config["task"]
    dataset = ns.dataset or state.get("train_args", {}).get("dataset") or DEFAULT_DATASET[task]
    data = test_split(task, dataset, ns.checkpoint, model.config["img_size"], model.timesteps, ns.samples,
                      ns.data_dir)
    if task == CLASSIFY:
        check_input(model, data)
    net = export_for_data(model, data)
    check_dataset_fits(net, data, ns.checkpoint)
    if task == CLASSIFY:
        torch_scores = {"accuracy": evaluate(model, data)["accuracy"]}
    else:
        from ..train.dense import head_values

        values = head_values(model, data.x.astype("float32"))
        torch_scores = score(task, values, data, net.meta["output_stride"])
    quantized = evaluate_network(net, data)
    write_net(net, ns.out)
    layers = net.meta["quantization"]
    result = {"checkpoint": ns.checkpoint, "out": ns.out, "model": model.config["name"], "task": task,
              "dataset": dataset, "samples": len(data), "layers": len(net.layers), "quantization": layers,
              **{f"float_{k}": torch_scores[k] for k in HEADLINE[task]},
              **{f"quantized_{k}": quantized[k] for k in HEADLINE[task]}}
    key = HEADLINE[task][0]
    rows = [f"  {name:40s} exp {q['weight_exp']:3d}  weight rel. error {q['weight_rel_error']:.4f}  "
            f"bias max error {q['bias_max_error']:.4f}" for name, q in layers.items()]
    print_result(result, ns.json, "\n".join(
        [f"exported {model.config['name']} ({len(net.layers)} layers) to {ns.out}", "quantization:", *rows,
         f"test {metric_text(task, result, 'float_')} float; {metric_text(task, result, 'quantized_')} quantized "
         f"on {dataset} ({len(data)} samples; {100 * (result['quantized_' + key] - result['float_' + key]):+.2f} "
         f"points)"]))
    return 0


def handle_import_sdt(ns) -> int:
    """An official SDT-V2 checkpoint -> a lava-msf checkpoint (float neurons, as trained)."""
    from ..model.official import import_official_checkpoint

    r = import_official_checkpoint(ns.checkpoint, ns.variant, ns.out, ns.timesteps, ns.img_size).as_dict()
    r["out"] = ns.out
    lines = [f"imported SDT-V2 {ns.variant} from {ns.checkpoint} to {ns.out}: {r['consumed']} tensors, "
             f"{r['num_classes']} classes, {r['in_channels']} input channels, T={r['timesteps']}, float neurons"]
    lines += [f"  folded  {k}: {why}" for k, why in r["folded"].items()]
    if r["skipped"]:
        lines.append(f"  skipped {len(r['skipped'])} tensors: {sorted(set(r['skipped'].values()))[0]}")
    lines += [f"  UNUSED  {k}: not part of SDT-V2 {ns.variant}" for k in r["unused"]]
    lines.append(f"next: lava-msf train --init {ns.out} --neuron deploy ... (fine-tune with the deployable "
                 f"neuron), lava-msf export, lava-msf inspect")
    print_result(r, ns.json, "\n".join(lines))
    return 0


def register(sub) -> None:
    s = add_command(sub, "export", handle_export, "export a checkpoint to a .net file (NetX HDF5, extended)",
                    inputs=("checkpoint",), outputs={"out": FILE})
    s.add_argument("checkpoint")
    s.add_argument("--out", required=True)
    s.add_argument("--dataset", default=None, help="test split to compare float and quantized accuracy (mAP, "
                   "mIoU) on (default: the one the checkpoint was trained on)")
    add_data_dir(s)
    s.add_argument("--samples", type=positive_int, default=None, help="evaluate on the first N test samples only")
    add_json(s)

    s = add_command(sub, "import-sdt", handle_import_sdt, "import an official SDT-V2 checkpoint (BICLab "
                    "Spike-Driven-Transformer-V2) as a lava-msf checkpoint", inputs=("checkpoint",),
                    outputs={"out": FILE})
    s.add_argument("checkpoint", help="official .pth (a state_dict or save_model()'s dict with 'model')")
    s.add_argument("--variant", required=True, choices=["15m", "8_384", "8_512", "8_768"])
    s.add_argument("--out", required=True, help="lava-msf checkpoint to write")
    s.add_argument("--timesteps", type=positive_int, default=None,
                   help="T (default: the checkpoint's saved args.time_steps, else 1 as the official model)")
    s.add_argument("--img-size", type=positive_int, default=224)
    add_json(s)
