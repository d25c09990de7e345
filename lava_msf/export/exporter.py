"""Meta-SpikeFormer (torch, eval mode) -> lava_msf.graph.Network.

Every synapse's float weight W and bias b are first expressed so that the
layer's output current equals W * input + b in units of the deployable SN's
input X / tau: BatchNorm folded in, RepConv fused, 1/tau folded into every
layer that feeds a neuron or the residual stream, the pixel scale 256/255 (8-bit
pixels read as x / 256) folded into the stem, SDSA's scale folded into an
integer per coincidence count. Then weights are quantized to Loihi's 8-bit mixed-sign weights (even
integers in [-256, 254]) with one exponent per layer, biases to integer current
units (1/64).
"""

import numpy as np
import torch

from .. import fixedpoint as fx
from ..errors import ConfigError
from ..graph import Layer, Network
from ..layers.convT import output_size
from ..layers.synapse import quantize_bias, quantize_weight
from ..model.heads import OUTPUT_STRIDE, DenseMetaSpikeFormer, FPNDecoder, Upsample
from ..model.layers import SDSA, ConvBlock, Downsample, RepConv, SepConv, TransformerBlock, bn_scale_shift
from ..model.metaspikeformer import MetaSpikeFormer
from ..reference import Executor, network_inputs, predictions
from .torch_backend import TorchBackend

IMAGE_LEVELS = 255  # 8-bit input pixels ...
IMAGE_SHIFT = 8  # ... read as x / 256 by the stem (a graded-input shift, like NetX's spike_exp)
MEAN_SHIFT = 16


def _lif(sn) -> fx.LifParams:
    return fx.LifParams.from_threshold(sn.threshold)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def _fold(w, b, norm, scale: float, input_scale: float = 1.0):
    """Conv weight (out, in, kh, kw) and bias, then BN (if any), times `scale`,
    for inputs in units of `input_scale`: float numpy (weight, bias)."""
    w, b = w.detach().double(), b.detach().double()
    if norm is not None:
        a, shift = (t.detach().double() for t in bn_scale_shift(norm))
        w, b = w * a.view(-1, 1, 1, 1), b * a + shift
    return _np(w * scale * input_scale), _np(b * scale)


def _conv_bn(conv, norm, scale: float, input_scale: float = 1.0):
    w = conv.weight[..., 0]
    b = conv.bias if conv.bias is not None else torch.zeros(w.shape[0])
    return _fold(w, b, norm, scale, input_scale)


def _repconv_bn(rep: RepConv, norm, scale: float):
    return _fold(*rep.fuse(), norm, scale)


