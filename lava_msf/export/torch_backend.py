"""Torch backend of the reference executor: the same integer semantics, batched
(float64 convs, exact for integers below 2**53)."""

import numpy as np
import torch
import torch.nn.functional as F

from ..intconv import pair


class TorchBackend:
    @staticmethod
    def zeros(shape):
        return torch.zeros(shape, dtype=torch.int64)

    @staticmethod
    def asint(x):
        return torch.as_tensor(np.asarray(x), dtype=torch.int64)

    @staticmethod
    def conv(w, stride, padding, groups, dilation=1):
        w, stride, padding, dilation = w.double(), pair(stride), pair(padding), pair(dilation)
        return lambda x: torch.round(F.conv2d(x.double(), w, stride=stride, padding=padding, dilation=dilation,
                                              groups=groups)).long()

    @staticmethod
    def conv_transpose(w, stride, padding, dilation, groups):
        w, stride, padding, dilation = w.double(), pair(stride), pair(padding), pair(dilation)
        return lambda x: torch.round(F.conv_transpose2d(x.double(), w, stride=stride, padding=padding,
                                                        groups=groups, dilation=dilation)).long()

    @staticmethod
    def linear(w):
        w = w.double().T
        return lambda x: torch.round(x.double() @ w).long()

    @staticmethod
    def matmul(a, b):
        return torch.round(torch.matmul(a.double(), b.double())).long()

    @staticmethod
    def sum(x, axes):
        return x.sum(dim=axes)

    @staticmethod
    def stack(xs):
        return torch.stack(xs, dim=-1)

    @staticmethod
    def concat(xs):
        return torch.cat(xs, dim=1)

    @staticmethod
    def from_bool(s):
        return s.long()
