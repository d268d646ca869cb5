"""Administrative unit codes: today's provinces and wards from the ``vietnam-provinces``
package, plus units a deployment registers from a file (historical districts from
before 1 July 2025, province departments — sở, ban, ngành — and similar).

Registry file (YAML or JSON), passed to :func:`load_extra_units` or, several separated by
``:``, to :func:`load_units_files` (the ``govpulse`` command loads ``GOVPULSE_EXTRA_UNITS_FILE``
once at start, so a refused unit stops it there; lookups never read files)::

    units:
      - code: "815"            # GSO code of the former Thành phố Mỹ Tho
        level: district        # district | department | other
        name: Thành phố Mỹ Tho (cũ)
        province_code: "82"

A name (and a code) must be representable as an InfluxDB tag value, since it is written as
the ``unit_name`` (``unit_code``, ``district_code``) tag: no line feed or carriage return, no
trailing backslash, not empty (:func:`schemas.line_protocol.tag_value_problem`). Such a unit
is refused when the registry is loaded, with the file, the unit code and the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from vietnam_provinces import Province, Ward

from schemas.line_protocol import tag_value_problem


@dataclass(frozen=True)
class Unit:
    code: str
    level: str  # province | ward | district | department | other
    name: str
    province_code: str


_extra: dict[str, Unit] = {}


@lru_cache(maxsize=1)
def _provinces() -> dict[str, str]:
    return {f"{int(p.code):02d}": p.name for p in Province.iter_all()}


@lru_cache(maxsize=1)
def _wards() -> dict[str, tuple[str, str]]:
    return {f"{int(w.code):05d}": (w.name, f"{int(w.province_code):02d}") for w in Ward.iter_all()}


def province_name(code: str) -> str | None:
    return _provinces().get(code)


@lru_cache(maxsize=8192)
def ward(code: str) -> Unit | None:
    hit = _wards().get(code)
    return Unit(code, "ward", hit[0], hit[1]) if hit else None


def extra_unit(code: str) -> Unit | None:
    """A registered unit (runs for every event: a lookup, never I/O)."""
    return _extra.get(code)


def lookup(code: str) -> Unit | None:
    """A ward by its official code, else a registered extra unit."""
    return ward(code) or extra_unit(code)


def check_codes(
    province_code: str, ward_code: str | None = None, district_code: str | None = None, unit_code: str | None = None
) -> list[tuple[str, str]]:
    """The unit rules shared by event envelopes and scenario files: (field, reason) for each problem."""
    problems: list[tuple[str, str]] = []
    if province_name(province_code) is None:
        problems.append(("province_code", f"{province_code!r} is not a province code in vietnam-provinces"))
    if ward_code is not None:
        w = ward(ward_code)
        if w is None:
            problems.append(("ward_code", f"{ward_code!r} is not an official ward code (vietnam-provinces)"))
        elif w.province_code != province_code:
            problems.append(
                (
                    "ward_code",
                    f"{ward_code} ({w.name}) belongs to province {w.province_code}, not province_code {province_code}",
                )
            )
    for field, code in (("district_code", district_code), ("unit_code", unit_code)):
        if code is None:
            continue
        u = extra_unit(code)
        if u is None:
            problems.append((field, f"{code!r} is not a registered unit (see GOVPULSE_EXTRA_UNITS_FILE / extra_units)"))
        elif u.province_code != province_code:
            problems.append((field, f"{code} is registered in province {u.province_code}, not {province_code}"))
    return problems


def _check(unit: Unit) -> None:
    code_problem = tag_value_problem(unit.code)
    if code_problem:
        raise ValueError(f"extra unit {unit.code[:60]!r}: the code cannot be an InfluxDB tag value: {code_problem}")
    name_problem = tag_value_problem(unit.name)
    if name_problem:
        shown = repr(unit.name) if len(unit.name) <= 80 else repr(unit.name[:60]) + f"… ({len(unit.name)} characters)"
        raise ValueError(
            f"extra unit {unit.code!r}: the name {shown} cannot be an InfluxDB tag value (unit_name): {name_problem}"
        )
    if unit.province_code not in _provinces():
        raise ValueError(f"extra unit {unit.code!r}: unknown province_code {unit.province_code!r}")
    existing = _wards().get(unit.code)
    if existing:
        raise ValueError(f"extra unit {unit.code!r} clashes with the official ward code of {existing[0]}")


def register(unit: Unit) -> None:
    _check(unit)
    _extra[unit.code] = unit


def load_extra_units(path: str | Path) -> list[Unit]:
    """Register the units listed in a YAML/JSON file; errors name the file and entry. A file
    with any refused entry registers none of its units."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    entries = data.get("units", []) if isinstance(data, dict) else data
    out = []
    for i, e in enumerate(entries or []):
        try:
            unit = Unit(str(e["code"]), str(e.get("level", "other")), str(e["name"]), str(e["province_code"]))
            if unit.level not in {"district", "department", "other"}:
                raise ValueError(f"level must be district, department or other, not {unit.level!r}")
            _check(unit)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: units[{i}]: {err}") from err
        out.append(unit)
    for unit in out:
        _extra[unit.code] = unit
    return out


def load_units_files(spec: str | None) -> list[Unit]:
    """Register the units of every file in ``spec`` (paths separated by ``:``, as in
    GOVPULSE_EXTRA_UNITS_FILE); a refused unit raises, naming file, unit and reason."""
    out: list[Unit] = []
    for part in filter(None, (spec or "").split(":")):
        out.extend(load_extra_units(part))
    return out


def clear_extra_units() -> None:
    """Forget registered units (tests)."""
    _extra.clear()
