"""A closed Lava session takes back the console handlers Lava added to the
logging tree (one per process and per compiler, which Lava never removes:
the build/run/stop soak's object count grew by 672 a cycle), and nothing else."""

import logging

import numpy as np

from lava_msf.runtime import LavaRunner
from lava_msf.runtime.runner import LAVA_LOGGERS
from small_nets import small_net


def _handlers():
    return {name: list(logging.getLogger(name).handlers) for name in LAVA_LOGGERS}


def test_sessions_leave_the_logging_tree_as_they_found_it():
    x = (np.random.default_rng(0).random((2, 2, 6, 6, 3)) < 0.5).astype(np.int64)
    before, mine = _handlers(), logging.StreamHandler()
    try:
        for _ in range(2):
            with LavaRunner(small_net(), "lava-cpu", batch_samples=2) as runner:
                grown = sum(map(len, _handlers().values())) - sum(map(len, before.values()))
                assert grown >= len(small_net().layers)  # Lava's, one per process at least
                logging.getLogger().addHandler(mine)  # the program's own, added mid-session
                runner.run(x)
            assert _handlers() == {**before, "": before[""] + [mine]}
            logging.getLogger().removeHandler(mine)
    finally:
        logging.getLogger().removeHandler(mine)
