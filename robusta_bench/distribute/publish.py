"""Lay out a release of a feature store for a static host (``robusta-bench publish``).

The release folder is a copy of the chosen store groups (shards and group
``index.json`` files, byte for byte; hardlinked when the file system allows,
copied otherwise), a ``store.json`` marker (so the folder is itself a valid
feature store), a ``SHA256SUMS`` file, and ``release.json`` (see
:mod:`robusta_bench.distribute.release`). Upload the folder as is.

Every shard is checked against its group index (size and sha256) *before*
anything is written: a corrupted store is refused with the list of bad files
and the output folder is left as it was. ``release.json`` is written last,
atomically, so a folder without it is never a (half) release. Publishing the
same store twice gives the same ``release.json`` byte for byte (no timestamps).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .. import BENCHMARK_VERSION, __version__
from ..files import atomic_path, atomic_write_bytes, atomic_write_json, read_json, sha256_file
from ..store.feature_store import INDEX_FILE, SCHEMA_VERSION as STORE_SCHEMA_VERSION, STORE_FILE, FeatureStore, Variant
from .errors import PublishError, SelectionError
from .release import (
    RELEASE_FILE,
    RELEASE_SCHEMA_VERSION,
    RELEASE_TYPE,
    SUMS_FILE,
    check_name,
    parse_release,
    select_groups,
)

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


@dataclass
class _Item:
    src: Path
    rel: str
    bytes: int
    sha256: str


def publish(
    store_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    variants: Iterable[str] | str | None = None,
    extractors: Iterable[str] | str | None = None,
    *,
    link: bool = True,
    progress: bool = False,
) -> Path:
    """Publish groups of the store ``store_dir`` as a release in ``out_dir``; return the ``release.json`` path.

    ``variants`` / ``extractors`` choose groups (None: all; see
    :func:`~robusta_bench.distribute.release.select_groups`). ``link`` hardlinks
    shards when possible instead of copying. ``out_dir`` must be missing, empty,
    or an earlier release (it is then updated: files of the old release that the
    new one lacks are removed). Raises :class:`PublishError` for a corrupted store
    or an unusable output folder, :class:`SelectionError` for unknown names.
    """
    store = FeatureStore(store_dir)
    out = Path(out_dir)
    _check_out_dir(store.root, out)
    chosen = select_groups(store.groups(), variants, extractors, what=f"store {store.root}")
    if not chosen:
        raise SelectionError(f"store {store.root} has no feature groups to publish")

    items, groups = _collect(store, chosen)
    problems = _verify_sources(items, sum(i.bytes for i in items), progress)
    if problems:
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise PublishError(
            f"refusing to publish: store {store.root} is corrupted ({len(problems)} problem(s)):\n  "
            + "\n  ".join(problems[:20])
            + more
        )

    old_paths = _old_release_paths(out)
    out.mkdir(parents=True, exist_ok=True)
    for item in items:
        _place(item, out / item.rel, link)
    for g in groups:
        atomic_write_bytes(out / g["index_path"], g.pop("_index_bytes"))
    atomic_write_json(out / STORE_FILE, {"type": "feature_store", "schema_version": STORE_SCHEMA_VERSION})

    release = _release_obj(store, groups, items)
    from .release_videos import publish_videos

    videos = publish_videos(store.root, out)
    if videos is not None:
        release["videos"] = videos
    parse_release(json.loads(json.dumps(release)))  # what we write must be what clients accept
    sums = sorted([(i.rel, i.sha256) for i in items] + [(g["index_path"], g["index_sha256"]) for g in groups])
    sums.append((STORE_FILE, sha256_file(out / STORE_FILE)))
    if videos is not None:
        sums.append((videos["path"], videos["sha256"]))
    atomic_write_bytes(out / SUMS_FILE, "".join(f"{h}  {p}\n" for p, h in sums).encode())
    index_path = out / RELEASE_FILE
    atomic_write_json(index_path, release)

    keep = {p for p, _ in sums}
    for rel in sorted(old_paths - keep):
        with contextlib.suppress(FileNotFoundError):
            (out / rel).unlink()
            log.info("removed %s (not in the new release)", rel)
    _prune_empty_dirs(out)
    return index_path


def _check_out_dir(store_root: Path, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise PublishError(f"--out {out} exists and is not a folder")
    if out.resolve() == store_root.resolve():
        raise PublishError(f"--out {out} is the store itself: publish into another folder")
    if out.is_dir() and any(out.iterdir()) and not (out / RELEASE_FILE).is_file():
        raise PublishError(
            f"--out {out} is not empty and holds no {RELEASE_FILE}: give a new or empty folder "
            "(or an earlier release to update)"
        )


def _collect(store: FeatureStore, chosen: list[tuple[str, Variant]]) -> tuple[list[_Item], list[dict]]:
    """Read the chosen group indexes: the files to publish and the release's group entries."""
    items: list[_Item] = []
    groups: list[dict[str, Any]] = []
    for extractor, variant in chosen:
        gdir = store.group_dir(extractor, variant)
        index_file = gdir / INDEX_FILE
        from ..store.verify import fold_group

        fold_group(gdir)  # commits of killed/concurrent writers into index.json (same content, under the group lock)
        raw = index_file.read_bytes()
        idx = json.loads(raw)
        if int(idx.get("schema_version", -1)) > STORE_SCHEMA_VERSION:
            raise PublishError(f"{index_file}: group schema_version {idx.get('schema_version')} is newer than this robusta-bench")
        check_name(extractor, "extractor")
        key = f"{extractor}/{variant.slug}"
        for f in idx["files"]:
            name = check_name(f["path"], f"{index_file}: shard")
            items.append(_Item(gdir / name, f"{key}/{name}", int(f["bytes"]), str(f["sha256"])))
        groups.append(
            {
                "extractor": extractor,
                "variant": variant.to_dict(),
                "variant_key": variant.slug,
                "index_path": f"{key}/{INDEX_FILE}",
                "index_bytes": len(raw),
                "index_sha256": hashlib.sha256(raw).hexdigest(),
                "files": len(idx["files"]),
                "bytes": sum(int(f["bytes"]) for f in idx["files"]),
                "videos": sum(len(f["videos"]) for f in idx["files"]),
                "_index": idx,
                "_index_bytes": raw,
            }
        )
    return items, groups


