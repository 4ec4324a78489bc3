"""Checkpoints are written atomically and checked before use."""

import pytest
import torch

from {{ cookiecutter.package_name }} import trainer
from {{ cookiecutter.package_name }}.errors import UserError


def test_a_crash_mid_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = trainer.AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 1}, path)

    def crash_halfway(obj, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(trainer.torch, "save", crash_halfway)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"epoch": 2}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary left


def test_truncated_or_missing_checkpoints_are_refused_by_name(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"weights": torch.zeros(1000)}, path)
    trainer.check_checkpoint(path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(UserError, match=rf"{path} is not a readable checkpoint"):
        trainer.check_checkpoint(path)
    with pytest.raises(UserError, match="no such checkpoint"):
        trainer.check_checkpoint(tmp_path / "missing.ckpt")
