"""The ``--help`` layout both tools share: descriptions and epilogs kept as written, and every
option that has a default saying what it is.

Owns only that formatter; the texts are their commands'.
"""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions kept as written; every option with a default says what it is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS, [], "")
        if shown and action.option_strings and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text
