"""The pluggy markers of the ``tessera`` project.

``hookspec`` is pluggy's marker with one addition: ``@hookspec(robust=True)`` marks a hook
whose implementations contribute or hear of something but decide nothing (navigation,
panels, worklist entries). The kernel calls such a hook plugin by plugin, and one plugin's
exception is logged, recorded for the platform operator and skipped instead of failing
the page (``core.plugins.failures``). Hooks without it fail closed: a veto, or work that
must commit together with the change, aborts on the first exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "tessera"

#: the attribute ``@hookspec(robust=True)`` sets on the spec function
ROBUST_ATTRIBUTE = "tessera_robust"


class _HookspecMarker(pluggy.HookspecMarker):
    def __call__(  # type: ignore[override]
        self, function: Callable[..., Any] | None = None, *, robust: bool = False, **opts: Any
    ) -> Any:
        def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
            marked = pluggy.HookspecMarker.__call__(self, fn, **opts)
            setattr(marked, ROBUST_ATTRIBUTE, robust)
            return marked

        return mark(function) if function is not None else mark


hookspec = _HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
