"""End-to-end jobs on a test split: a .net file run on a backend and compared
with the reference executor (`lava-msf run`), and the whole pipeline from
training to Lava (`lava-msf pipeline`). Results are plain dicts; the CLI
formats them."""

import time

from .atomic import same_file
from .errors import ConfigError, OutputError


def dataset_of(dataset: str | None, net) -> str:
    """The dataset given, else the one the .net file was exported with, else digits."""
    return dataset or net.meta.get("data", {}).get("dataset") or "digits"


def net_test_split(net, where: str, dataset: str | None = None, samples: int | None = None, data_dir=None):
    """The test split (first `samples`) that `net` (read from `where`) runs on,
    checked to fit its input and output."""
    from .data import load_dataset
    from .export.verify import check_dataset_fits

    if net.timesteps < 1:
        raise ConfigError(f"{where}: the file gives no time steps (a plain NetX file?)")
    data = load_dataset(dataset_of(dataset, net), "test", net.layers[0].shape[1], net.timesteps, samples, data_dir)
    check_dataset_fits(net, data, where)
    return data


def run_net(net_path, dataset: str | None = None, samples: int | None = None, backend: str = "lava-cpu",
            batch: int = 32, progress: bool = True, data_dir=None) -> dict:
    """Run the .net file at `net_path` on `backend` over a test split: accuracy,
    exact agreement with the reference executor per sample, speed."""
    from .netfile import read_net
    from .reference import network_inputs
    from .runtime import get_backend
    from .runtime.evaluate import compare, reference_readout, run_dataset

    chosen = get_backend(backend)
    for name, value in (("samples", samples), ("batch", batch)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    net = read_net(net_path)
    data = net_test_split(net, str(net_path), dataset, samples, data_dir)
    # Lava first: its process models are forked before the reference
    # executor's torch twin (bit-identical to the numpy one, tested) runs
    readout, stats = run_dataset(net, data.x, chosen, batch_samples=batch, progress=progress)
    from .export import TorchBackend

    reference = reference_readout(net, network_inputs(net, data.x), TorchBackend)
    return {**stats, **compare(readout, reference, data.y), "net": str(net_path), "dataset": dataset_of(dataset, net)}


def run_pipeline(args, checkpoint=None, lava_samples: int = 64) -> dict:
    """The main job on bundled data: train with `args` (a TrainArgs; or take
    `checkpoint`), evaluate the checkpoint with deployable and float reference
    neurons, export it to OUT/model.net, check the integer network, run it on
    Lava's CPU simulator and compare Lava, the reference executor and torch."""
    from .data import load_dataset
    from .export import export_for_data
    from .export.verify import verify_network
    from .netfile import read_net, write_net
    from .train import evaluate, evaluate_checkpoint, load_model, train

    if lava_samples < 1:
        raise ConfigError(f"lava_samples must be at least 1, got {lava_samples}")
    net_path = f"{args.out}/model.net"
    if checkpoint and same_file(checkpoint, net_path):
        raise OutputError(f"cannot write {net_path}: it is the checkpoint given")
    t0 = time.time()
    if checkpoint:
        best = checkpoint
    else:
        train(args)
        best = f"{args.out}/best.pt"
    deploy = evaluate_checkpoint(best, args.dataset, data_dir=args.data_dir)
    float_ref = evaluate_checkpoint(best, args.dataset, neuron="float", data_dir=args.data_dir)
    model, _ = load_model(best)
    data = load_dataset(args.dataset, "test", model.config["img_size"], model.timesteps, data_dir=args.data_dir)
    write_net(export_for_data(model, data), net_path)
    check = verify_network(read_net(net_path), data, reference_samples=8, progress=args.progress)
    lava = run_net(net_path, args.dataset, lava_samples, "lava-cpu", 32, progress=args.progress,
                   data_dir=args.data_dir)
    torch_subset = evaluate(model, data.head(lava_samples))["accuracy"]
    return {"model": model.config["name"], "dataset": args.dataset, "timesteps": model.timesteps,
            "trained": not checkpoint, "checkpoint": best, "best_epoch": deploy["epoch"],
            "test_accuracy": deploy["accuracy"], "test_firing_rate": deploy["firing_rate"],
            "float_neuron_test_accuracy": float_ref["accuracy"], "net": net_path,
            "quantized_test_accuracy": check["quantized_accuracy"],
            "reference_vs_torch_backend_agreement": check["reference_agreement"],
            "lava": {**lava, "torch_accuracy": torch_subset}, "wall_seconds": time.time() - t0}
