"""Tessera's kernel. It knows nothing about any specialty; plugins bring those."""

__version__ = "0.1.0"
