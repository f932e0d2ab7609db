"""`LintContext`: what a rule may consult besides the graph."""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import Catalog
from .analysis import Analysis
from .config import LintConfig

__all__ = ["LintContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LintContext:
    """The shared analysis of the graph, the user's configuration and the module catalog."""

    analysis: Analysis
    config: LintConfig
    catalog: Catalog
