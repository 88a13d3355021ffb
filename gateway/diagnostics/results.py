"""Short constructors for check results, so every check words its outcome the same way."""

from __future__ import annotations

from common.wire.messages import HubCheck, printable_line
from common.wire.vocabulary import CheckStatus, HubCheckName


def ok(name: HubCheckName, summary: str) -> HubCheck:
    return HubCheck(name=name, status=CheckStatus.OK, summary=printable_line(summary))


def warning(name: HubCheckName, summary: str, fix: str) -> HubCheck:
    return HubCheck(
        name=name, status=CheckStatus.WARNING, summary=printable_line(summary), fix=printable_line(fix)
    )


def failed(name: HubCheckName, summary: str, fix: str) -> HubCheck:
    return HubCheck(
        name=name, status=CheckStatus.FAILED, summary=printable_line(summary), fix=printable_line(fix)
    )


def skipped(name: HubCheckName, because: str) -> HubCheck:
    return HubCheck(name=name, status=CheckStatus.SKIPPED, summary=printable_line(f"not checked: {because}"))


def worst(checks: list[HubCheck]) -> CheckStatus:
    """``failed`` if any failed, else ``warning`` if any warned, else ``ok``."""
    statuses = {c.status for c in checks}
    for status in (CheckStatus.FAILED, CheckStatus.WARNING):
        if status in statuses:
            return status
    return CheckStatus.OK
