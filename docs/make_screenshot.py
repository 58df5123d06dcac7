"""Regenerate docs/screenshot.svg: the main screen at 140x45 after three rounds against the bundled Flax model, with
the bundled model's three conversions and the hunter beside it, in the difference view (`f`).

The latencies in it are real, measured on the machine that runs this.

    .venv/bin/python docs/make_screenshot.py
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from planestrike_tui.app import PlanestrikeApp  # noqa: E402
from planestrike_tui.roster import RosterConfig  # noqa: E402
from tui_helpers import wait_for_agents, wait_until  # noqa: E402

OUT = Path(__file__).with_name("screenshot.svg")


async def main() -> None:
    app = PlanestrikeApp(RosterConfig(seed=7, panels=("flax", "tflite", "tflite:float16", "tflite:int8", "hunter")))
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for_agents(pilot)
        game = app.game
        for action in (27, 36, 35):  # D4, E5, E4
            game.strike(action)
            await wait_until(pilot, lambda: game.match.over or game.seats[game.match.to_move] is None, "the answer")
        await wait_for_agents(pilot)
        await pilot.press("f")
        await pilot.pause(6)  # the difference view's notice goes
        app.save_screenshot(filename=OUT.name, path=str(OUT.parent))
    print(OUT)


asyncio.run(main())
