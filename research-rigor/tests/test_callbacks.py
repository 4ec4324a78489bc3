"""Checkpoints are written atomically, checked before use, and carry the random state."""

import io
import random

import numpy as np
import pytest
import torch

from research_rigor import callbacks
from research_rigor.errors import UserError


def test_a_crash_mid_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = callbacks.AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 1}, path)

    def crash_halfway(obj, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(callbacks.torch, "save", crash_halfway)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"epoch": 2}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary left


def test_truncated_or_missing_checkpoints_are_refused_by_name(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"weights": torch.zeros(1000)}, path)
    callbacks.check_checkpoint(path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(UserError, match=rf"{path} is not a readable checkpoint"):
        callbacks.check_checkpoint(path)
    with pytest.raises(UserError, match="no such checkpoint"):
        callbacks.check_checkpoint(tmp_path / "missing.ckpt")


def test_every_generators_state_travels_in_the_checkpoint_as_plain_types():
    """Torch, every CUDA device (none here), numpy and Python: a resumed run draws the same
    batches and dropout masks as one that was never interrupted."""
    callback = callbacks.RunStateInCheckpoint(record={})
    saved: dict = {}
    callback.on_save_checkpoint(None, None, saved)
    assert {"torch", "torch.cuda", "numpy", "python"} <= saved[callbacks.RANDOM_STATE_KEY].keys()
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=True)
    expected = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    torch.manual_seed(1), np.random.seed(1), random.seed(1)  # noqa: NPY002
    callback.on_load_checkpoint(None, None, restored)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])  # noqa: NPY002
    assert random.random() == expected[2]
