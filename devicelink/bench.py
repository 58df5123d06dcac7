"""Timing moves on a phone: shared by `planestrike device bench` and benchmarks/device_link.py."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from devicelink.agent import DeviceAgent


@dataclass(frozen=True)
class MoveTimes:
    round_trip_ms: list[float]  # desktop-side time of each move, transfer and inference included
    inference_us: list[float]  # the inference time the phone reported, where its runner reports one


def time_moves(agent: DeviceAgent, moves: int, seed: int = 0, warm_up: bool = True) -> MoveTimes:
    """Ask the phone for ``moves`` seeded random boards, one at a time, and time each answer."""
    boards = np.random.default_rng(seed).choice(np.array([-1, 0, 0, 0, 1], np.float32), size=(moves, 8, 8))
    if warm_up:
        agent.probabilities(boards[0])  # the first move may start the runner
    round_trips, inference = [], []
    for board in boards:
        start = time.perf_counter()
        agent.probabilities(board)
        round_trips.append((time.perf_counter() - start) * 1000)
        if agent.last_latency_us is not None:
            inference.append(agent.last_latency_us)
    return MoveTimes(round_trips, inference)