def _verify_sources(items: list[_Item], total: int, progress: bool) -> list[str]:
    """Size and sha256 of every source shard against its group index."""
    from ..progress import progress_bar as tqdm

    problems = []
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="verify", disable=not progress) as bar:
        for item in items:
            if item.src.is_symlink() or not item.src.is_file():
                problems.append(f"{item.rel}: missing (or not a regular file) at {item.src}")
                continue
            size = item.src.stat().st_size
            if size != item.bytes:
                problems.append(f"{item.rel}: {size} bytes, the group index lists {item.bytes}")
                continue
            digest = sha256_file(item.src)
            if digest != item.sha256:
                problems.append(f"{item.rel}: sha256 {digest}, the group index lists {item.sha256}")
            bar.update(size)
    return problems


def _place(item: _Item, dst: Path, link: bool) -> None:
    """Put ``item`` at ``dst``: keep an identical file, else hardlink (if asked and possible) or copy."""
    if dst.is_file() and not dst.is_symlink():
        if os.path.samefile(item.src, dst) or (dst.stat().st_size == item.bytes and sha256_file(dst) == item.sha256):
            return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        tmp = dst.with_name(f".{dst.name}.link")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            os.link(item.src, tmp)
            os.replace(tmp, dst)
            return
        except OSError:  # another file system, or no hardlinks here: copy
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    with atomic_path(dst) as tmp_copy:
        digest = hashlib.sha256()
        with open(item.src, "rb") as fin, open(tmp_copy, "wb") as fout:
            for block in iter(lambda: fin.read(_CHUNK), b""):
                digest.update(block)
                fout.write(block)
        if digest.hexdigest() != item.sha256:  # changed since it was verified
            raise PublishError(f"{item.rel}: {item.src} changed while publishing")
    shutil.copystat(item.src, dst, follow_symlinks=False)


def _old_release_paths(out: Path) -> set[str]:
    """Paths listed by an earlier release in ``out`` (to remove those the new one drops)."""
    path = out / RELEASE_FILE
    if not path.is_file():
        return set()
    try:
        old = parse_release(read_json(path))
    except Exception:  # an unreadable old index: leave its files alone
        return set()
    return {f.path for f in old.files} | {g.index_path for g in old.groups}


