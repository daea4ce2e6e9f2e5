"""Measurements: reconstruction quality, judged semantics, speed and memory."""
