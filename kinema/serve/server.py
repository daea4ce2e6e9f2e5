"""Run the app with uvicorn: loopback-only without API keys, one generator per worker (one worker per GPU)."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable

import uvicorn

from kinema.serve.app import Settings, create_app
from kinema.serve.generate import Generator

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_host(host: str, api_keys: tuple[str, ...]) -> tuple[str, str | None]:
    """The host to bind and, when it differs from the one asked for, why: no keys means loopback only."""
    if api_keys or is_loopback(host):
        return host, None
    return LOOPBACK, f"no API keys configured: listening on {LOOPBACK} only, not {host} (pass --api-key to open it)"


def run(
    settings: Settings,
    make_generator: Callable[[int], Generator],
    host: str = LOOPBACK,
    port: int = 8000,
    sock: socket.socket | None = None,
    log_level: str = "info",
) -> None:
    """Serve until interrupted. `sock`: an already bound socket (tests bind port 0 and pass it)."""
    host, note = bind_host(host, settings.api_keys)
    if note:
        logging.getLogger("kinema.serve").warning(note)
    app = create_app(settings, make_generator)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    server.run(sockets=[sock] if sock else None)
