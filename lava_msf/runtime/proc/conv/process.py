import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_msf.intconv import output_size, pair


class Conv(AbstractProcess):
    """Convolution synapse with Lava's Conv conventions and what the stock one lacks.

    Same layout as lava.proc.conv.Conv: input (W, H, C), weight (out, kW, kH, in),
    kernel flipped (true convolution), one step of delay (sends the previous
    step's sum). Added: `weight_exp` is applied (floor shift, as Lava's Dense),
    graded input when num_message_bits > 0, and a per-output-channel bias.
    Output: sat24(shift(conv(s, W), weight_exp) + bias); with weight_exp 0 and
    no bias this is the stock fixed-point Conv. A dense layer is a Conv whose
    kernel covers its whole input. Stride, padding and dilation: an int or a
    (y, x) pair (lava-msf's order; stock Conv takes (x, y)).

    With `neuron` (a lava_msf.neurons model's parameters) the process is a whole
    layer, synapse and neuron as in a SLAYER block: the delayed sum drives the
    model's step (bias `neuron_bias`, state reset when time_step %
    reset_interval == reset_offset) and a_out carries its output (spikes or
    graded values); the same as Conv -> the model's stock process (LIFReset,
    SigmaDelta...), one process fewer to synchronise each step.
    """

    def __init__(self, *, weight: np.ndarray, input_shape: tuple, weight_exp: int = 0,
                 bias: np.ndarray | None = None, stride=1, padding=0, groups: int = 1, dilation=1,
                 num_message_bits: int = 0, neuron=None, neuron_bias: np.ndarray | None = None,
                 reset_interval: int = 1, reset_offset: int = 0, batch: int = 1, name: str | None = None):
        stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
        super().__init__(name=name, weight_exp=int(weight_exp), stride=stride, padding=padding,
                         groups=int(groups), dilation=dilation, num_message_bits=int(num_message_bits),
                         neuron=neuron, reset_interval=int(reset_interval), reset_offset=int(reset_offset))
        out_c, kw, kh, in_c = weight.shape
        w, h, c = input_shape
        if c != in_c * groups or out_c % groups:
            raise ValueError(f"Conv {name}: weight {weight.shape} does not fit input {input_shape} "
                             f"in {groups} groups")
        out_shape = (int(batch), *reversed(output_size((h, w), (kh, kw), stride, padding, dilation)), out_c)
        self.s_in = InPort(shape=(int(batch), *input_shape))
        self.a_out = OutPort(shape=out_shape)
        self.weight = Var(shape=weight.shape, init=weight)
        self.bias = Var(shape=(out_c,), init=np.zeros(out_c) if bias is None else bias)
        self.neuron_bias = Var(shape=(out_c,), init=np.zeros(out_c) if neuron_bias is None else neuron_bias)
        self.a_buf = Var(shape=out_shape, init=0)
