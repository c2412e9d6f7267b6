"""API keys: only hashes on disk, one role each, re-read when the file changes."""

from __future__ import annotations

import json
import os
import time

import pytest

from mleng.serving.keys import KeyFileError, KeyRing, create_key, read_keys


def test_the_file_stores_only_the_hash_and_the_key_identifies_its_role(tmp_path):
    path = tmp_path / "keys.json"
    key_id, key = create_key(path, "predict")
    text = path.read_text()
    assert key not in text and key_id in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    ring = KeyRing(path)
    assert ring.identify(key).role == "predict"
    assert ring.identify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert ring.identify("not-a-key") is None


def test_a_key_added_later_is_accepted_without_a_restart(tmp_path, monkeypatch):
    path = tmp_path / "keys.json"
    create_key(path, "admin")
    ring = KeyRing(path)
    _, later = create_key(path, "feedback")
    os.utime(path, (time.time() + 5, time.time() + 5))
    ring._checked -= 2  # the ring looks at the file at most once a second
    assert ring.identify(later).role == "feedback"


def test_an_unknown_role_or_a_broken_file_is_refused_with_the_fix(tmp_path):
    with pytest.raises(KeyFileError, match="unknown role 'root'"):
        create_key(tmp_path / "keys.json", "root")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(KeyFileError, match="mleng keys create"):
        read_keys(broken)
    broken.write_text(
        json.dumps({"keys": [{"key_id": "a", "role": "god", "sha256": "x", "created_at": 0}]})
    )
    with pytest.raises(KeyFileError, match="unknown roles"):
        read_keys(broken)
