"""Prompt upsampling: the built-in one reads the world's words into a scene and writes its dense caption; the chat
one talks to an OpenAI-compatible endpoint (a fake local server here, never the network)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from kinema.pipeline.upsample import ChatUpsampler, WorldUpsampler
from kinema.world.caption import MIN_WORDS, word_count


@pytest.fixture(scope="module")
def up():
    return WorldUpsampler()


def test_objects_motions_and_settings_are_read(up):
    scene = up.scene("a small blue square moves left slowly on a white background, camera pans right", 2.0)
    shot = scene.shots[0]
    (o,) = shot.objects
    assert (o.color, o.shape, o.size) == ("blue", "square", "small")
    assert (o.motion.kind, o.motion.direction, o.motion.speed) == ("linear", "left", "slow")
    assert o.x > 0.5  # a leftward mover starts on the right
    assert (shot.background.kind, shot.background.colors) == ("solid", ["white"])
    assert (shot.camera.kind, shot.camera.direction) == ("pan", "right")


def test_events_collisions_and_shapes(up):
    shot = up.scene("a yellow star spins counterclockwise and at 1.5 s turns purple", 3.0).shots[0]
    (star,) = shot.objects
    assert star.motion.kind == "rotate" and star.motion.direction == "counterclockwise"
    assert [(e.kind, e.time, e.color) for e in star.events] == [("color", 1.5, "purple")]
    shot = up.scene("a red ball rolls into a green box", 2.0).shots[0]
    a, b = shot.objects
    assert (a.shape, b.shape) == ("circle", "square")
    assert [(i.kind, i.a, i.b) for i in shot.interactions] == [("collision", a.id, b.id)]
    assert b.x > a.x
    shot = up.scene("a big ball bounces to the right and the ball turns cyan", 2.0).shots[0]
    assert len(shot.objects) == 1 and shot.objects[0].motion.kind == "bounce" and shot.objects[0].motion.vx > 0
    assert shot.background.kind == "floor"


def test_caption_is_dense_and_keeps_the_facts(up):
    text = up("a red ball bounces to the right", 2.0)
    assert word_count(text) >= MIN_WORDS
    for word in ("red", "bounces", "right", "2.0 seconds"):
        assert word in text
    assert up("a red ball bounces to the right", 2.0) == text  # deterministic


def test_unknown_words_and_dense_captions_pass_through(up):
    assert up("a dog runs in the park", 2.0) == "a dog runs in the park"
    dense = up("a red ball bounces to the right", 2.0)
    assert up(dense, 2.0) == dense


class FakeChat(BaseHTTPRequestHandler):
    requests: list = []
    reply: bytes = b""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChat.requests.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(FakeChat.reply)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    srv = HTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    FakeChat.requests = []
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_chat_upsampler_asks_the_endpoint(server):
    FakeChat.reply = json.dumps({"choices": [{"message": {"content": " A dense caption. "}}]}).encode()
    text = ChatUpsampler(server, "tiny-llm", api_key="k1")("a red ball", 3.0)
    assert text == "A dense caption."
    ((path, headers, body),) = FakeChat.requests
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer k1"
    assert body["model"] == "tiny-llm" and body["messages"][0]["role"] == "system"
    assert body["messages"][-1] == {"role": "user", "content": "a red ball (3 seconds)"}
    assert word_count(body["messages"][2]["content"]) >= MIN_WORDS  # the style example is a dense caption


def test_chat_upsampler_errors_are_clear(server):
    FakeChat.reply = b"not json"
    with pytest.raises(ValueError, match="gave no chat reply"):
        ChatUpsampler(server, "m")("a red ball", 2.0)
    FakeChat.reply = json.dumps({"choices": [{"message": {"content": ""}}]}).encode()
    with pytest.raises(ValueError, match="empty caption"):
        ChatUpsampler(server, "m")("a red ball", 2.0)
    with pytest.raises(ValueError, match="expected http"):
        ChatUpsampler("ftp://x", "m")
    with pytest.raises(ValueError, match="cannot be reached"):
        ChatUpsampler("http://127.0.0.1:9", "m", timeout=2)("a red ball", 2.0)
