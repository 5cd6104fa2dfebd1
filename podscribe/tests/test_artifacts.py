from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podscribe.artifacts import (
    ArtifactNotFoundError,
    ArtifactStore,
    canonical_json,
    content_key,
    validate_key,
)
from podscribe.transcript import Segment, Transcript, Word


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield ArtifactStore(tmp_path / "artifacts")
        return
    import fsspec

    name = f"podscribe-test-{uuid.uuid4().hex}"
    yield ArtifactStore(f"memory://{name}/store")
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


def test_bytes_json_text_round_trip(store: ArtifactStore) -> None:
    assert not store.exists("runs/r1/audio.wav")
    assert store.put_bytes("runs/r1/audio.wav", b"\x00\x01RIFF") == "runs/r1/audio.wav"
    assert store.exists("runs/r1/audio.wav")
    assert store.get_bytes("runs/r1/audio.wav") == b"\x00\x01RIFF"
    store.put_json("runs/r1/meta.json", {"b": [1, 2], "name": "Éoin"})
    assert store.get_json("runs/r1/meta.json") == {"b": [1, 2], "name": "Éoin"}
    store.put_text("runs/r1/captions.vtt", "WEBVTT\n")
    assert store.get_text("runs/r1/captions.vtt") == "WEBVTT\n"
    store.put_bytes("runs/r1/audio.wav", b"new")  # overwrite
    assert store.get_bytes("runs/r1/audio.wav") == b"new"
    assert store.list_keys("runs/r1") == [
        "runs/r1/audio.wav",
        "runs/r1/captions.vtt",
        "runs/r1/meta.json",
    ]
    assert store.list_keys() == store.list_keys("runs")
    assert store.list_keys("nothing/here") == []
    assert not store.exists("runs")  # a folder is not an artifact
    assert store.delete("runs/r1/meta.json") and not store.delete("runs/r1/meta.json")
    assert not store.exists("runs/r1/meta.json")


def test_missing_key(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFoundError, match=r"'nope\.json' not found"):
        store.get_bytes("nope.json")
    with pytest.raises(FileNotFoundError):
        store.get_json("nope.json")


def test_transcripts(store: ArtifactStore) -> None:
    t = Transcript(
        [Segment(0.0, 1.0, "hi there", [Word("hi", 0.0, 0.4, 0.9, "S0"), Word("there")], "S0")],
        speakers={"S0": "Ann"},
        duration=1.0,
    )
    store.put_transcript("t.json", t)
    assert store.get_transcript("t.json").to_dict() == t.to_dict()


def test_content_addressed(store: ArtifactStore) -> None:
    key = store.put_content(b"hello", prefix="audio", suffix=".wav")
    assert key == content_key(b"hello", prefix="audio", suffix=".wav")
    assert key.startswith(
        "audio/2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )
    assert store.put_content(b"hello", prefix="audio", suffix=".wav") == key  # idempotent
    assert store.get_bytes(key) == b"hello"
    assert content_key(canonical_json({"b": 1, "a": 2})) == content_key(b'{"a":2,"b":1}')
    assert content_key(b"x", prefix="").count("/") == 1


def test_files(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    data = os.urandom(3 * (1 << 20) + 17)
    src.write_bytes(data)
    store.put_file("big/in.bin", src)
    out = store.get_file("big/in.bin", tmp_path / "out" / "copy.bin")
    assert out.read_bytes() == data
    with pytest.raises(ArtifactNotFoundError):
        store.get_file("big/missing.bin", tmp_path / "x")


def test_bad_keys(store: ArtifactStore) -> None:
    for bad in ["", "/abs", "../up", "a/../b", "a//b", "a/./b", "a\\b", "s3://x/y", "dir/"]:
        with pytest.raises(ValueError):
            store.put_bytes(bad, b"x")
    assert validate_key("a/b.c") == "a/b.c"


def test_local_uri_and_atomic_writes(tmp_path: Path) -> None:
    store = ArtifactStore(f"file://{tmp_path}/root")
    assert store.local and store.url == str(tmp_path / "root")
    store.put_bytes("a/b.txt", b"1")
    assert store.uri_for("a/b.txt") == str(tmp_path / "root" / "a" / "b.txt")
    assert store.local_path("a/b.txt").read_bytes() == b"1"
    # no temporary files are left behind, and a failed write leaves the old content
    assert sorted(p.name for p in (tmp_path / "root" / "a").iterdir()) == ["b.txt"]

    class Boom(Exception):
        pass

    def chunks() -> Iterator[bytes]:
        yield b"partial"
        raise Boom

    with pytest.raises(Boom):
        store._atomic_write(store.local_path("a/b.txt"), chunks())
    assert store.get_bytes("a/b.txt") == b"1"
    assert sorted(p.name for p in (tmp_path / "root" / "a").iterdir()) == ["b.txt"]


def test_relative_default_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = ArtifactStore()
    store.put_text("x.txt", "hi")
    assert (tmp_path / ".podscribe" / "artifacts" / "x.txt").read_text() == "hi"


def test_fsspec_uri() -> None:
    name = f"podscribe-uri-{uuid.uuid4().hex}"
    store = ArtifactStore(f"memory://{name}/p/")
    assert not store.local
    assert store.uri_for("k/v.json") == f"memory:///{name}/p/k/v.json"
    with pytest.raises(ValueError, match="not a local directory"):
        store.local_path("k")
