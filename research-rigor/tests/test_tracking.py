"""W&B: online only with a login and a reachable server, otherwise offline at once, and said.

A run must never wait 30-90 s for a network that is not there, nor crash without one.
"""

import socket
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from research_rigor import tracking
from research_rigor.errors import UserError

LOGIN_VARIABLES = ("WANDB_API_KEY", "WANDB_MODE")
# What a run's provenance record holds, as far as W&B logs it.
RECORD = {key: None for key in tracking.SUMMARY_KEYS} | {
    "mode": "cnn",
    "profile": "fast",
    "seed": 0,
    "metric_version": 3,
    "config": {"seed": 0},
}


@pytest.fixture
def no_login(monkeypatch, tmp_path: Path) -> None:
    """A machine where nobody ran `wandb login`: no key, no ~/.netrc."""
    for name in LOGIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)


def closed_port() -> int:
    """A local port nothing listens on: a connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_auto_without_a_login_goes_offline_without_touching_the_network(no_login, monkeypatch):
    tried: list[tuple] = []  # reachable() connects from a thread: record, do not raise
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kw: tried.append(args))
    mode, reason = tracking.resolve_mode("auto")
    assert mode == "offline" and "wandb login" in reason
    assert tried == []


def test_an_unreachable_server_means_offline():
    assert tracking.reachable("127.0.0.1", closed_port()) is False


def test_wandb_mode_from_the_environment_and_the_command_line_win(no_login, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking.resolve_mode("auto")[0] == "disabled"
    assert tracking.resolve_mode("offline")[0] == "offline"  # logger.mode=offline


def test_an_unknown_mode_is_a_clear_error():
    with pytest.raises(UserError, match=r"logger.mode='onlin': choose one of auto, online"):
        tracking.resolve_mode("onlin")


def test_offline_run_says_how_to_upload_it(no_login, tmp_path, capsys):
    cfg = OmegaConf.create({"logger": {"project": "p", "entity": None, "mode": "auto"}})
    logger = tracking.wandb_logger(cfg, RECORD, tmp_path)
    assert logger is not None  # the run itself starts with the first logged value
    notice = capsys.readouterr().err
    assert notice.startswith("W&B offline: no W&B login found") and "wandb sync" in notice
    assert notice.count("\n") == 1  # one line
    assert logger.version and logger.save_dir == str(tmp_path)


def test_without_wandb_in_the_logger_list_no_wandb_run_starts(tmp_path):
    cfg = OmegaConf.create({"logger": {"csv": {"_target_": "CSVLogger"}}})
    assert tracking.wandb_logger(cfg, record={}, run_dir=tmp_path) is None
