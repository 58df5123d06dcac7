"""The Plane Strike terminal app: `planestrike` with no arguments.

It plays against the bundled agent out of the box and shows every loaded agent's probabilities side by side.
Nothing heavy is imported here: agents load in thread workers (see screens.game), training and conversion run as
child processes (see jobs), so the first screen is drawn before JAX or TensorFlow is even imported.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from planestrike_tui.roster import Roster, RosterConfig
from planestrike_tui.screens.game import GameScreen


class PlanestrikeApp(App):
    CSS_PATH = Path(__file__).with_name("planestrike.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "Plane Strike"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, config: RosterConfig | None = None) -> None:
        super().__init__()
        self.roster = Roster(config or RosterConfig())

    def get_default_screen(self) -> Screen:
        return GameScreen(self.roster)

    @property
    def game(self) -> GameScreen:
        return self.screen_stack[0]  # the default screen: every other screen is pushed on top of it

    def on_unmount(self) -> None:
        self.roster.close()

    # -------------------------------------------------------------------------------- commands and screens
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("New game", "Start a new game against the current opponent", self.game.action_new_game)
        for spec, title in (("flax", "Flax"), ("tflite", "LiteRT"), ("hunter", "Hunter"), ("random", "Random")):
            yield SystemCommand(f"Opponent: {title}", f"Play against the {title} agent (starts a new game)",
                                lambda spec=spec: self.game.set_opponent(spec))
        yield SystemCommand("Opponent: choose…", "Pick an opponent, or a phone by its adb serial",
                            self.game.action_choose_opponent)
        yield SystemCommand("Spectator mode", "Agent against agent, autoplay at an adjustable speed (+/-)",
                            self.game.action_toggle_spectator)
        yield SystemCommand("Place my plane", "Move and turn your plane before the first strike",
                            self.game.action_toggle_placement)
        yield SystemCommand("Toggle numbers", "Show each cell's probability in the panels",
                            self.game.action_toggle_numbers)
        yield SystemCommand("Train a model", "Run `planestrike train` and watch its progress", self.action_train)
        yield SystemCommand("Convert a checkpoint", "Run `planestrike convert` and see its parity report",
                            self.action_convert)
        yield SystemCommand("Load a model file", "A .tflite for the LiteRT agent, a checkpoint for Flax",
                            self.action_load_model)
        yield SystemCommand("Connect a phone", "Connect over ADB, push the model, play against the phone",
                            self.action_devices)
        yield from super().get_system_commands(screen)

    def action_train(self) -> None:
        from planestrike_tui.screens.training import TrainingScreen

        if not self.is_screen_installed("training"):
            self.install_screen(TrainingScreen(), "training")  # kept: a run goes on while the person plays
        self.switch_to_overlay("training")

    def action_convert(self) -> None:
        self.open_conversion(None)

    def open_conversion(self, checkpoint: Path | None) -> None:
        from planestrike_tui.screens.conversion import ConversionScreen

        if not self.is_screen_installed("conversion"):
            self.install_screen(ConversionScreen(checkpoint), "conversion")
        elif checkpoint is not None:
            self.get_screen("conversion").set_checkpoint(checkpoint)
        self.switch_to_overlay("conversion")

    def switch_to_overlay(self, name: str) -> None:
        """Show an installed screen on top of the game (never two overlays stacked)."""
        while len(self.screen_stack) > 1 and not isinstance(self.screen, GameScreen):
            self.pop_screen()
        self.push_screen(name)

    def action_load_model(self) -> None:
        from planestrike_tui.screens.model_dialog import ModelDialog

        self.push_screen(ModelDialog(), self.model_chosen)

    def model_chosen(self, path: Path | None) -> None:
        if path is None:
            return
        kind = "tflite" if path.suffix == ".tflite" else "flax"
        self.game.reload(f"{kind}:{path}")
        self.notify(f"Loading {path.name} into the {'LiteRT' if kind == 'tflite' else 'Flax'} panel…")

    def action_devices(self) -> None:
        from planestrike_tui.screens.devices import DevicesScreen

        tflite = self.roster.get("tflite")
        argument = tflite.spec.partition(":")[2] if tflite else ""
        self.push_screen(DevicesScreen(model=Path(argument) if argument else None), self.device_chosen)

    def device_chosen(self, choice) -> None:
        """A phone from the devices screen becomes the opponent, or gets a panel beside the others."""
        if choice is None:
            return
        if choice.as_opponent:
            self.game.set_opponent(choice.spec)
        else:
            self.game.reload(choice.spec)

    def activate_models(self, checkpoint: Path, tflite: Path) -> None:
        """Make a trained and converted model the active one: both panels reload it, the game goes on."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.game.reload(f"flax:{checkpoint}")
        self.game.reload(f"tflite:{tflite}")
        self.notify(f"Now playing with {checkpoint} and {tflite.name}.")
