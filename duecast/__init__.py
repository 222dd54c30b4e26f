"""duecast: late-payment prediction and accounts-receivable decisions.

The `duecast` package is the application on top: the command line (`duecast.cli`),
one module per command group. The pipeline lives in the packages below it, in the one
direction imports flow: `serving` → `training` → `features` → `kernel` (settings,
schema, limits, errors, logging).
"""

from __future__ import annotations

from kernel import __version__

__all__ = ["__version__"]
