"""Training throughput: this trainer against a reference-style loop, in games per second.

Target (issue 3): ratio >= 80 with a freshly initialised policy. The baseline, measured in the same process, is
the reference trainer's shape: a Python game loop with one jitted forward pass per move, then one jitted
gradient and one optax SGD update per game. Both start from the *same* fresh parameters, and both are re-measured
from them each round, so their games have the same length (about 57 strikes). Then both are measured again from
a trained policy (the bundled checkpoint, about 12 strikes a game), where finished games idle in the trainer's
lockstep batch until the longest one ends.

Compilation is excluded from both (each is warmed up first). The machine is shared and its speed swings by 20-30%
within seconds, so the two are measured in alternating slices of about half a second each, and each side's rate is
its games over its time summed over all slices: both sample the same stretch of load. The per-slice ratios' middle
half is printed as the spread, with the load average. With the fresh policy a third side runs in the same slices:
the trainer's matrix products alone (``ProductsOnly``), whose rate is the ceiling of the trainer's algorithm on this
machine at that moment (``products_only_ratio``: the best ratio it could show). Prints one JSON object as its last
line.

    python benchmarks/train_throughput.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from engine.rules import CELL_COUNT, PLACEMENT_COUNT, PLACEMENTS
from training.config import TrainConfig
from training.incremental_mlp import dense_layers
from training.learner import (BACKWARD_MOVES, TrainState, init_train_state, make_train_chunk, masked_logits,
                              trainer_compiler_options)
from training.checkpoint import load_policy


# Updates per call of the trainer's compiled chunk (its ``max_updates``, so every entry of its metrics is valid).
UPDATES_PER_CALL = 4


class Slice(NamedTuple):
    """One side's share of a measurement: games played, seconds taken, strikes made."""

    games: int
    seconds: float
    strikes: float

    @property
    def games_per_s(self) -> float:
        return self.games / self.seconds

    @property
    def mean_length(self) -> float:
        return self.strikes / self.games


