"""Reporter trust and the verification policy (pure): who must be checked, and who is held until checked."""

from __future__ import annotations

from dataclasses import dataclass

# Beta pseudo-counts (confirmed, false) before any answer: a CLA is trusted until shown otherwise, a partner
# network's member somewhat, a villager or an unknown number is an open question.
PRIOR = {"cla": (9.0, 1.0), "partner_member": (3.0, 1.0), "villager": (1.0, 1.0)}
# Below this, and with at least one alert proved false, a sender's alerts wait for a CLA before escalating.
DISTRUST_BELOW = 0.4
SEVERE = frozenset({"extreme", "severe"})


def trust(kind: str | None, confirmed: int, false: int) -> float:
    """The share of this sender's alerts expected to hold up (0-1), from their record and their kind."""
    a, b = PRIOR.get(kind or "villager", PRIOR["villager"])
    return round((a + confirmed) / (a + b + confirmed + false), 3)


@dataclass(frozen=True)
class Decision:
    """Whether an incident goes to a CLA, whether escalation waits for the answer, and why (for operators)."""

    verify: bool
    hold: bool
    reason: str


def decide(*, kinds: list[str], distrusted_false: int | None, severity: str, verification: str) -> Decision:
    """The verification policy for an incident, from its reporters' kinds and the worst sender's record."""
    if verification in ("confirmed", "false"):
        return Decision(False, False, f"already {verification}")
    if "cla" in kinds:
        return Decision(False, False, "reported by a CLA")
    if distrusted_false:
        return Decision(True, True, f"held for a CLA: the sender's alerts proved false {distrusted_false} time(s)")
    if severity in SEVERE:
        return Decision(True, False, "unverified sender: escalating now, marked unverified, while a CLA confirms")
    return Decision(True, False, "unverified sender: a CLA is asked to confirm")
