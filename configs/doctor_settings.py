"""The settings of `stockray doctor` (cluster/doctor.py): its timeout, the `[warn, fail]`
levels of its checks and the TLS certificate it reads. A base class of
`configs.settings.Settings`, apart so that module stays small; read from the environment
with the same prefix (`STOCKRAY_`) as every other setting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings

from core.levels import Falling, Rising


class DoctorSettings(BaseSettings):
    """`stockray doctor`; the level pairs are JSON `[warn, fail]`."""

    doctor_timeout_s: Annotated[float, Field(gt=0)] = Field(
        10, description="Longest one doctor check may take (s); past it the check fails."
    )
    doctor_disk_used_pct: Rising = Field((80, 90), description="Used % of the data dir's disk.")
    doctor_memory_used_pct: Rising = Field((80, 90), description="Used % of the machine's memory.")
    doctor_connections_pct: Rising = Field(
        (80, 90), description="Postgres connections in use, % of those clients may open."
    )
    doctor_backup_age_h: Rising = Field((26, 72), description="Age of the newest backup (h).")
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate the TLS front serves; unset = no expiry check."
    )
    doctor_cert_days: Falling = Field((30, 7), description="Days left on the TLS certificate.")