class ReferenceLoop:
    """One game at a time, as the reference trainer plays and learns (SGD 0.005, gamma 0.5, masked sampling)."""

    def __init__(self, config: TrainConfig, seed: int = 0):
        model = config.model.build()
        self.optimizer = optax.sgd(0.005)
        self.rng = np.random.default_rng(seed)

        @jax.jit
        def forward(params, board, uniform):
            # Its own inverse-CDF sampling (not the trainer's), so speeding up the trainer cannot move the baseline.
            raw = model.apply({"params": params}, board, return_logits=True)
            logits = masked_logits(raw, board.reshape(1, -1) == 0)
            cdf = jnp.cumsum(jax.nn.softmax(logits[0]))
            return jnp.minimum(jnp.sum(cdf < uniform[0] * cdf[-1]), CELL_COUNT - 1)

        @jax.jit
        def learn(params, opt_state, boards, actions, returns, valid):
            # Games are padded to 64 moves with a mask so one compiled update serves every game length (kinder to
            # the baseline than the reference, which retraces per length).
            def loss(params):
                logits = model.apply({"params": params}, boards, return_logits=True)
                log_probs = jax.nn.log_softmax(masked_logits(logits, boards.reshape(-1, CELL_COUNT) == 0))
                chosen = jnp.take_along_axis(log_probs, actions[:, None], axis=-1)[:, 0]
                return -jnp.sum(valid * chosen * returns)

            updates, opt_state = self.optimizer.update(jax.grad(loss)(params), opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        self.forward, self.learn = forward, learn

    def play(self, params, seconds: float) -> Slice:
        """Every game starts from ``params``: the update is computed (and waited for) but not carried over, so the
        policy, and with it the game length, stays that of ``params`` however long the measurement runs."""
        opt_state = self.optimizer.init(params)
        games = strikes = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds or games < 2:
            updated, _, length = self._one_game(params, opt_state)
            jax.block_until_ready(updated)
            games, strikes = games + 1, strikes + length
        return Slice(games, time.perf_counter() - start, strikes)

    def _one_game(self, params, opt_state):
        plane = PLACEMENTS.masks[self.rng.integers(PLACEMENT_COUNT)]
        board = np.zeros(CELL_COUNT, np.float32)
        boards = np.zeros((CELL_COUNT, 8, 8), np.float32)
        actions = np.zeros(CELL_COUNT, np.int32)
        rewards = np.zeros(CELL_COUNT, np.float32)
        t = hits = 0
        while hits < 8:
            boards[t] = board.reshape(8, 8)
            uniform = 1.0 - self.rng.random(1, dtype=np.float32)  # numpy: an eager jax.random call costs more
            action = int(self.forward(params, board.reshape(1, 8, 8), uniform))
            hit = bool(plane[action])
            board[action] = 1.0 if hit else -1.0
            actions[t], rewards[t] = action, float(hit)
            hits += hit
            t += 1
        returns = np.zeros(CELL_COUNT, np.float32)
        running = 0.0
        for i in reversed(range(t)):
            running = rewards[i] + 0.5 * running
            returns[i] = running
        valid = (np.arange(CELL_COUNT) < t).astype(np.float32)
        params, opt_state = self.learn(params, opt_state, boards, actions, returns, valid)
        return params, opt_state, t


def train(chunk, start: TrainState, batch_size: int, seconds: float) -> Slice:
    """Chunks of updates, each from the same starting state, so the policy (and game length) stays fixed."""
    games, strikes, began = 0, 0.0, time.perf_counter()
    while time.perf_counter() - began < seconds or games == 0:
        _, metrics = chunk(start, UPDATES_PER_CALL)
        strikes += float(np.sum(metrics.mean_lengths)) * batch_size
        games += UPDATES_PER_CALL * batch_size
    return Slice(games, time.perf_counter() - began, strikes)


def compare(reference: ReferenceLoop, chunk, state: TrainState, batch_size: int, seconds: float,
            products: "ProductsOnly | None" = None, slice_seconds: float = 0.5) -> dict:
    """Alternate slices of the reference loop and the trainer (and of the products-only skeleton, when given), half
    a second each, for ``seconds`` of the first two in all; pool each side's games and time over its slices."""
    sides = {"reference": lambda: reference.play(state.params, slice_seconds),
             "trainer": lambda: train(chunk, state, batch_size, slice_seconds)}
    if products is not None:
        sides["products"] = lambda: products.play(slice_seconds)
    rounds = [{name: measure() for name, measure in sides.items()}
              for _ in range(max(1, round(seconds / slice_seconds / 2)))]
    pooled = {name: Slice(*(sum(column) for column in zip(*(one[name] for one in rounds)))) for name in sides}
    ref, mine = pooled["reference"], pooled["trainer"]
    low, high = np.percentile([one["trainer"].games_per_s / one["reference"].games_per_s for one in rounds], [25, 75])
    result = {"reference_games_per_s": round(ref.games_per_s, 1), "trainer_games_per_s": round(mine.games_per_s),
              "ratio": round(mine.games_per_s / ref.games_per_s, 1),
              "ratio_middle_half_of_slices": [round(low, 1), round(high, 1)], "slices": len(rounds),
              "mean_length_reference": round(ref.mean_length, 2), "mean_length_trainer": round(mine.mean_length, 2)}
    if products is not None:
        result["products_only_games_per_s"] = round(pooled["products"].games_per_s)
        result["products_only_ratio"] = round(pooled["products"].games_per_s / ref.games_per_s, 1)
    return result


class ProductsOnly:
    """The trainer's matrix products for one fresh update, and nothing else: 64 moves of the rollout (every layer
    above the incrementally updated first one, and the sampler's CDF), then the backward pass in blocks (each such
    layer's kernel gradient and the product through it, and the later-move sums), with the trainer's shapes and
    compiler options and only a sum between them to chain them. Its games/s is a ceiling for the trainer's
    algorithm on this machine at this moment, and over the reference loop's rate, the best ratio it could show."""

    def __init__(self, config: TrainConfig, params):
        kernels = [layer["kernel"] for layer in dense_layers(params)][1:]
        self.batch_size = config.batch_size
        rows = config.batch_size * BACKWARD_MOVES
        triangle = jnp.triu(jnp.ones((CELL_COUNT, CELL_COUNT), jnp.float32))
        later = jnp.triu(jnp.ones((BACKWARD_MOVES, BACKWARD_MOVES), jnp.float32), k=1)

        @functools.partial(jax.jit, compiler_options=trainer_compiler_options())
        def update(first_hidden, block_rows):
            def move(_, x):  # each move's products depend on the last move's, as in the rollout
                for kernel in kernels:
                    x = x @ kernel
                return first_hidden + 1e-6 * (x @ triangle).sum()

            carried = jax.lax.fori_loop(0, CELL_COUNT, move, first_hidden)

            def block(_, total):
                grad = block_rows[-1] + total  # [rows, 64]: the logits' gradient
                for kernel, below in zip(reversed(kernels), reversed(block_rows[:-1])):
                    total = total + 1e-6 * (below.T @ grad).sum()
                    grad = grad @ kernel.T
                return total + 1e-6 * (later @ grad.reshape(BACKWARD_MOVES, -1)).sum()

            return jax.lax.fori_loop(0, CELL_COUNT // BACKWARD_MOVES, block, carried.sum())

        widths = [kernel.shape[0] for kernel in kernels] + [CELL_COUNT]
        self.inputs = (jnp.full((config.batch_size, widths[0]), 0.01, jnp.float32),
                       [jnp.full((rows, width), 0.01, jnp.float32) for width in widths])
        self.update = update
        self.play(0.0)  # compile

    def play(self, seconds: float) -> Slice:
        updates, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds or updates == 0:
            self.update(*self.inputs).block_until_ready()
            updates += 1
        games = updates * self.batch_size
        return Slice(games, time.perf_counter() - began, float(games * CELL_COUNT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="measuring time per case, fresh and trained, in alternating half-second slices "
                             "(default: 20)")
    args = parser.parse_args()

    config = TrainConfig()
    fresh = init_train_state(config)
    _, trained_params = load_policy(_bundled())
    trained = fresh._replace(params=jax.tree_util.tree_map(jnp.asarray, trained_params),
                             opt_state=optax.adam(config.learning_rate).init(trained_params))

    reference = ReferenceLoop(config)
    chunk = make_train_chunk(config, UPDATES_PER_CALL)
    for state in (fresh, trained):  # compile everything first
        reference.play(state.params, 0.1)
        jax.block_until_ready(chunk(state, UPDATES_PER_CALL))
    fresh_result = compare(reference, chunk, fresh, config.batch_size, args.seconds, ProductsOnly(config, fresh.params))
    trained_result = compare(reference, chunk, trained, config.batch_size, args.seconds)

    result = {
        "benchmark": "train_throughput",
        "batch_size": config.batch_size,
        **fresh_result,
        "ratio_target": 80,
        **{f"trained_{key}": value for key, value in trained_result.items()},
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))


def _bundled():
    from assets import BUNDLED_CHECKPOINT

    return BUNDLED_CHECKPOINT


if __name__ == "__main__":
    main()
