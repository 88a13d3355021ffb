"""Every alert a rule set can raise has a clinician's title, not its internal id: the alert
page once showed 'threshold.blood_pressure'. Enumerated from the compiled rules of the
defaults and of every condition (so a rule added later without a title fails here)."""

from __future__ import annotations

from alerts.lifecycle import alert_rule_id
from alerts.ruleset.compiling import compile_rules
from alerts.ruleset.loading import default_ruleset
from alerts.ruleset.profiles import rules_for
from alerts.summaries import rule_title
from common.wire.vocabulary import Condition


def test_every_alert_rule_has_a_title_in_words() -> None:
    everyone = {i: rules_for([c]) for i, c in enumerate(Condition, start=1)}
    table = compile_rules(default_ruleset(), len(everyone) + 1, everyone)
    alert_rules = {alert_rule_id(r) for r in table.rule_ids}
    assert {"threshold.blood_pressure", "news2.home", "hub.silent"} <= alert_rules
    untitled = sorted(
        r for r in alert_rules if rule_title(r) == r or "." in rule_title(r) or "_" in rule_title(r)
    )
    assert untitled == []


def test_titles_read_as_words() -> None:
    assert rule_title("threshold.blood_pressure") == "Blood pressure outside its limits"
    assert rule_title("missed.weight") == "Missed weight reading"
    assert rule_title("baseline.spo2") == "SpO2 away from the patient's own baseline"
    assert rule_title("rule.from_the_future") == "rule.from_the_future"  # shown, never hidden
