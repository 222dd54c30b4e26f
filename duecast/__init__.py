"""duecast: late-payment prediction and accounts-receivable decisions.

The `duecast` package is the shared kernel (settings, schema, errors, logging) and
the command line. The pipeline lives in the top-level packages `features`,
`training` and `serving`.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
