"""--shard I/N: which workspaces this replica polls, by rendezvous hashing of their names.

Each workspace goes to the shard with the highest hash of (name, shard): the assignment needs no
coordination, and adding or removing a workspace moves no other workspace (changing N moves only
about 1/N of them).
"""

from __future__ import annotations

import dataclasses
import hashlib

from exporter.model.config import Config


def owner(name: str, count: int) -> int:
    """The shard (0..count-1) that polls workspace `name`."""
    if count <= 1:
        return 0

    def score(shard: int) -> bytes:
        return hashlib.blake2b(f"{shard}\0{name}".encode(), digest_size=8).digest()

    return max(range(count), key=score)


def assigned(config: Config) -> Config:
    """The config restricted to the workspaces of this replica's shard."""
    if config.shard_count <= 1:
        return config
    mine = tuple(
        w for w in config.workspaces if owner(w.name, config.shard_count) == config.shard_index
    )
    return dataclasses.replace(config, workspaces=mine)


def parse_shard(text: str) -> tuple[int, int]:
    """ "I/N" with 0 <= I < N; raises ValueError."""
    index_text, sep, count_text = text.partition("/")
    if not sep or not index_text.isdigit() or not count_text.isdigit():
        raise ValueError("expected I/N, e.g. 0/3 for the first of three replicas")
    index, count = int(index_text), int(count_text)
    if count < 1 or not 0 <= index < count:
        raise ValueError("needs 0 <= I < N")
    return index, count
