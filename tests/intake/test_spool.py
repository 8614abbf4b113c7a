"""The disk spool, on a real directory."""

from __future__ import annotations

import os

import pytest

from app.intake.spool import Spool, SpoolUnavailable


def test_put_is_durable_and_keyed(tmp_path):
    spool = Spool(tmp_path / "spool")
    first = spool.put("twilio_sms:SM1", {"n": 1})
    spool.put("twilio_sms:SM2", {"n": 2})
    again = spool.put("twilio_sms:SM1", {"n": 1})
    assert first == again
    assert spool.depth() == 2
    assert sorted(spool.load(p)["n"] for p in spool.pending()) == [1, 2]
    assert not [p for p in (tmp_path / "spool").iterdir() if p.name.startswith(".tmp-")]


def test_pending_is_oldest_first_and_remove_forgets(tmp_path):
    spool = Spool(tmp_path)
    paths = [spool.put(f"k{i}", {"i": i}) for i in range(3)]
    for i, p in enumerate(paths):
        os.utime(p, ns=(i * 1_000_000_000, i * 1_000_000_000))
    assert spool.pending() == paths
    spool.remove(paths[0])
    assert spool.depth() == 2 and paths[0] not in spool.pending()


def test_a_file_in_place_of_the_directory_fails_at_start(tmp_path):
    blocker = tmp_path / "spool"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolUnavailable, match="not writable"):
        Spool(blocker)
