"""Ready-made column mappings for the exports most accounting systems write.

Each preset is a mapping file (the syntax of `features.mapping`) shipped with the
package: `duecast import DIR --preset NAME` reads DIR with it, exactly as
`--mapping features/presets/NAME.toml` would. A preset's header comment says where its
column names come from; a file whose headings differ (another language, a custom
layout) needs a copy of the preset with its own headings, passed with --mapping.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import ConfigurationError

__all__ = ["PRESETS", "Preset", "list_presets", "preset_path"]

_HERE = Path(__file__).resolve().parent

# name -> one-line description; the files each expects are read from its TOML.
PRESETS: dict[str, str] = {
    "xero": "Xero: the Receivable Invoice Summary report exported to Excel",
    "quickbooks": "QuickBooks Online: the Invoice List report exported as CSV",
    "zoho": "Zoho Invoice / Zoho Books: the Invoices export (one row per line item)",
    "invoice_ninja": "Invoice Ninja: the Invoices and Payments CSV exports",
    "odoo": "Odoo: customer invoices (account.move) and payments (account.payment) "
    "exported to Excel, import-compatible",
    "sap_fi": "SAP FI: customer line items (BSID/BSAD fields, open and cleared) as CSV",
}


@dataclass(frozen=True)
class Preset:
    """One shipped mapping: its name, what it reads, and the files it expects in DIR."""

    name: str
    description: str
    files: tuple[str, ...]
    path: Path


def preset_path(name: str) -> Path:
    """The TOML file of the preset called `name`.

    Raises:
        ConfigurationError: no preset has that name (the message lists them).
    """
    if name not in PRESETS:
        raise ConfigurationError(
            f"unknown preset {name!r}; the presets are {', '.join(sorted(PRESETS))} "
            "(see `duecast import --list-presets`)"
        )
    return _HERE / f"{name}.toml"


def list_presets() -> list[Preset]:
    """Every shipped preset, sorted by name, with the file names it expects."""
    return [
        Preset(name, PRESETS[name], _expected_files(preset_path(name)), preset_path(name))
        for name in sorted(PRESETS)
    ]


def _expected_files(path: Path) -> tuple[str, ...]:
    """The distinct `file` values of a mapping's table sections, in table order."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    files = [
        section["file"]
        for section in data.values()
        if isinstance(section, dict) and isinstance(section.get("file"), str)
    ]
    return tuple(dict.fromkeys(files))
