"""Keeping the development processes up (``tessera dev run``): a child that exits on its
own — a crash, an outage it could not ride out — is started again, after a pause that
grows while it keeps failing, instead of the whole stack stopping. Only a child that
keeps dying right after each start (``max_restarts`` within ``window`` seconds) ends the
supervisor, since restarting it again would only repeat the failure.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen
    restarts: list[float] = field(default_factory=list)
    restart_at: float | None = None


class Supervisor:
    def __init__(
        self,
        start: Callable[[str], subprocess.Popen],
        names: list[str],
        *,
        say: Callable[[str], None] = print,
        max_restarts: int = 5,
        window: float = 60.0,
        first_pause: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._start, self._say, self._clock = start, say, clock
        self.max_restarts, self.window, self.first_pause = max_restarts, window, first_pause
        self.children = {name: _Child(name, start(name)) for name in names}

    def processes(self) -> dict[str, subprocess.Popen]:
        return {name: child.proc for name, child in self.children.items()}

    def check(self) -> str | None:
        """Restart what exited (when its pause is over). Returns why to give up, or None."""
        now = self._clock()
        for child in self.children.values():
            code = child.proc.poll()
            if code is None:
                continue
            if child.restart_at is None:
                child.restarts = [t for t in child.restarts if now - t < self.window]
                if len(child.restarts) >= self.max_restarts:
                    return (
                        f"the {child.name} process exited with status {code} {len(child.restarts) + 1} "
                        f"times within {self.window:.0f} s; stopping the rest"
                    )
                pause = self.first_pause * 2 ** len(child.restarts)
                child.restart_at = now + pause
                self._say(
                    f"the {child.name} process exited with status {code}; restarting it in {pause:.1f} s"
                )
            elif now >= child.restart_at:
                child.restarts.append(now)
                child.restart_at = None
                child.proc = self._start(child.name)
                self._say(f"restarted {child.name} (pid {child.proc.pid})")
        return None