def _prune_empty_dirs(out: Path) -> None:
    for d in sorted((p for p in out.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            d.rmdir()  # only succeeds when empty


def _extractor_entries(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Per extractor: what the group indexes say, plus ``extractors/<name>.json`` when present."""
    from ..store.feature_store import spec_hash
    from ..paths import extractors_dir

    out: dict[str, Any] = {}
    for g in groups:
        idx = g["_index"]
        e = out.setdefault(
            g["extractor"],
            {
                "modality": idx.get("modality"),
                "feature_dim": idx.get("feature_dim"),
                "n_crops": idx.get("n_crops"),
                "dtype": idx.get("dtype"),
                "spec_hashes": [],
                "spec": None,
            },
        )
        if idx.get("spec_hash") not in e["spec_hashes"]:
            e["spec_hashes"].append(idx.get("spec_hash"))
        used = _used_spec(idx, g, spec_hash)
        if used is not None:
            e.setdefault("_used", {})[g["index_path"]] = used
    for name, e in out.items():
        e["spec_hashes"].sort(key=str)
        spec_file = extractors_dir() / f"{name}.json"
        if spec_file.is_file():
            try:
                spec = read_json(spec_file)
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable extractor spec %s: %s", spec_file, exc)
                continue
            e["spec"] = spec
            e["spec_file_hash"] = spec_hash(spec)
            e["spec_matches_shards"] = _spec_matches(spec_file, e, spec_hash)
        e.pop("_used", None)
    return out


def _used_spec(idx: dict[str, Any], group: dict[str, Any], spec_hash: Any) -> str | None:
    """Hash of the extractor spec file a group was extracted with (from its index), or None when not recorded.

    The group's own ``spec_hash`` covers the spec file *and* crops, protocol and
    precision (``extraction.pipeline.group_spec``), so it is never compared with a
    spec file's hash; the recorded group spec must still hash to it, else the index
    is inconsistent and publishing stops.
    """
    gspec = (idx.get("meta") or {}).get("spec")
    if not isinstance(gspec, dict) or gspec.get("spec") is None:
        return None
    if spec_hash(gspec) != idx.get("spec_hash"):
        raise PublishError(
            f"{group['index_path']}: the recorded extraction spec hashes to {spec_hash(gspec)}, not to the group's "
            f"spec_hash {idx.get('spec_hash')}: the index was edited or is damaged; re-extract this group"
        )
    return spec_hash(gspec["spec"])


def _spec_matches(spec_file: Path, e: dict[str, Any], spec_hash: Any) -> bool | None:
    """Whether ``spec_file`` is the spec the shards were extracted with (like with like).

    Groups that record their spec file are compared with it: a difference raises
    :class:`PublishError`. Groups that do not (imported or older stores) are
    compared by their group hash, as before; a difference there cannot be told
    from a crops/protocol difference, so it is reported as unknown (None).
    """
    used = e.get("_used") or {}
    if used:
        wrong = sorted(k for k, h in used.items() if h != e["spec_file_hash"])
        if wrong:
            raise PublishError(
                f"{spec_file} (hash {e['spec_file_hash']}) is not the spec {', '.join(wrong)} were extracted with "
                f"({', '.join(sorted({used[k] for k in wrong}))}): the weights or preprocessing changed since; "
                "re-extract those groups, or restore the spec file they were made with"
            )
        return True
    if e["spec_file_hash"] in e["spec_hashes"]:
        return True
    log.info("%s: the group indexes do not record their spec file; not compared", spec_file)
    return None


def _release_obj(store: FeatureStore, groups: list[dict[str, Any]], items: list[_Item]) -> dict[str, Any]:
    extractors = _extractor_entries(groups)
    by_key = {g["index_path"].rsplit("/", 1)[0]: g for g in groups}
    files = []
    for item in sorted(items, key=lambda i: i.rel):
        extractor, slug, _ = item.rel.split("/")
        idx_files = by_key[f"{extractor}/{slug}"]["_index"]["files"]
        rows = next((int(f["rows"]) for f in idx_files if f["path"] == item.src.name), None)
        files.append(
            {
                "path": item.rel,
                "bytes": item.bytes,
                "sha256": item.sha256,
                "extractor": extractor,
                "variant": slug,
                "rows": rows,
            }
        )
    return {
        "type": RELEASE_TYPE,
        "schema_version": RELEASE_SCHEMA_VERSION,
        "benchmark_version": BENCHMARK_VERSION,
        "robusta_bench_version": __version__,
        "store_schema_version": STORE_SCHEMA_VERSION,
        "extractors": extractors,
        "groups": [{k: v for k, v in g.items() if not k.startswith("_")} for g in groups],
        "files": files,
        "total_bytes": sum(i.bytes for i in items),
    }
