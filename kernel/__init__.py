"""The kernel: settings, canonical schema, value limits, errors and logging.

Every layer imports it (features → training → serving → the `duecast` CLI); it imports
none of them.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
