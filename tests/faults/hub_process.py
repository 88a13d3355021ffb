"""A real hub process for the fault suite: ``python -m tests.faults.hub_process ...``.

It runs what a hub runs between its radio and the broker (``SimulatedHub``: the spill-over,
the durable outbox, the MQTT session, the publisher and its receipts; the same objects
``carewatch hub simulate`` runs), fed a fixed plan instead of a radio so the suite knows every
reading it must find downstream: reading *i* is an SpO2 of 97 %, or 85 % (red) when
``i % red_every == 0``. Each reading goes into the journal (``i reading_id value``, fsync'd)
once the hub holds it. A restarted process (after SIGKILL) continues the plan where the
journal ends, as a hub's devices would go on producing new readings.

It keeps running until SIGTERM (exit 0) or a loop failure (exit 70).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from common.mqtt import BrokerEndpoint
from common.supervision import EXIT_LOOP_FAILED, Supervisor
from common.wire.vocabulary import Measure, ReadingKind, StatusFlag
from gateway.outbox import ResendPolicy
from gateway.reading_builder import build_reading
from gateway.simulator import SIM_DEVICES, SimulatedHub

RED_SPO2 = 85.0
NORMAL_SPO2 = 97.0


def value_of(i: int, red_every: int) -> float:
    return RED_SPO2 if red_every and i % red_every == 0 else NORMAL_SPO2


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--hub-id", required=True)
    p.add_argument("--password-file", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca-file", type=Path, required=True)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--journal", type=Path, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--red-every", type=int, default=10)
    p.add_argument("--receipt-timeout", type=float, default=5.0)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--rescue-dir", type=Path)
    args = p.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    supervisor = Supervisor()
    stop = threading.Event()
    supervisor.on_failure(stop.set)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    endpoint = BrokerEndpoint(
        "localhost", args.port, args.ca_file, args.hub_id, args.password_file.read_text().strip()
    )
    hub = SimulatedHub(
        args.hub_id,
        endpoint,
        args.state_dir,
        batch_size=args.batch_size,
        resend=ResendPolicy(first_s=args.receipt_timeout, max_s=4 * args.receipt_timeout),
        supervisor=supervisor,
        rescue_dir=args.rescue_dir,
    )
    done = len(args.journal.read_text().splitlines()) if args.journal.exists() else 0
    hub.start(wait=0)
    with args.journal.open("a") as journal:
        for i in range(done, args.count):
            if stop.is_set():
                break
            value = value_of(i, args.red_every)
            reading = build_reading(
                kind=ReadingKind.SPO2,
                values={Measure.SPO2: value},
                device=SIM_DEVICES[ReadingKind.SPO2],
                received_at=datetime.now(UTC),
                flags=[StatusFlag.SIMULATED],
            )
            hub.send_reading(reading)
            journal.write(f"{i} {reading.reading_id} {value:g}\n")
            journal.flush()
            os.fsync(journal.fileno())
            stop.wait(args.interval)
    print("plan done; delivering", flush=True)
    stop.wait()
    hub.stop()
    return EXIT_LOOP_FAILED if supervisor.failed.is_set() else 0


if __name__ == "__main__":
    sys.exit(main())
