"""``download``: a real HTTP server on 127.0.0.1 serving a published store.

The server (ThreadingHTTPServer + a handler with Range support) can cut a
connection after N bytes, answer 500 a few times, stall, or serve a doctored
release index. Every client call bounds its time (small ``timeout``, few
``retries``, tiny ``backoff``); every server is stopped by its fixture.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from robusta_bench.cli.distribute import download_cmd
from robusta_bench.distribute import (
    NoSourceError,
    SelectionError,
    UnsafeReleaseError,
    download,
    publish,
)
from robusta_bench.store.feature_store import FeatureStore, Variant

FAST = dict(retries=2, timeout=5.0, backoff=0.01)


# ------------------------------------------------------------------ the data
def _build_store(root: Path) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Two extractors, three groups, several shards each, random features."""
    rng = np.random.default_rng(7)
    store = FeatureStore(root, create=True)
    data = {}
    layout = [
        ("i3d-inception", Variant(), 5, 16, "visual"),
        ("i3d-inception", Variant("fog", 3, 0), 5, 16, "visual"),
        ("vggish", Variant(), 1, 8, "audio"),
    ]
    for extractor, variant, crops, dim, modality in layout:
        group = {}
        with store.writer(
            extractor, variant, spec_hash=f"spec-{extractor}", modality=modality,
            feature_dim=dim, n_crops=crops, shard_rows=150,
        ) as w:
            for i in range(6):
                arr = rng.standard_normal((crops, 20 + 3 * i, dim)).astype(np.float32)
                w.write(f"video{i}", arr)
                group[f"video{i}"] = arr
        data[(extractor, variant.slug)] = group
    return data


@pytest.fixture
def source(tmp_path):
    store_dir = tmp_path / "store"
    data = _build_store(store_dir)
    release_dir = tmp_path / "release"
    publish(store_dir, release_dir)
    return store_dir, release_dir, data


def _release(release_dir: Path) -> dict:
    return json.loads((release_dir / "release.json").read_text())


def _tree(root: Path) -> dict[str, bytes]:
    """Every file of a store but the writers' bookkeeping (locks, commit logs, leases), which releases leave out."""
    skip = {".lock", "commits", "writers", "claims"}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not skip.intersection(p.relative_to(root).parts)}


