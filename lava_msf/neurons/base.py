"""What the neuron models with 0/1 spikes declare alike (lif, rf)."""


class BinarySpikes:
    """A model whose output is a 0/1 spike: not graded, no value shift downstream, bound 1."""

    @staticmethod
    def graded(p) -> bool:
        return False

    @staticmethod
    def value_shift(p) -> int:
        return 0

    @staticmethod
    def output_bound(p) -> int:
        return 1
