"""Weights & Biases: online when it can be, offline at once when not, and what every run logs.

`logger.mode=auto` (the default) goes online only with a login and a reachable
server; otherwise the run is written offline immediately, with no 30-90 s
network wait, and can be uploaded later with `wandb sync`. The project's config
holds W&B's settings at the top of its `logger` group (`project`, `entity`,
`mode`); the run's provenance record gives its name, tags and config.
"""

import netrc
import os
import secrets
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig

from research_rigor import upstream
from research_rigor.errors import UserError

WANDB_HOST = "api.wandb.ai"
HTTPS_PORT = 443
NETWORK_TIMEOUT_S = 2.0  # DNS and connect together; offline is the answer past this
MODES = ("auto", "online", "offline", "disabled")
RUN_ID_FILE = "wandb_run_id"  # a resumed run continues the same W&B run
RUN_ID_BYTES = 4  # 8 hex characters, like W&B's own run ids
SUMMARY_KEYS = (
    "git_commit",
    "git_branch",
    "git_dirty",
    "data_version",
    "data_dvc_md5",
    "metric_name",
    "metric_version",
    "mode",
    "profile",
    "seed",
    "seeds",  # each source's own seed: initialization, data order, augmentation
    "dataset",
)


def has_login() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(WANDB_HOST) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def reachable(host: str = WANDB_HOST, port: int = HTTPS_PORT) -> bool:
    """True when a TCP connection opens within the timeout (DNS included).

    Ours, not `wandb.Settings(init_timeout=...)`: that bounds how long `wandb.init` waits
    before it fails, but never falls back to offline."""
    result: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=NETWORK_TIMEOUT_S).close()
            result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(NETWORK_TIMEOUT_S)
    return bool(result and result[0])


def resolve_mode(requested: str) -> tuple[str, str]:
    """The W&B mode to use and why."""
    if requested not in MODES:
        raise UserError(f"logger.mode={requested!r}: choose one of {', '.join(MODES)}.")
    if requested != "auto":
        return requested, "asked for on the command line or in the config"
    if os.environ.get("WANDB_MODE") in MODES[1:]:
        return os.environ["WANDB_MODE"], "WANDB_MODE is set"
    if not has_login():
        return "offline", "no W&B login found (run `wandb login` to log online)"
    if not reachable():
        return "offline", f"{WANDB_HOST} is not reachable"
    return "online", "logged in and online"


def wandb_logger(cfg: DictConfig, record: dict[str, Any], run_dir: Path) -> WandbLogger | None:
    """A W&B logger whose config carries the provenance, or None when disabled or not chosen
    (`logger=[csv]`)."""
    if "mode" not in cfg.get("logger", {}):
        return None
    import wandb  # only when W&B is chosen: it takes a while to import

    mode, reason = resolve_mode(cfg.logger.mode)
    if mode == "disabled":
        return None
    if mode == "offline":
        print(
            f"W&B offline: {reason}. The run is kept in {run_dir / 'wandb'}; "
            f"upload it later with `wandb sync {run_dir / 'wandb'}/offline-run-*`.",
            file=sys.stderr,
        )
    id_file = run_dir / RUN_ID_FILE
    run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(RUN_ID_BYTES)
    logger = WandbLogger(
        id=run_id,
        resume="allow",
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        name=f"{record['mode']}-{record['profile']}-s{record['seed']}",
        tags=[record["mode"], record["profile"], f"metric-v{record['metric_version']}"],
        group=f"{record['mode']}-{record['profile']}",
        mode=mode,
        save_dir=str(run_dir),
        config={**{key: record.get(key) for key in SUMMARY_KEYS}, "config": record["config"]},
        # Offline, W&B's own lines would repeat the notice above; online, it says where the
        # run is, then keeps to warnings and errors.
        settings=wandb.Settings(silent=mode == "offline", quiet=True),
    )
    # Lightning always passes `anonymous`, a setting W&B has deprecated and warns about.
    upstream.wandb_init_arguments(logger).pop("anonymous", None)
    return logger


def save_run_id(logger: WandbLogger | None, run_dir: Path) -> None:
    """Keep the W&B run id in the run directory, so that `resume=true` continues the same run.

    Called by one process only (rank zero under DDP)."""
    if logger is not None:
        (run_dir / RUN_ID_FILE).write_text(f"{logger.version}\n")