# ---------------------------------------------------------------- the server
class Behaviour:
    """What the test server does, and what it saw."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.log: list[tuple[str, str | None]] = []
        self.cut_once: dict[str, int] = {}  # path -> close after N body bytes (once)
        self.fail: dict[str, int] = {}  # path -> answer 500 this many times
        self.stall: dict[str, list[float]] = {}  # path -> seconds to wait before answering, per request
        self.override: dict[str, bytes] = {}  # path -> body served instead of the file

    def requests(self, path: str) -> list[str | None]:
        with self.lock:
            return [rng for p, rng in self.log if p == path]


class RangeHandler(BaseHTTPRequestHandler):
    """GET with single ``bytes=a-`` / ``bytes=a-b`` ranges, plus fault injection."""

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        b: Behaviour = self.server.behaviour  # type: ignore[attr-defined]
        rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        rng = self.headers.get("Range")
        with b.lock:
            b.log.append((rel, rng))
            stall = b.stall[rel].pop(0) if b.stall.get(rel) else 0.0
            fail = b.fail.get(rel, 0)
            if fail:
                b.fail[rel] = fail - 1
            cut = b.cut_once.pop(rel, None)
        if stall and b.stop.wait(stall):
            return
        if fail:
            self._send(500, b"boom")
            return
        if rel in b.override:
            data = b.override[rel]
        else:
            path = (b.root / rel).resolve()
            if b.root.resolve() not in path.parents or not path.is_file():
                self._send(404, b"not found")
                return
            data = path.read_bytes()
        status, start, body = 200, 0, data
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            first = int(m[1]) if m else len(data)
            last = min(int(m[2]), len(data) - 1) if m and m[2] else len(data) - 1
            if not m or first >= len(data) or last < first:
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            status, start, body = 206, first, data[first : last + 1]
        headers = {"Accept-Ranges": "bytes"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{len(data)}"
        self._send(status, body if cut is None else body[:cut], headers, length=len(body))

    def _send(self, status: int, body: bytes, headers: dict | None = None, length: int | None = None) -> None:
        try:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)  # fewer bytes than Content-Length = a cut connection
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


@pytest.fixture
def server(source):
    _, release_dir, _ = source
    httpd = QuietServer(("127.0.0.1", 0), RangeHandler)
    httpd.behaviour = Behaviour(release_dir)  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", httpd.behaviour  # type: ignore[attr-defined]
    finally:
        httpd.behaviour.stop.set()  # type: ignore[attr-defined]
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _largest(release_dir: Path) -> dict:
    return max(_release(release_dir)["files"], key=lambda f: f["bytes"])


# ----------------------------------------------------------------------- tests
def test_full_download_equals_source_byte_for_byte(source, server, tmp_path):
    store_dir, _, data = source
    url, behaviour = server
    out = tmp_path / "out"
    report = download(url, out, jobs=3, **FAST)
    assert report.ok, report.failed
    assert len(report.downloaded) == len(report.to_fetch) > 3
    assert _tree(out) == _tree(store_dir)  # shards, group indexes and store.json, byte for byte
    got = FeatureStore(out)
    assert got.groups() == FeatureStore(store_dir).groups()
    for (extractor, slug), videos in data.items():
        back = got.read(extractor, Variant.parse(slug))
        assert list(back) == list(videos)
        for name, arr in videos.items():
            np.testing.assert_array_equal(back[name], arr)
    assert not list(out.rglob("*.partial"))


def test_second_run_downloads_nothing(source, server, tmp_path):
    _, release_dir, _ = source
    url, behaviour = server
    out = tmp_path / "out"
    assert download(url, out, **FAST).ok
    with behaviour.lock:
        behaviour.log.clear()
    again = download(url, out, **FAST)
    assert again.ok and again.downloaded == [] and again.to_fetch == []
    assert sorted(again.skipped) == sorted(f["path"] for f in _release(release_dir)["files"])
    assert [p for p, _ in behaviour.log] == ["release.json"]


def test_resume_after_connection_cut_uses_range(source, server, tmp_path):
    _, release_dir, _ = source
    url, behaviour = server
    target = _largest(release_dir)
    behaviour.cut_once[target["path"]] = 1000
    out = tmp_path / "out"
    report = download(url, out, jobs=2, **FAST)
    assert report.ok, report.failed
    assert behaviour.requests(target["path"]) == [None, "bytes=1000-"]
    final = out / target["path"]
    assert hashlib.sha256(final.read_bytes()).hexdigest() == target["sha256"]
    assert final.read_bytes() == (release_dir / target["path"]).read_bytes()


def test_resume_across_runs_keeps_partial_then_finishes(source, server, tmp_path):
    _, release_dir, _ = source
    url, behaviour = server
    target = _largest(release_dir)
    behaviour.cut_once[target["path"]] = 700
    out = tmp_path / "out"
    first = download(url, out, retries=0, timeout=5.0, backoff=0.01)
    assert set(first.failed) == {target["path"]}
    final = out / target["path"]
    partial = final.with_name(final.name + ".partial")
    assert not final.exists() and partial.stat().st_size == 700
    group = f"{target['extractor']}/{target['variant']}"
    assert group in first.groups_incomplete
    assert not (out / group / "index.json").exists()  # the group stays invisible to the store
    second = download(url, out, **FAST)
    assert second.ok and second.downloaded == [target["path"]]
    assert behaviour.requests(target["path"]) == [None, "bytes=700-"]
    assert final.read_bytes() == (release_dir / target["path"]).read_bytes() and not partial.exists()
    assert FeatureStore(out).verify(target["extractor"], Variant.parse(target["variant"])) == []


def test_server_error_twice_then_success(source, server, tmp_path):
    _, release_dir, _ = source
    url, behaviour = server
    target = _release(release_dir)["files"][0]
    behaviour.fail[target["path"]] = 2
    report = download(url, tmp_path / "out", **FAST)
    assert report.ok, report.failed
    assert len(behaviour.requests(target["path"])) == 3


def test_server_errors_beyond_retries_fail_bounded(source, server, tmp_path):
    _, release_dir, _ = source
    url, behaviour = server
    target = _release(release_dir)["files"][0]
    behaviour.fail[target["path"]] = 10
    report = download(url, tmp_path / "out", retries=1, timeout=5.0, backoff=0.01)
    assert "HTTP 500" in report.failed[target["path"]]
    assert len(behaviour.requests(target["path"])) == 2


def test_sha256_mismatch_rejected_and_nothing_left(source, server, tmp_path):
    _, release_dir, _ = source
    url, behaviour = server
    target = _largest(release_dir)
    shard = release_dir / target["path"]
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, other content
    shard.write_bytes(bytes(raw))
    out = tmp_path / "out"
    res = CliRunner().invoke(download_cmd, ["--from", url, "--out", str(out), "--retries", "1", "--timeout", "5"])
    assert res.exit_code == 1, res.output
    assert target["path"] in res.stderr and "sha256 mismatch" in res.stderr
    # running again fetches the same bytes: the summary says who can fix it instead
    assert "damaged at the source" in res.stdout and "ask the publisher" in res.stdout
    final = out / target["path"]
    assert not final.exists() and not final.with_name(final.name + ".partial").exists()
    group = f"{target['extractor']}/{target['variant']}"
    assert not (out / group / "index.json").exists()
    # the batch went on: every other group is complete and readable
    others = {(g["extractor"], g["variant_key"]) for g in _release(release_dir)["groups"]} - {
        (target["extractor"], target["variant"])
    }
    store = FeatureStore(out)
    assert {(e, v.slug) for e, v in store.groups()} == others


@pytest.mark.parametrize(
    "bad_path, reason",
    [
        ("../evil.parquet", "'..'"),
        ("i3d-inception/clean/../../../evil.parquet", "'..'"),
        ("/tmp/evil.parquet", "absolute"),
        ("C:/evil.parquet", "absolute"),
        ("i3d-inception\\clean\\evil.parquet", "backslash"),
        ("i3d-inception//clean/evil.parquet", "empty component"),
    ],
)
def test_malicious_index_rejected_before_writing(source, server, tmp_path, bad_path, reason):
    _, release_dir, _ = source
    url, behaviour = server
    index = _release(release_dir)
    index["files"][-1]["path"] = bad_path
    behaviour.override["release.json"] = json.dumps(index).encode()
    out = tmp_path / "out"
    with pytest.raises(UnsafeReleaseError, match=reason):
        download(url, out, **FAST)
    assert not out.exists()
    assert not (tmp_path / "evil.parquet").exists()
    assert [p for p, _ in behaviour.log] == ["release.json"]


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda r: r.update(schema_version=99), "schema_version 99 is not known"),
        (lambda r: r["files"].append(dict(r["files"][0])), "duplicate path"),
        (lambda r: r["files"][0].update(path=r["files"][0]["path"].upper()), "must lie at"),
        (lambda r: r["files"][0].update(sha256="abc"), "64 lowercase hex"),
        (lambda r: r["groups"][0].update(extractor=".."), "not a plain name"),
    ],
)
def test_bad_index_rejected_cli_exit_1(source, server, tmp_path, mutate, reason):
    _, release_dir, _ = source
    url, behaviour = server
    index = _release(release_dir)
    mutate(index)
    behaviour.override["release.json"] = json.dumps(index).encode()
    out = tmp_path / "out"
    res = CliRunner().invoke(download_cmd, ["--from", url, "--out", str(out), "--retries", "0", "--timeout", "5"])
    assert res.exit_code == 1, res.output
    assert reason in res.stderr
    assert not out.exists()


def test_slow_server_timeouts_are_retried_and_bounded(source, server, tmp_path):
    _, release_dir, _ = source
    url, behaviour = server
    files = _release(release_dir)["files"]
    stuck, slow_once = files[0]["path"], files[1]["path"]
    behaviour.stall[stuck] = [30.0, 30.0, 30.0, 30.0]  # never answers in time
    behaviour.stall[slow_once] = [30.0]  # answers on the second try
    report = download(url, tmp_path / "out", retries=1, timeout=1.0, backoff=0.01)
    assert set(report.failed) == {stuck}
    assert "timed out" in report.failed[stuck] and "2 attempt" in report.failed[stuck]
    assert len(behaviour.requests(stuck)) == 2  # 1 + retries, no more
    assert slow_once in report.downloaded and len(behaviour.requests(slow_once)) == 2


def test_not_found_is_not_retried(source, server, tmp_path):
    _, release_dir, _ = source
    url, behaviour = server
    target = _release(release_dir)["files"][0]
    (release_dir / target["path"]).unlink()
    out = tmp_path / "out"
    report = download(url, out, **FAST)
    assert "HTTP 404" in report.failed[target["path"]]
    assert len(behaviour.requests(target["path"])) == 1
    assert not list(out.rglob("*.partial"))


def test_local_mirror_folder_and_file_url(source, tmp_path):
    store_dir, release_dir, _ = source
    for i, src in enumerate([str(release_dir), release_dir.as_uri(), str(release_dir / "release.json")]):
        out = tmp_path / f"out{i}"
        report = download(src, out, jobs=2, **FAST)
        assert report.ok, report.failed
        assert _tree(out) == _tree(store_dir)


def test_local_mirror_symlink_refused(source, tmp_path):
    _, release_dir, _ = source
    target = _release(release_dir)["files"][0]
    shard = release_dir / target["path"]
    outside = tmp_path / "outside.parquet"
    shutil.copyfile(shard, outside)
    shard.unlink()
    shard.symlink_to(outside)
    out = tmp_path / "out"
    with pytest.raises(UnsafeReleaseError, match="symbolic link"):
        download(str(release_dir), out, **FAST)
    assert not out.exists()


def test_dry_run_writes_nothing_and_lists_size(source, server, tmp_path):
    _, release_dir, _ = source
    url, behaviour = server
    out = tmp_path / "out"
    res = CliRunner().invoke(
        download_cmd, ["--from", url, "--out", str(out), "--dry-run", "--variants", "clean", "--timeout", "5"]
    )
    assert res.exit_code == 0, res.output
    assert not out.exists()
    clean = [f for f in _release(release_dir)["files"] if f["variant"] == "clean"]
    for f in clean:
        assert f["path"] in res.output
    assert "fog-s3-seed0" not in res.output
    assert f"would fetch {len(clean)} file(s)" in res.output
    report = download(url, out, variants="clean", dry_run=True, **FAST)
    assert report.bytes_to_fetch == sum(f["bytes"] for f in clean)
    assert not out.exists()
    assert {p for p, _ in behaviour.log} == {"release.json"}


def test_selection_and_unknown_names(source, server, tmp_path):
    _, release_dir, _ = source
    url, _ = server
    out = tmp_path / "out"
    report = download(url, out, variants=["fog@3"], extractors="i3d-inception", **FAST)
    assert report.ok and report.groups_written == ["i3d-inception/fog-s3-seed0"]
    assert [(e, v.slug) for e, v in FeatureStore(out).groups()] == [("i3d-inception", "fog-s3-seed0")]
    with pytest.raises(SelectionError) as err:
        download(url, out, variants="rain@2", **FAST)
    assert "clean" in str(err.value) and "fog-s3-seed0" in str(err.value)
    with pytest.raises(SelectionError, match="vggish"):
        download(url, out, extractors="yamnet", **FAST)
    res = CliRunner().invoke(download_cmd, ["--from", url, "--out", str(out), "--variants", "rain@2"])
    assert res.exit_code == 2 and "rain@2" in res.output


def test_no_source_is_a_clear_error_and_env_var_works(source, tmp_path, monkeypatch):
    store_dir, release_dir, _ = source
    monkeypatch.delenv("ROBUSTA_MIRROR", raising=False)
    with pytest.raises(NoSourceError, match="ROBUSTA_MIRROR"):
        download(None, tmp_path / "out")
    res = CliRunner().invoke(download_cmd, ["--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "--from" in res.output
    assert not (tmp_path / "out").exists()
    with pytest.raises(NoSourceError, match="unsupported"):
        download("ftp://example.org/x", tmp_path / "out")
    monkeypatch.setenv("ROBUSTA_MIRROR", str(release_dir))
    res = CliRunner().invoke(download_cmd, ["--out", str(tmp_path / "out"), "--timeout", "5"])
    assert res.exit_code == 0, res.output
    assert _tree(tmp_path / "out") == _tree(store_dir)


def test_existing_different_group_is_not_overwritten(source, server, tmp_path):
    _, release_dir, _ = source
    url, _ = server
    out = tmp_path / "out"
    local = FeatureStore(out, create=True)
    with local.writer("vggish", Variant(), spec_hash="other", modality="audio", feature_dim=8, n_crops=1) as w:
        w.write("mine", np.ones((1, 3, 8), np.float32))
    before = _tree(out / "vggish")
    report = download(url, out, **FAST)
    assert set(report.failed) == {"vggish/clean/index.json"}
    assert "already has vggish/clean" in report.failed["vggish/clean/index.json"]
    assert _tree(out / "vggish") == before
    assert len(FeatureStore(out).groups()) == 3  # two downloaded + the local one


def test_unreachable_mirror_fails_clearly(tmp_path):
    import socket

    with socket.socket() as s:  # a port with nothing listening on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    res = CliRunner().invoke(
        download_cmd, ["--from", f"http://127.0.0.1:{port}/", "--out", str(out), "--retries", "1", "--timeout", "2"]
    )
    assert res.exit_code == 1
    assert f"127.0.0.1:{port}/release.json" in res.stderr and "2 attempt" in res.stderr
    assert not out.exists()
