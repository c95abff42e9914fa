"""Queues' business hours, time zones and holidays, read from ``queues.yaml``.

::

    queues:
      general:
        timezone: Europe/Berlin
        hours: {mon-fri: "09:00-18:00", sat: "10:00-14:00"}   # days not listed: closed
        holidays: [2026-12-25, 2026-12-26]
        timeout_minutes: 10        # no agent took it by then: apologise, keep it open

A queue that is not listed (or no file at all) is always open with a 15-minute timeout.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TIMEOUT_MINUTES = 15


def _expand_days(spec: str) -> list[int]:
    """ "mon-fri" → [0..4]; "sat" → [5]; "mon,wed" → [0, 2]."""
    days: list[int] = []
    for part in spec.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"unknown day {part!r}; use {', '.join(DAYS)} or ranges like mon-fri")
        start, end = DAYS.index(first), DAYS.index(last or first)
        days.extend(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
    return days


def _parse_span(span: str) -> tuple[time, time]:
    opening, _, closing = span.partition("-")
    try:
        return time.fromisoformat(opening.strip()), time.fromisoformat(closing.strip())
    except ValueError:
        raise ValueError(f"hours {span!r} should look like 09:00-18:00") from None


class QueueHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "UTC"
    hours: dict[str, str] | None = Field(default=None, description="None = always open.")
    holidays: list[date] = Field(default_factory=list)
    timeout_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = DEFAULT_TIMEOUT_MINUTES

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Berlin)") from None
        return value

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for days, span in (value or {}).items():
            _expand_days(days)
            _parse_span(span)
        return value

    def _spans(self, day: date) -> list[tuple[time, time]]:
        if self.hours is None:
            return [(time.min, time.max)]
        if day in self.holidays:
            return []
        return [
            _parse_span(span)
            for days, span in self.hours.items()
            if day.weekday() in _expand_days(days)
        ]

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.timezone))
        return any(start <= local.time() < end for start, end in self._spans(local.date()))

    def next_opening(self, now: datetime) -> datetime | None:
        """When a person is next available (local time), or None if never (no hours)."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        for offset in range(0, 15):
            day = local.date() + timedelta(days=offset)
            for start, _ in sorted(self._spans(day)):
                candidate = datetime.combine(day, start, tzinfo=zone)
                if candidate > local:
                    return candidate
        return None


class QueuesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    queues: dict[str, QueueHours] = Field(default_factory=dict)

    def for_queue(self, name: str) -> QueueHours:
        return self.queues.get(name) or QueueHours()


def load_queues(path: Path) -> QueuesFile:
    """Read ``queues.yaml``; a missing file means every queue is always open."""
    if not path.exists():
        return QueuesFile()
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        return QueuesFile.model_validate(data)
    except YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None


def describe_opening(moment: datetime) -> str:
    """ "Monday 09:00 (Europe/Berlin)" — for customers."""
    return f"{moment:%A %H:%M} ({moment.tzinfo})"
