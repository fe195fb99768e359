"""The demo hospital (``ihis demo``)."""

from ihis.demo.loader import load_demo

__all__ = ["load_demo"]
