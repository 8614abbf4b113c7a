"""Escalation policies as data: parsing, errors that say where, and the walk up the levels."""

from __future__ import annotations

import json

import pytest

from app.escalation.policy import PolicyError, load_policy, parse_policy


def level(**overrides):
    return {"target": "ranked", "channels": ["sms"], "ack_timeout_s": 300} | overrides


def policy(**p1):
    other = {"levels": [level(target="joc")]}
    return {"P1": {"levels": [level(**p1), level(target="sector_hq"), level(target="joc")]}, "P2": other,
            "P3": other, "P4": other}  # fmt: skip


def test_the_bundled_policy_ends_every_priority_at_the_joc():
    bundled = load_policy()
    for priority, levels in bundled.levels.items():
        assert levels[-1].target == "joc", priority
    assert bundled.levels["P1"][0].ack_timeout_s <= bundled.levels["P4"][0].ack_timeout_s


def test_a_level_repeats_then_the_next_one_comes_and_the_last_repeats_for_ever():
    walk = parse_policy(policy(repeats=1))
    assert walk.next_step("P1", 0, 0) == (0, 1)  # repeat
    assert walk.next_step("P1", 0, 1) == (1, 0)  # next level
    assert walk.next_step("P1", 1, 0) == (2, 0)
    assert walk.next_step("P1", 2, 5) == (2, 6)  # the JOC again, until someone answers
    assert walk.level("P1", 9).target == "joc"


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (policy() | {"P1": {"levels": []}}, "P1 needs a non-empty list of levels"),
        (policy(target="nearest"), "P1 level 1: target must be one of"),
        (policy(channels=["pigeon"]), "P1 level 1: channels must be"),
        (policy(ack_timeout_s="5 min"), "must be whole numbers"),
        (policy(ack_timeout_s=0), "ack_timeout_s must be at least 1 s"),
        (policy(count=0), "count >= 1"),
        ([], "expected an object of priorities"),
    ],
)
def test_a_broken_policy_says_where(broken, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(broken)


def test_a_missing_priority_and_an_unreadable_file_are_named(tmp_path):
    with pytest.raises(PolicyError, match="no levels for P4"):
        parse_policy({k: v for k, v in policy().items() if k != "P4"})
    path = tmp_path / "policy.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"policy\.json: cannot read"):
        load_policy(path)
    path.write_text(json.dumps(policy()), encoding="utf-8")
    assert load_policy(path).levels["P1"][1].target == "sector_hq"
