"""Read what a run logged from an offline W&B run file (`run-<id>.wandb`).

An offline run keeps everything in that binary file: a LevelDB-style log of
W&B's own protobuf records. This reader walks the log framing and lets W&B's
protobuf classes parse each record, so tests check what the run really logged.
"""

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

BLOCK_SIZE = 32 * 1024
FILE_HEADER_SIZE = 7  # ":W&B", magic, version
CHUNK_HEADER = struct.Struct("<IHB")  # crc32, length, chunk type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[wandb_internal_pb2.Record]:
    data = path.read_bytes()
    position, pending = FILE_HEADER_SIZE, b""
    while position + CHUNK_HEADER.size <= len(data):
        left_in_block = BLOCK_SIZE - position % BLOCK_SIZE
        if left_in_block < CHUNK_HEADER.size:  # block trailer: padding
            position += left_in_block
            continue
        _, length, kind = CHUNK_HEADER.unpack_from(data, position)
        position += CHUNK_HEADER.size
        chunk, position = data[position : position + length], position + length
        if kind not in (FULL, FIRST, MIDDLE, LAST):
            return
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def run_summary(path: Path) -> dict[str, Any]:
    """The run's name, tags, config and exit code as logged."""
    summary: dict[str, Any] = {"config": {}, "exit_code": None}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            summary.update(name=record.run.display_name, tags=list(record.run.tags))
            updates = record.run.config.update
        elif kind == "config":
            updates = record.config.update
        elif kind == "exit":
            summary["exit_code"] = record.exit.exit_code
            continue
        else:
            continue
        summary["config"].update({item.key: json.loads(item.value_json) for item in updates})
    return summary
