"""A viewer of a live training job for tests without a dashboard: a JobClient in a thread that
keeps every event the job sends."""

from __future__ import annotations

import threading

from waiting import wait_until

from tui_gan.jobs import registry
from tui_gan.jobs.client import JobClient
from tui_gan.training import events as ev


class Viewer:
    """Attached to the job `info` from construction until close(); `client.send` commands it."""

    def __init__(self, info: registry.JobInfo) -> None:
        self.events: list[ev.Event] = []
        self.client = JobClient(self.events.append, info=info)
        self.client.setup()
        self.result: dict = {}
        self.thread = threading.Thread(
            target=lambda: self.result.update(reason=self.client.run()), daemon=True
        )
        self.thread.start()

    def wait(self, test, what: str, timeout: float = 60.0):
        """The first event that passes `test`, once there is one."""
        return wait_until(
            lambda: next((e for e in list(self.events) if test(e)), None),
            lambda: f"{what}; got {[type(e).__name__ for e in self.events][-10:]}",
            timeout,
            interval=0.02,
        )

    def close(self) -> str:
        """Detaches; the JobClient's run() result ("detached", or how the job ended)."""
        self.client.detach()
        self.thread.join(10)
        return self.result.get("reason")
