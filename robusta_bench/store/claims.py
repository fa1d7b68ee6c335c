"""Leases on videos, so that concurrent runs do each video's work at most once.

Before a writer decodes a video for a group it *claims* it: under the group's
lock it creates ``claims/<video>.json`` holding its writer id, host, pid and
an expiry time. Another writer that finds a claim skips that (video, group)
while the claim is live: its writer still holds its lease
(:func:`~.locks.writer_alive`) and the expiry has not passed. A claim of a
dead writer, or an expired one, is taken over. A claim is removed when the
video is committed or has failed; claims left by killed writers are taken over
or removed by the next run.

The expiry (``lease_s``, default 6 h) is only the fallback for a writer whose
lease cannot be checked (a file system without working locks); a live lease
always wins while it has not expired.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from urllib.parse import quote

from .commit import LOCK_FILE
from .locks import file_lock, writer_alive

CLAIMS_DIR = "claims"
DEFAULT_LEASE_S = 6 * 3600.0


def claim_path(gdir: Path, video: str) -> Path:
    """Where a group's claim on ``video`` lives (the name is percent-encoded to be file-name safe)."""
    return gdir / CLAIMS_DIR / f"{quote(video, safe='')}.json"


def read_claim(path: Path) -> dict | None:
    """A claim's content (None when missing or torn)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def claim_live(store_root: Path, claim: dict | None, now: float | None = None) -> bool:
    """Whether a claim still binds: its writer is alive and it has not expired."""
    if not claim:
        return False
    now = time.time() if now is None else now
    if float(claim.get("expires", 0)) < now:
        return False
    return writer_alive(store_root, str(claim.get("writer", "")))


def try_claim(store_root: Path, gdir: Path, video: str, writer: str, lease_s: float = DEFAULT_LEASE_S) -> str | None:
    """Claim ``video`` in a group for ``writer``; return None on success, else the id of the live holder."""
    path = claim_path(gdir, video)
    with file_lock(gdir / LOCK_FILE):
        held = read_claim(path)
        if held and held.get("writer") != writer and claim_live(store_root, held):
            return str(held.get("writer"))
        path.parent.mkdir(exist_ok=True)
        body = {"writer": writer, "host": socket.gethostname(), "pid": os.getpid(), "time": time.time(),
                "expires": time.time() + float(lease_s), "video": video}
        tmp = path.with_name(f".{path.name}.{writer}.tmp")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, path)
    return None


def release_claim(gdir: Path, video: str, writer: str) -> None:
    """Remove ``writer``'s claim on ``video`` (a claim taken over by someone else is left alone)."""
    path = claim_path(gdir, video)
    with file_lock(gdir / LOCK_FILE):
        held = read_claim(path)
        if held is None or held.get("writer") == writer:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def stale_claims(store_root: Path, gdir: Path) -> list[Path]:
    """Claim files (and torn temp files) of the group that no longer bind anyone."""
    cdir = gdir / CLAIMS_DIR
    if not cdir.is_dir():
        return []
    out = []
    for p in sorted(cdir.iterdir()):
        if p.name.endswith(".tmp"):
            writer = p.name.rsplit(".", 2)[-2]
            if not writer_alive(store_root, writer):
                out.append(p)
        elif not claim_live(store_root, read_claim(p)):
            out.append(p)
    return out
