"""Where and how to reach InfluxDB: the settings an operator gives (``CAREWATCH_INFLUX__*``).

Its own module because the settings, the demo and the tests build one without wanting the
HTTP machinery, and because it is the one place that says what each knob means.

Names: ``database`` is the InfluxQL database every read uses, on every version (on 2.x it is
the database side of the DBRP mapping to the bucket). ``bucket`` is only for the v2 write
path and defaults to ``database`` (``database/retention_policy`` when an RP is set), which is
exactly what 1.8's and 3.x's ``/api/v2/write`` expect and, on 2.x, a bucket named like the
mapped database. Buckets and DBRP mappings on 2.x/3.x are provisioned by deploy scripts.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# Patient ids are ours (the relational DB issues them), so they can be strict: this keeps
# them safe as tag values, in InfluxQL literals and in URLs even before any escaping.
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"


class InfluxConfig(BaseModel):
    """Where and how to reach InfluxDB. Secrets are ``SecretStr`` so reprs and logs hide them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="base URL, e.g. http://127.0.0.1:8086")
    api: Literal["auto", "v1", "v2"] = Field(
        default="auto", description="write path; auto = detect from GET /ping (v1 below 1.8)"
    )
    database: str = Field(
        default="carewatch",
        pattern=NAME_PATTERN,
        description="InfluxQL database for every read (and v1 writes); on 2.x the DBRP-mapped name",
    )
    retention_policy: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="None = the database's default RP"
    )
    username: str | None = Field(default=None, description="1.x basic auth")
    password: SecretStr | None = Field(default=None, description="1.x basic auth")
    token: SecretStr | None = Field(default=None, description="2.x/3.x API token")
    org: str | None = Field(
        default=None,
        description="2.x organisation (required there); None sends '-', which 1.8 and 3.x ignore",
    )
    bucket: str | None = Field(
        default=None,
        description="v2 write target; default: database, or database/retention_policy if an RP is set",
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds per HTTP request")
    max_retries: int = Field(default=5, ge=0, description="extra attempts after the first")
    backoff: float = Field(default=0.5, ge=0, description="first retry delay in seconds, doubled each time")
    backoff_max: float = Field(default=30.0, ge=0, description="cap on one retry delay")
    batch_size: int = Field(default=5000, ge=1, le=100_000, description="points per HTTP request")
    # Reads a person waits on (pages, API): see InfluxStore.for_people.
    people_timeout: float = Field(
        default=2.0, gt=0, description="seconds per HTTP request of a read a person waits on"
    )
    people_cooldown: float = Field(
        default=20.0,
        ge=0,
        description="after such a read fails, answer 'unavailable' at once for this long, then try one",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("url must be http(s)://host[:port]")
        return v.rstrip("/")

    def write_bucket(self) -> str:
        if self.bucket:
            return self.bucket
        return self.database if self.retention_policy is None else f"{self.database}/{self.retention_policy}"

    def v2_token(self) -> str | None:
        """The token influxdb-client sends; 1.8's v2 API takes ``username:password`` as a token."""
        if self.token is not None:
            return self.token.get_secret_value()
        if self.username is not None:
            pw = "" if self.password is None else self.password.get_secret_value()
            return f"{self.username}:{pw}"
        return None
