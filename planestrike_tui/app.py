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

from planestrike_tui.malloc_arenas import limit_malloc_arenas
from planestrike_tui.roster import Roster, RosterConfig
from planestrike_tui.screens.agent_dialog import available_choices, choice_title
from planestrike_tui.screens.game import GameScreen


class PlanestrikeApp(App):
    CSS_PATH = Path(__file__).with_name("planestrike.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "Plane Strike"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True),
                Binding("ctrl+s", "save_screenshot", "Screenshot", show=False)]

    def __init__(self, config: RosterConfig | None = None) -> None:
        super().__init__()
        limit_malloc_arenas()  # before the first worker thread: memory stays flat through a talk
        self.roster = Roster(config or RosterConfig())

    def get_default_screen(self) -> Screen:
        return GameScreen(self.roster)

    @property
    def game(self) -> GameScreen:
        return self.screen_stack[0]  # the default screen: every other screen is pushed on top of it

    def on_unmount(self) -> None:
        self.roster.close()

    def action_save_screenshot(self) -> None:
        """ctrl+s: the screen as an SVG (Textual's own screenshot) in the data folder's screenshots/, named by the
        date and time; the path (or why it could not be written) in a toast."""
        from engine.files import write_atomically
        from engine.records import new_screenshot_path

        try:
            path = new_screenshot_path()
            write_atomically(path, self.export_screenshot().encode("utf-8"))
        except Exception as error:  # a full disk, a read-only folder: a toast, never a crash
            if isinstance(error, OSError) and error.strerror:
                reason = f"{error.filename + ': ' if error.filename else ''}{error.strerror}"
            else:
                reason = str(error) or type(error).__name__
            self.notify(f"Screenshot not saved: {' '.join(str(reason).split())[:200]}", severity="error",
                        markup=False)
            return
        self.notify(f"Screenshot saved: {path}", timeout=6, markup=False)

    # -------------------------------------------------------------------------------- commands and screens
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("New game", "Start a new game against the current opponent", self.game.action_new_game)
        game = self.game
        choices = available_choices()  # reads the installed agent kinds: once per palette, not per list
        for spec in choices:
            title = choice_title(spec)
            yield SystemCommand(f"Opponent: {title}", f"Play against {title} (starts a new game)",
                                lambda spec=spec: game.set_opponent(spec))
        yield SystemCommand("Opponent: choose…", "Pick an opponent, a model file, or a phone by its adb serial",
                            game.action_choose_opponent)
        for spec in choices:
            if spec not in self.roster.slots:
                title = choice_title(spec)
                yield SystemCommand(f"Add panel: {title}", f"Show {title}'s answers beside the others",
                                    lambda spec=spec: game.add_panel(spec))
        yield SystemCommand("Add panel: choose…", "Any agent, a model file (a quantized variant) or a phone",
                            game.action_add_panel)
        for spec, slot in self.roster.slots.items():
            if spec not in game.seats:
                yield SystemCommand(f"Remove panel: {slot.title}", f"Close {slot.title} and its panel",
                                    lambda spec=spec: game.remove_panel(spec))
            yield SystemCommand(f"Reference: {slot.title}", f"Compare every other panel with {slot.title}",
                                lambda spec=spec: game.set_reference(spec))
        yield SystemCommand("Difference view", "Show every panel as its difference from the reference panel",
                            game.action_toggle_difference)
        yield SystemCommand("Spectator mode", "Agent against agent, autoplay at an adjustable speed (+/-)",
                            self.game.action_toggle_spectator)
        yield SystemCommand("Place my plane", "Move and turn your plane before the first strike",
                            self.game.action_toggle_placement)
        yield SystemCommand("Numbers", "Cycle what the panels' cells write: log10 p, rank, percent, nothing",
                            self.game.action_toggle_numbers)
        yield SystemCommand("Train a model", "Run `planestrike train` and watch its progress", self.action_train)
        yield SystemCommand("Convert a checkpoint", "Run `planestrike convert` and see its parity report",
                            self.action_convert)
        yield SystemCommand("Load a model file", "A .tflite or a checkpoint, in a panel of its own",
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
        slot = self.game.reload(f"{'tflite' if path.suffix == '.tflite' else 'flax'}:{path}")
        if slot is not None:
            self.notify(f"Loading {path.name} in the panel {slot.title}…")

    def action_devices(self) -> None:
        from planestrike_tui.screens.devices import DevicesScreen

        self.push_screen(DevicesScreen(model=self.active_tflite()), self.device_chosen)

    def active_tflite(self) -> Path | None:
        """The first LiteRT panel's model file (the one pushed to a phone), or None for the bundled model."""
        tflite = self.roster.first_of("tflite")
        if tflite is None or tflite.spec == "tflite":
            return None
        from training.litert_agent import model_path  # no LiteRT import: just the shorthand table

        return model_path(tflite.spec.partition(":")[2])

    def device_chosen(self, choice) -> None:
        """A phone from the devices screen becomes the opponent, or gets a panel beside the others."""
        if choice is None:
            return
        if choice.as_opponent:
            self.game.set_opponent(choice.spec)
        else:
            self.game.reload(choice.spec)

    def activate_models(self, checkpoint: Path, tflite: Path) -> None:
        """Make a trained and converted model the active one: the first Flax and LiteRT panels reload it in
        place, the game goes on."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        for kind, path in (("flax", checkpoint), ("tflite", tflite)):
            current = self.roster.first_of(kind)
            self.game.reload(f"{kind}:{path}", replacing=current.spec if current else None)
        self.notify(f"Now playing with {checkpoint} and {tflite.name}.")

    def add_model_panels(self, models: list[Path]) -> None:
        """Converted models (the variants of one checkpoint) get panels of their own beside the others."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        for model in models:
            self.game.reload(f"tflite:{model}")
