"""The hub's footprint on a Raspberry Pi's budget: memory idle and while replaying a backlog,
and how fast it replays 50,000 buffered readings to the real broker.

Run: ``.venv/bin/python bench/hub_footprint.py [--readings 50000] [--batch-size N] [--before REV]``.

``--before REV`` replays the same backlog, in the same run and against the same broker, with
the hub's code as it was at git revision REV (``git archive`` into a temporary directory; its
default batch size unless ``--before-batch-size``), then with this checkout's: the comparison
side by side. The replay figures of issue 12 were taken with ``--before 37c7adc``.

Starts its own Mosquitto (TLS, dynamic security) on a free loopback port in a temporary
directory, gives a hub its identity there, and runs ``carewatch hub run`` as a real process
(the code systemd runs; no Bluetooth adapter here, so the radio is retried in the background
as on a hub whose adapter is missing). Measured from /proc:

1. idle: resident memory (VmRSS) of a fresh hub with an empty outbox, 15 s after start;
2. replay: the outbox filled with N readings before the hub starts; the clock runs from the
   process start until every reading has been published and acknowledged by the broker
   (the outbox's ``awaiting_receipt`` reaches N; no ingest runs, so none is confirmed and
   deleted: this is the hub's side alone); peak memory is the process's VmHWM.

Goals (issue 12): idle RSS <= 60 MB, replay >= 2,000 readings/s. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as mqtt

from common.wire.topics import Channel, subscription
from common.wire.vocabulary import Measure, ReadingKind
from devstack.mosquitto import LocalMosquitto
from gateway.outbox import Outbox
from gateway.reading_builder import build_reading
from gateway.simulator import SIM_DEVICES

HUB = "hub-bench-1"
ROOT = Path(__file__).resolve().parent.parent


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def write_config(work: Path, broker: LocalMosquitto, batch_size: int | None) -> Path:
    """The hub's configuration; ``batch_size`` None leaves the hub's own default."""
    ep = broker.add_hub(HUB)
    (work / "pw").write_text(ep.password)
    (work / "pw").chmod(0o600)
    config = work / "hub.toml"
    batch = "" if batch_size is None else f"batch_size = {batch_size}\n"
    config.write_text(
        f'hub_id = "{HUB}"\nstate_dir = "{work / "state"}"\nreserve_mb = 0\n{batch}'
        f'receipt_timeout_s = 3600\nrescue_dir = "{work / "rescue"}"\n'
        f'[broker]\nhost = "localhost"\nport = {ep.port}\nca_file = "{ep.ca_file}"\npassword_file = "{work / "pw"}"\n'
    )
    return config


class Listener:
    """The broker drops a QoS 1 reading nobody subscribes to and tells the hub so (which then
    keeps it): a subscriber as the ingest identity, as in service, that counts readings and
    sends no receipts, so the hub's side is measured alone."""

    def __init__(self, broker: LocalMosquitto) -> None:
        import json
        import threading

        from common.mqtt import tls_client

        ep = broker.add_ingest("carewatch-ingest")
        self.readings = 0
        ready = threading.Event()
        self.client = tls_client(ep, ep.username)

        def on_message(c: object, u: object, msg: mqtt.MQTTMessage) -> None:
            self.readings += len(json.loads(msg.payload).get("readings", []))

        self.client.on_connect = lambda c, *a: c.subscribe(subscription(Channel.READINGS), qos=1)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = on_message
        self.client.connect(ep.host, ep.port)
        self.client.loop_start()
        if not ready.wait(10):
            raise SystemExit("the listener could not subscribe")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def start_hub(config: Path, work: Path, code: Path = ROOT) -> subprocess.Popen[bytes]:
    """``carewatch hub run`` with the hub's code taken from ``code`` (a checkout)."""
    env = dict(
        os.environ,
        DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={work / 'no-bus'}",
        PYTHONPATH=os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")]),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "carewatch", "hub", "run", "-c", str(config)],
        env=env,
        cwd=code,
        stdout=subprocess.DEVNULL,
        stderr=(work / "hub.log").open("ab"),
    )


