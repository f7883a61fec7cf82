"""aster-mm: a one-symbol market maker for Aster perpetual futures, in layers (see docs/architecture.md)."""

__version__ = "0.5.0"