class _Builder:
    def __init__(self, model: MetaSpikeFormer):
        self.model = model
        self.layers: list[Layer] = []
        self.inv_tau = 1.0 / fx.TAU
        self.errors: dict = {}  # per-layer quantization error, for the report
        # spiking layer -> the torch module whose spikes it is (rates of the torch model)
        self.spike_modules: dict = {}
        self._names = {id(mod): name for name, mod in model.named_modules()}

    def add(self, layer: Layer) -> int:
        self.layers.append(layer)
        return len(self.layers) - 1

    def shape(self, i):
        return self.layers[i].shape

    def synapse(self, name, src, weight, bias, kind="conv", stride=1, padding=0, groups=1, sn=None):
        mant, exp = quantize_weight(weight)
        q = mant * 2.0 ** exp / fx.WEIGHT_SCALE
        bias_q = None if bias is None else quantize_bias(bias)
        self.errors[name] = {
            "weight_exp": exp,
            "weight_rel_error": float(np.linalg.norm(q - weight) / max(np.linalg.norm(weight), 1e-30)),
            "bias_max_error": 0.0 if bias is None else float(np.abs(bias_q / fx.WEIGHT_SCALE - bias).max()),
        }
        c_out = weight.shape[0]
        if kind == "conv":
            _, h, w = self.shape(src)
            shape = (c_out, *[(n + 2 * padding - weight.shape[2]) // stride + 1 for n in (h, w)])
            attrs = {"stride": stride, "padding": padding, "groups": groups}
        elif kind == "convT":  # weight (in, out, k, k)
            c_out = weight.shape[1]
            shape = (c_out, *output_size(self.shape(src)[1:], weight.shape[2:], (stride,) * 2, (0, 0), (1, 1)))
            attrs = {"stride": stride}
        else:
            shape, attrs = (c_out, 1, 1), {}
        return self.add_spiking(Layer(name, kind, shape, (src,), None if sn is None else _lif(sn), mant, exp,
                                      bias_q, attrs), sn)

    def add_spiking(self, layer: Layer, module) -> int:
        if module is not None:
            self.spike_modules[layer.name] = self._names[id(module)]
        return self.add(layer)

    def conv(self, name, src, conv, norm, sn=None, scale=None, input_scale=1.0):
        w, b = _conv_bn(conv, norm, self.inv_tau if scale is None else scale, input_scale)
        return self.synapse(name, src, w, b if (conv.bias is not None or norm is not None) else None,
                            stride=conv.stride[0], padding=conv.padding[0], groups=conv.groups, sn=sn)

    def neuron(self, name, src, sn):
        return self.add_spiking(Layer(name, "neuron", self.shape(src), (src,), _lif(sn)), sn)

    def merge(self, name, a, b):
        return self.add(Layer(name, "merge", self.shape(a), (a, b)))

    # --- blocks -------------------------------------------------------------
    def downsample(self, name, src, ds: Downsample):
        if ds.sn is not None:
            src = self.neuron(f"{name}.sn", src, ds.sn)
        return self.conv(f"{name}.conv", src, ds.conv, ds.bn)

    def sepconv(self, name, u, m: SepConv):
        s1 = self.neuron(f"{name}.sn1", u, m.sn1)
        s2 = self.conv(f"{name}.pw1", s1, m.pw1, m.bn1, m.sn2)
        # the depthwise output is an intermediate current: no 1/tau (pw2 carries it)
        d = self.conv(f"{name}.dw", s2, m.dw, None, scale=1.0)
        return self.conv(f"{name}.pw2", d, m.pw2, m.bn2)

    def two_layer(self, name, u, m, first, second):
        """SN -> conv + BN + SN -> conv + BN (ChannelConv, ChannelMLP)."""
        s1 = self.neuron(f"{name}.sn1", u, m.sn1)
        s2 = self.conv(f"{name}.{first}", s1, getattr(m, first), m.bn1, m.sn2)
        return self.conv(f"{name}.{second}", s2, getattr(m, second), m.bn2)

    def sdsa(self, name, u, m: SDSA):
        s = self.neuron(f"{name}.sn", u, m.sn)
        qkv = []
        for part in "qkv":
            w, b = _repconv_bn(getattr(m, f"{part}_conv"), getattr(m, f"{part}_bn"), self.inv_tau)
            qkv.append(self.synapse(f"{name}.{part}", s, w, b, padding=1, sn=getattr(m, f"{part}_sn")))
        scale = m.scale * self.inv_tau * fx.WEIGHT_SCALE
        if scale != round(scale):
            raise ConfigError(f"{name}: SDSA scale {m.scale} does not give an integer count weight")
        attn = self.add_spiking(Layer(f"{name}.attention", "sdsa", self.shape(s), tuple(qkv), _lif(m.attn_sn),
                                      attrs={"variant": m.variant, "heads": m.heads, "scale": int(round(scale))}), m)
        w, b = _repconv_bn(m.proj_conv, m.proj_bn, self.inv_tau)
        return self.synapse(f"{name}.proj", attn, w, b, padding=1)

    def block(self, name, u, blk):
        if isinstance(blk, ConvBlock):
            u = self.merge(f"{name}.merge1", u, self.sepconv(f"{name}.sepconv", u, blk.sepconv))
            branch = self.two_layer(f"{name}.channel_conv", u, blk.channel_conv, "conv1", "conv2")
            return self.merge(f"{name}.merge2", u, branch)
        if isinstance(blk, TransformerBlock):
            u = self.merge(f"{name}.merge1", u, self.sdsa(f"{name}.sdsa", u, blk.sdsa))
            return self.merge(f"{name}.merge2", u, self.two_layer(f"{name}.mlp", u, blk.mlp, "fc1", "fc2"))
        return self.downsample(name, u, blk)

    def upsample(self, name, src, m: Upsample):
        """SN -> convT + BN; BN folds per output channel, the convT's weight axis 1."""
        w, b = _fold(m.up.weight.transpose(0, 1), m.up.bias, m.bn, self.inv_tau)
        return self.synapse(f"{name}.up", self.neuron(f"{name}.sn", src, m.sn), w.transpose(1, 0, 2, 3), b,
                            kind="convT", stride=m.up.stride)

    def fpn(self, name, stages, d: FPNDecoder) -> None:
        """The FPN decoder on the stride 4, 8, 16 streams; levels meet by membrane shortcuts."""
        u4, u8, u16 = stages
        p16 = self.downsample(f"{name}.lateral16", u16, d.lateral16)
        p8 = self.merge(f"{name}.p8", self.downsample(f"{name}.lateral8", u8, d.lateral8),
                        self.upsample(f"{name}.up16", p16, d.up16))
        p4 = self.merge(f"{name}.p4", self.downsample(f"{name}.lateral4", u4, d.lateral4),
                        self.upsample(f"{name}.up8", p8, d.up8))
        h = d.head
        s = self.conv(f"{name}.head.conv", self.neuron(f"{name}.head.sn1", p4, h.sn1), h.conv, h.bn, h.sn2)
        self.conv(f"{name}.head.out", s, h.out, None, scale=1.0)  # the readout feeds no neuron: no 1/tau

    def build(self, image_input: bool) -> Network:
        m = self.model
        c, h, w = m.input_shape()
        x = self.add(Layer("input", "input", (c, h, w),
                           attrs={"value_shift": IMAGE_SHIFT if image_input else 0}))
        u = self.conv("stem.conv", x, m.stem.conv, m.stem.bn,
                      input_scale=2.0 ** IMAGE_SHIFT / IMAGE_LEVELS if image_input else 1.0)
        stages = {}
        for stage in ("stage1", "stage2", "stage3", "stage4"):
            for j, blk in enumerate(getattr(m, stage)):
                u = self.block(f"{stage}.{j}", u, blk)
            stages[stage] = u
        meta = {"config": dict(m.config), "input": "image" if image_input else "frames",
                "input_levels": IMAGE_LEVELS if image_input else 1,
                # readout = logits * 64 (the head's last synapse feeds no neuron: no 1/tau)
                "readout_scale": 1.0 / fx.WEIGHT_SCALE,
                "quantization": self.errors,
                "spike_modules": self.spike_modules}
        if isinstance(m, DenseMetaSpikeFormer):
            self.fpn("head", (stages["stage1"], stages["stage2"], stages["stage4"]), m.head)
            meta.update(task=m.config["task"], output_stride=OUTPUT_STRIDE)
            return Network(self.layers, m.timesteps, meta).validate(m.config["name"])
        tokens = self.shape(u)[1] * self.shape(u)[2]
        mean = self.add(Layer("head.mean", "mean", (self.shape(u)[0], 1, 1), (u,),
                              attrs={"scale_mant": round((1 << MEAN_SHIFT) / tokens), "scale_shift": MEAN_SHIFT}))
        s = self.neuron("head.sn", mean, m.head.sn)
        fc = m.head.fc
        self.synapse("head.fc", s, _np(fc.weight[:, :, 0, 0, 0]), _np(fc.bias), kind="dense")
        return Network(self.layers, m.timesteps, meta).validate(m.config["name"])


def export_network(model: MetaSpikeFormer, image_input: bool | None = None) -> Network:
    """The deployable integer graph of a model (eval-mode BatchNorm statistics)."""
    model = model.eval()
    if image_input is None:
        image_input = model.config["in_channels"] != 2
    with torch.no_grad():
        return _Builder(model).build(image_input)


def export_for_data(model: MetaSpikeFormer, data) -> Network:
    """export_network, with the data's description (dataset, classes, event bin
    length) in the meta, for `run`, `report` and `stream`."""
    net = export_network(model)
    # an event scene split's per-recording scenes are its targets, not a description
    net.meta["data"] = {"dataset": data.name, **{k: v for k, v in data.info.items() if k != "scenes"}}
    return net


def evaluate_network(net: Network, data, batch_size: int = 64) -> dict:
    """Accuracy of the integer network (torch backend) on a dataset split:
    prediction = argmax of the readout summed over T."""
    executor = Executor(net, TorchBackend)
    correct = 0
    for i in range(0, len(data), batch_size):
        frames = torch.from_numpy(network_inputs(net, data.x[i:i + batch_size]))
        correct += int((predictions(executor.run(frames).numpy()) == data.y[i:i + batch_size]).sum())
    return {"accuracy": correct / max(1, len(data)), "samples": len(data)}