def code_at(rev: str, into: Path) -> Path:
    """This repository's files at ``rev``, unpacked into ``into`` (nothing else touched)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    into.mkdir()
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    # The catalogue's symlink into firmware-config/ comes out of the archive as it is.
    return into


def stop(hub: subprocess.Popen[bytes]) -> None:
    hub.send_signal(signal.SIGTERM)
    hub.wait(60)


def fill(outbox_path: Path, n: int) -> None:
    outbox = Outbox(outbox_path)
    start = datetime.now(UTC) - timedelta(days=14)
    device = SIM_DEVICES[ReadingKind.BLOOD_PRESSURE]
    chunk = []
    for i in range(n):
        at = start + timedelta(seconds=20 * i)
        chunk.append(
            build_reading(
                kind=ReadingKind.BLOOD_PRESSURE,
                values={Measure.SYSTOLIC: 120.0 + i % 40, Measure.DIASTOLIC: 80.0},
                device=device,
                received_at=at,
                measured_at=at,
            )
        )
        if len(chunk) == 1000:
            outbox.put_many(chunk)
            chunk = []
    if chunk:
        outbox.put_many(chunk)
    outbox.close()


@dataclass(frozen=True)
class Replay:
    label: str
    batch: str
    seconds: float
    peak_rss_kb: int
    after_rss_kb: int
    heard: int


def replay(
    work: Path, broker: LocalMosquitto, readings: int, batch_size: int | None, label: str, code: Path
) -> Replay:
    """Fill a fresh outbox with ``readings``, start the hub, time it until the broker took all."""
    state = work / "state"
    if state.exists():
        shutil.rmtree(state)
    config = write_config(work, broker, batch_size)
    listener = Listener(broker)
    outbox_path = state / "outbox.sqlite3"
    fill(outbox_path, readings)
    watcher = Outbox(outbox_path)
    hub = start_hub(config, work, code)
    started = time.monotonic()
    peak_rss = 0
    try:
        while True:
            backlog = watcher.backlog()
            peak_rss = max(peak_rss, status_kb(hub.pid, "VmRSS"))
            if backlog.awaiting_receipt >= readings:
                break
            if hub.poll() is not None:
                raise SystemExit(f"the hub exited ({hub.returncode}); see {work / 'hub.log'}")
            time.sleep(0.05)
        seconds = time.monotonic() - started
        hwm = status_kb(hub.pid, "VmHWM")
        after_rss = status_kb(hub.pid, "VmRSS")
    finally:
        stop(hub)
        watcher.close()
    time.sleep(0.5)  # the last messages reach the subscriber
    listener.close()
    batch = "its default" if batch_size is None else str(batch_size)
    return Replay(label, batch, seconds, max(peak_rss, hwm), after_rss, listener.readings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=50_000)
    ap.add_argument("--batch-size", type=int, default=None, help="default: the hub's own")
    ap.add_argument("--before", metavar="REV", help="also replay with the hub's code at this git revision")
    ap.add_argument("--before-batch-size", type=int, default=None, help="default: that revision's own")
    ap.add_argument("--idle-s", type=float, default=15.0)
    args = ap.parse_args()
    results: list[Replay] = []
    with tempfile.TemporaryDirectory(prefix="cw-hub-footprint-") as tmp:
        work = Path(tmp)
        broker = LocalMosquitto(work)
        broker.start()
        try:
            config = write_config(work, broker, args.batch_size)
            hub = start_hub(config, work)
            time.sleep(args.idle_s)
            idle_rss = status_kb(hub.pid, "VmRSS")
            stop(hub)
            t = time.monotonic()
            fill(work / "fill-timing.sqlite3", args.readings)
            fill_s = time.monotonic() - t
            if args.before:
                before = code_at(args.before, work / "before")
                label = f"code at {args.before}"
                results.append(replay(work, broker, args.readings, args.before_batch_size, label, before))
            results.append(replay(work, broker, args.readings, args.batch_size, "this checkout", ROOT))
        finally:
            broker.stop()
    print(
        f"hub idle, empty outbox, {args.idle_s:g} s after start: RSS {idle_rss / 1024:.1f} MB (goal <= 60 MB)"
    )
    print(f"outbox filled with {args.readings:,} readings in {fill_s:.1f} s")
    print(
        f"replay of {args.readings:,} readings, process start to the last broker acknowledgement "
        "(goal >= 2,000/s):"
    )
    for r in results:
        print(
            f"  {r.label:<20} batches of {r.batch:<11}: {r.seconds:6.1f} s = {args.readings / r.seconds:7,.0f} "
            f"readings/s; heard {r.heard:,}; RSS peak {r.peak_rss_kb / 1024:.1f} MB, "
            f"after {r.after_rss_kb / 1024:.1f} MB"
        )


if __name__ == "__main__":
    main()
