"""``sox FILE -n stat``, parsed: how long a WAV is and how loud, measured by a tool that is
not ours (sox prints its figures on standard error)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class SoundStat:
    seconds: float
    rms: float
    max_amplitude: float


def sox_stat(path: Path) -> SoundStat:
    if shutil.which("sox") is None:
        pytest.fail("sox is not installed: ./dev test installs it (apt-get install -y sox)")
    done = subprocess.run(
        ["sox", str(path), "-n", "stat"], capture_output=True, text=True, timeout=30, check=True
    )
    fields = {}
    for line in done.stderr.splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return SoundStat(
        float(fields["Length (seconds)"]),
        float(fields["RMS     amplitude"]),
        float(fields["Maximum amplitude"]),
    )
