"""Asked before `q` stops a job that other dashboards are watching too."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmStopScreen(ModalScreen[str]):
    """Dismisses with "stop", "detach" or "cancel"."""

    AUTO_FOCUS = "#cancel"  # enter does nothing harmful

    BINDINGS = [
        Binding("y", "choose('stop')", "Stop training"),
        Binding("d", "choose('detach')", "Detach"),
        Binding("n,escape", "choose('cancel')", "Cancel"),
    ]

    def __init__(self, others: int) -> None:
        super().__init__()
        self.others = others

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Stop training for everyone?"
            viewers = f"{self.others} other viewer{'s are' if self.others != 1 else ' is'}"
            yield Static(
                f"{viewers} watching this run. q stops the training job (with final "
                "checkpoints) for all of them; d only closes this dashboard.",
                id="dialog-message",
            )
            with Horizontal(id="dialog-buttons"):
                yield Button("Stop training (y)", id="stop", variant="error")
                yield Button("Detach (d)", id="detach", variant="primary")
                yield Button("Cancel (n)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
