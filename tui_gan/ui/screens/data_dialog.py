"""Shown when MNIST is missing and cannot be downloaded: say why, offer synthetic digits or quit."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class DataUnavailableScreen(ModalScreen[str]):
    """Dismisses with "synthetic" or "quit"."""

    AUTO_FOCUS = "#synthetic"  # enter takes the offer

    BINDINGS = [
        Binding("s", "choose('synthetic')", "Train on synthetic digits"),
        Binding("q", "choose('quit')", "Quit"),
    ]

    def __init__(self, dataset: str, message: str) -> None:
        super().__init__()
        self.dataset = dataset
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = f"{self.dataset} is not available"
            yield Static(self.message, id="dialog-message", markup=False)
            yield Static(
                "Synthetic digits are drawn procedurally on this machine: no download, "
                "and you can still try every key and architecture.",
                id="dialog-hint",
            )
            with Horizontal(id="dialog-buttons"):
                yield Button("Train on synthetic digits (s)", id="synthetic", variant="primary")
                yield Button("Quit (q)", id="quit", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
