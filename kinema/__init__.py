"""Kinema: an open text-to-video system."""

__version__ = "0.1.0"
