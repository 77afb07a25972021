"""The check and repair names: one place, stable, with a severity, an action and a meaning."""

from __future__ import annotations

import re
from pathlib import Path

from seobatch.quality import CHECKS, REPAIRS
from seobatch.quality.checks import FLAG, ISSUE, REJECT

PACKAGE = Path(__file__).resolve().parents[2] / "seobatch" / "quality"


def test_every_check_has_a_snake_case_name_a_severity_an_action_and_a_meaning():
    for name, check in CHECKS.items():
        assert re.fullmatch(r"[a-z]+(?:_[a-z0-9]+)+", name) and check.name == name
        assert check.severity in ("issue", "warning", "opportunity")
        assert check.action in (REJECT, FLAG)
        assert check.meaning and "\n" not in check.meaning
        # The ladder: what rejects is an issue; what only flags is not.
        assert (check.action == REJECT) == (check.severity == ISSUE), name


def test_the_gate_fires_only_checks_and_repairs_defined_in_one_place():
    source = "\n".join(p.read_text() for p in PACKAGE.glob("*.py") if p.name != "checks.py")
    fired = set(re.findall(r'fire\(\s*"([a-z_0-9]+)"', source))
    fired |= set(re.findall(r'"(ungrounded_[a-z]+)"', source))
    fired |= {f"{field}_keyword_stuffing" for field in ("title", "description")}
    assert fired <= set(CHECKS), fired - set(CHECKS)
    assert set(CHECKS) <= fired, set(CHECKS) - fired  # no name is defined and never used
    applied = set(re.findall(r'Repair\(\s*"([a-z_]+)"', source)) | set(re.findall(r'name = "([a-z_]+)"', source))
    assert applied == set(REPAIRS)
