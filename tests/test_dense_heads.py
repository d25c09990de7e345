"""Detection and segmentation heads: the torch models in both neuron modes,
the host-side decode, the export to the integer graph and the .net file, and
the Lava backends bit-exact against the reference executor."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lava_msf.errors import ConfigError
from lava_msf.export import TorchBackend, export_network
from lava_msf.model import create_model, list_models, model_config
from lava_msf.netfile import read_net, write_net
from lava_msf.reference import Executor, NumpyBackend, network_inputs
from lava_msf.runtime import LavaRunner
from lava_msf.tasks import detection, segmentation
from lava_msf.train import TrainArgs, calibrate_batchnorm
from lava_msf.train.checkpoint import load_model
from lava_msf.train.dense import detection_loss, detection_targets, one_cycle, train_dense, train_dense_run

RNG = np.random.default_rng(19)
SMALL = dict(embed_dim=(8, 16, 16, 16), depths=(1, 1, 1, 1, 1), heads=2, decoder_width=8)


def canvases(n, size):
    """Sparse random canvases with one bright square each (box xyxy, label)."""
    x = (RNG.random((n, 1, size, size)) < 0.1).astype(np.float32)
    boxes, labels = [], []
    for i in range(n):
        s = int(RNG.integers(size // 4, size // 2))
        y0, x0 = RNG.integers(0, size - s, 2)
        x[i, 0, y0:y0 + s, x0:x0 + s] = 1.0
        boxes.append(np.array([[x0, y0, x0 + s, y0 + s]], np.float32))
        labels.append(np.array([i % 10]))
    return x, boxes, labels


def small_model(task, img_size=16, timesteps=2, **kw):
    torch.manual_seed(0)
    model = create_model("msf_tiny", task=task, img_size=img_size, timesteps=timesteps, **SMALL, **kw)
    return calibrate_batchnorm(model, canvases(16, img_size)[0])


def test_registry_names_and_tasks():
    names = set(list_models())
    for size in ("msf_15m", "msf_8_384", "msf_8_512", "msf_8_768", "msf_tiny"):
        assert {f"{size}_det", f"{size}_seg"} <= names
    assert model_config("msf_15m_det")["task"] == "detect" and model_config("msf_tiny_seg")["task"] == "segment"
    with pytest.raises(ConfigError, match="task"):
        create_model("msf_tiny", task="track")


@pytest.mark.parametrize("neuron", ["deploy", "float"])
@pytest.mark.parametrize("task, channels", [("detect", 14), ("segment", 11)])
def test_heads_give_one_stride_4_map_and_train(task, channels, neuron):
    model = create_model("msf_tiny", task=task, img_size=32, timesteps=2, neuron=neuron, **SMALL)
    x = torch.from_numpy(canvases(2, 32)[0])
    y = model(x)
    assert y.shape == (2, channels, 8, 8)
    y.square().mean().backward()
    for name in ("head.lateral4.conv.weight", "head.up16.up.weight", "stem.conv.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_detection_decode_inverts_encode():
    boxes = np.array([[4, 6, 20, 30], [30, 30, 60, 50], [33, 2, 41, 12]], np.float32)
    labels = np.array([3, 7, 3])
    heat, box, mask = detection.encode(boxes, labels, 10, (16, 16), 4)
    assert mask.sum() == 3 and heat.max() == 1.0 and (heat == 1.0).sum() == 3
    logits = np.log(np.clip(heat, 1e-6, 1 - 1e-6) / (1 - np.clip(heat, 1e-6, 1 - 1e-6)))
    out_boxes, scores, out_labels = detection.decode(np.concatenate([logits, box]), 10, 4, score_threshold=0.9)
    assert len(out_boxes) == 3 and np.all(scores > 0.99)
    order = np.lexsort((out_boxes[:, 0], out_labels))
    np.testing.assert_allclose(out_boxes[order], boxes[np.lexsort((boxes[:, 0], labels))], atol=1e-3)
    np.testing.assert_array_equal(out_labels[order], np.sort(labels))


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float64)
    np.testing.assert_array_equal(detection.nms(boxes, np.array([0.5, 0.9, 0.7])), [1, 2])
    np.testing.assert_array_equal(detection.nms(boxes, np.array([0.5, 0.9, 0.7]), iou=0.9), [1, 2, 0])


def test_segmentation_upsampling_is_torch_bilinear():
    logits = RNG.normal(size=(2, 11, 8, 6))
    expected = F.interpolate(torch.from_numpy(logits), size=(32, 24), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(segmentation.upsample(logits, (32, 24)), expected.numpy(), atol=1e-9)
    assert segmentation.predict_masks(logits, (32, 24)).shape == (2, 32, 24)


@pytest.mark.parametrize("task", ["detect", "segment"])
def test_export_reference_torch_and_file_agree(task, tmp_path):
    model = small_model(task)
    net = export_network(model)
    assert net.meta["task"] == task and net.meta["output_stride"] == 4
    assert {"convT", "merge"} <= {layer.type for layer in net.layers}
    assert net.output.shape == (14 if task == "detect" else 11, 4, 4)
    frames = network_inputs(net, canvases(4, 16)[0])
    probes = {}
    out = Executor(net, NumpyBackend).run(frames, probes)
    np.testing.assert_array_equal(out, Executor(net, TorchBackend).run(torch.from_numpy(frames)).numpy())
    for name in ("head.up8.sn", "head.head.sn1"):
        assert 0 < np.stack(probes[name]).mean() < 1, name  # the decoder's neurons spike, not always
    write_net(net, tmp_path / "dense.net")
    np.testing.assert_array_equal(Executor(read_net(tmp_path / "dense.net")).run(frames), out)


@pytest.mark.parametrize("backend", ["lava-cpu", "lava-cpu-fused", "lava-cpu-decomposed"])
def test_lava_backends_equal_reference(backend):
    net = export_network(small_model("segment"))
    frames = network_inputs(net, canvases(1, 16)[0])
    ref = Executor(net).run(frames)
    with LavaRunner(net, backend, batch_samples=1) as runner:
        out, _ = runner.run(frames)
    assert ref.min() < 0 < ref.max()
    np.testing.assert_array_equal(out, ref)


def test_train_command_path_writes_a_checkpoint(tmp_path):
    args = TrainArgs(model="msf_tiny_seg", dataset="digits-scenes", out=str(tmp_path), epochs=1, batch_size=8,
                     img_size=16, limit_train=8, limit_test=2, progress=False)
    metrics = train_dense_run(args)
    assert metrics["task"] == "segment" and 0 <= metrics["miou"] <= 1
    model, _ = load_model(tmp_path / "last.pt")
    assert model.config["task"] == "segment" and model(torch.zeros(1, 1, 16, 16)).shape == (1, 11, 4, 4)


def test_last_step_readout():
    """readout 'last' (moving objects): torch's forward() and the host's
    readout_values both take the last step only; a classifier refuses it."""
    from lava_msf.tasks import readout_values

    model = create_model("msf_tiny_det", img_size=32, timesteps=3, in_channels=2, num_classes=2, readout="last",
                         **SMALL).eval()
    x = torch.from_numpy((RNG.random((2, 2, 32, 32, 3)) < 0.2).astype(np.float32))
    with torch.no_grad():
        assert torch.equal(model(x), model.forward_steps(x)[..., -1])
    out = RNG.integers(-500, 500, (2, 6, 8, 8, 3))
    meta = {"config": model.config, "readout_scale": 1 / 64}
    assert np.array_equal(readout_values(meta, out), out[..., -1] / 64)
    assert np.array_equal(readout_values({**meta, "config": {}}, out), out.sum(-1) / 64 / 3)
    with pytest.raises(ConfigError, match="mean over T"):
        model_config("msf_tiny", readout="last")


def test_class_term_penalizes_the_wrong_class_at_centers():
    boxes, labels = [np.array([[4, 4, 12, 12]], np.float32)], [np.array([3])]
    targets = detection_targets(boxes, labels, 10, (4, 4), 4)
    heat = targets[0].clamp(1e-4, 1 - 1e-4)
    right = torch.cat([torch.logit(heat), targets[1]], 1)
    wrong = right.clone()
    wrong[:, [3, 5]] = wrong[:, [5, 3]]  # the center's evidence on class 5
    assert detection_loss(right, targets) + 5 < detection_loss(wrong, targets)


def test_one_cycle_warms_up_then_anneals_to_zero():
    assert one_cycle(0.0) == pytest.approx(0.04) and one_cycle(0.1) == pytest.approx(1.0)
    assert one_cycle(0.55) == pytest.approx(0.5) and one_cycle(1.0) == pytest.approx(0.0, abs=1e-12)


def test_wall_clock_budget_ends_training():
    from lava_msf.data.scenes import load_scenes
    model = create_model("msf_tiny_seg", img_size=16, **SMALL)
    losses = train_dense(model, load_scenes("digits-scenes", "train", 16, 2, limit=8), batch_size=4, minutes=0.02,
                         progress=False)
    assert len(losses) >= 1 and np.isfinite(losses).all()
