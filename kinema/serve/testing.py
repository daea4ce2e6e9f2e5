"""A live server on a free loopback port, in a thread: for tests, the load test and demos."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn

from kinema.serve.app import Settings, create_app
from kinema.serve.generate import Generator


class LiveServer:
    """`with LiveServer(settings, make_generator) as url:` serves on 127.0.0.1:<free port> until the block ends."""

    def __init__(self, settings: Settings, make_generator: Callable[[int], Generator], start_workers: bool = True):
        self.app = create_app(settings, make_generator, start_workers)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *_) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
