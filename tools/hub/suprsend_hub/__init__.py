"""A local emulator of SuprSend's event endpoints (see tools/hub/README.md)."""

__version__ = "1.0.0"
