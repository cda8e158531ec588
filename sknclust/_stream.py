"""What ``partial_fit`` carries from one chunk to the next, beside the network."""

import numpy as np


class StreamState:
    """Position of a stream of ``partial_fit`` calls.

    Holds the seed the calls derive theirs from, how many calls and optimiser
    steps were taken (schedules such as a warm-up or an annealed temperature
    follow the steps), each training phase's optimiser state, and whatever an
    estimator keeps between chunks in :attr:`extra` (numpy values only, so the
    estimator pickles for any device).
    """

    def __init__(self, seed: int, n_steps: int = 0):
        self.seed = int(seed)
        self.n_calls = 0
        self.n_steps = int(n_steps)
        self.optimizers: dict = {}
        self.extra: dict = {}

    def call_seed(self) -> int:
        """Seed of the current call: different for every call, reproducible."""
        state = np.random.SeedSequence([self.seed, self.n_calls]).generate_state(1)
        return int(state[0] >> 1)
