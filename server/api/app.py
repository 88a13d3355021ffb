"""The FastAPI application: alerts, readings, health. Every route but /health needs a token."""

from __future__ import annotations

import socket
import ssl
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from sqlalchemy import select

from gateway.wire.vocabulary import MEASURES, ReadingKind
from server.api.auth import Principal, Role, audit, get_db, require
from server.api.schemas import AlertOut, ComponentHealth, Health, ReadingOut
from server.patient_ids import PATIENT_ID_PATTERN
from server.settings import MqttSettings, ServerSettings
from server.store.database import Database
from server.store.influx import InfluxStore, StoreUnavailable
from server.store.models import Alert, AlertEvidence, Patient

Clinician = Annotated[Principal, Depends(require(Role.CLINICIAN))]


def get_influx(request: Request) -> InfluxStore:
    store: InfluxStore = request.app.state.influx
    return store


def broker_health(mqtt: MqttSettings) -> ComponentHealth:
    """A TLS handshake with the broker: proves it is up and presents the expected certificate."""
    try:
        ctx = ssl.create_default_context(cafile=str(mqtt.ca_file))
        with (
            socket.create_connection((mqtt.host, mqtt.port), timeout=2) as raw,
            ctx.wrap_socket(raw, server_hostname=mqtt.host),
        ):
            return ComponentHealth(ok=True, detail=f"TLS handshake with {mqtt.host}:{mqtt.port} succeeded")
    except (OSError, ssl.SSLError) as e:
        return ComponentHealth(ok=False, detail=f"{mqtt.host}:{mqtt.port}: {e}")


def create_app(settings: ServerSettings, db: Database, influx: InfluxStore) -> FastAPI:
    app = FastAPI(
        title="CareWatch API",
        version="1",
        description="Remote monitoring for community health teams. Authenticate with `Authorization: Bearer <token>`.",
    )
    app.state.db = db
    app.state.influx = influx
    app.state.settings = settings

    @app.get("/health", response_model=Health, tags=["operations"])
    def health() -> Health:
        ping = influx.ping()
        influx_h = ComponentHealth(ok=bool(ping.get("reachable")), detail=str(ping.get("detail", ping)))
        db_h = ComponentHealth(ok=db.ping(), detail=db.engine.dialect.name)
        broker_h = broker_health(settings.mqtt)
        ok = influx_h.ok and db_h.ok and broker_h.ok
        return Health(status="ok" if ok else "degraded", broker=broker_h, influxdb=influx_h, database=db_h)

    @app.get("/api/v1/alerts", response_model=list[AlertOut], tags=["alerts"])
    def list_alerts(
        principal: Clinician,
        db: Annotated[Database, Depends(get_db)],
        status: Annotated[str | None, Query(pattern="^(open|acknowledged|resolved)$")] = None,
        patient_id: Annotated[str | None, Query(pattern=PATIENT_ID_PATTERN)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[AlertOut]:
        with db.session() as s:
            q = select(Alert).order_by(Alert.updated_at.desc()).limit(limit)
            if status:
                q = q.where(Alert.status == status)
            if patient_id:
                q = q.where(Alert.patient_id == patient_id)
            alerts = list(s.scalars(q))
            evidence: dict[int, list[str]] = {a.id: [] for a in alerts}
            for ev in s.scalars(
                select(AlertEvidence)
                .where(AlertEvidence.alert_id.in_(evidence))
                .order_by(AlertEvidence.added_at, AlertEvidence.reading_id)
            ):
                evidence[ev.alert_id].append(ev.reading_id)
            out = [
                AlertOut(
                    id=a.id,
                    patient_id=a.patient_id,
                    rule_id=a.rule_id,
                    severity=a.severity,
                    status=a.status,
                    summary=a.summary,
                    opened_at=a.opened_at,
                    updated_at=a.updated_at,
                    evidence=evidence[a.id],
                )
                for a in alerts
            ]
        audit(db, principal, "alerts_listed", patient_id or "*", f"status={status} n={len(out)}")
        return out

    @app.get("/api/v1/patients/{patient_id}/readings", response_model=list[ReadingOut], tags=["readings"])
    def patient_readings(
        principal: Clinician,
        db: Annotated[Database, Depends(get_db)],
        store: Annotated[InfluxStore, Depends(get_influx)],
        patient_id: Annotated[str, Path(pattern=PATIENT_ID_PATTERN)],
        kind: ReadingKind | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> list[ReadingOut]:
        for name, t in (("since", since), ("until", until)):
            if t is not None and t.utcoffset() is None:
                raise HTTPException(422, f"{name} must include a UTC offset, e.g. 2026-01-01T00:00:00Z")
        with db.session() as s:
            if s.get(Patient, patient_id) is None:
                raise HTTPException(404, f"no patient {patient_id!r}")
        try:
            rows = store.query_readings(patient_id, kind, since, until, limit)
        except StoreUnavailable as e:
            raise HTTPException(503, f"reading store unavailable: {e}") from None
        audit(
            db,
            principal,
            "readings_viewed",
            patient_id,
            f"kind={kind} since={since} until={until} n={len(rows)}",
        )
        return [
            ReadingOut(
                reading_id=str(r.reading_id),
                kind=r.kind,
                taken_at=r.taken_at,
                time_source=str(r.time_source),
                values=r.values,
                units={m: MEASURES[m].unit.ucum for m in r.values},
                flags=r.flags,
                device_model=r.device_model,
                hub_id=r.hub_id,
            )
            for r in rows
        ]

    return app
