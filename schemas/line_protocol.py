r"""InfluxDB 2 line protocol: escaping, and the tag values that cannot be represented at all.

Pure functions with no dependency on the sink, so the unit registry (:mod:`schemas.units`)
can refuse unrepresentable names when it is loaded and :mod:`streams.sink` escapes with the
same rules.

The rules are those of the parser influxd 2.7 runs on ``/api/v2/write`` (``models/points.go``),
checked against the real server by ``tests/test_line_protocol.py``:

* measurement: comma and space are escaped with a backslash; nothing else is unescaped.
* tag keys, tag values, field keys: comma, equals sign and space are escaped. A backslash is
  *not* an escape of its own there: a written ``\\`` reads back as two backslashes, so a backslash
  is written as it is (doubling it was a bug: ``Tổ 3\Khu 2`` came back as ``Tổ 3\\Khu 2``).
  The parser takes any character preceded by a backslash as escaped, and unescapes only
  ``\,``, ``\=`` and ``\ ``; therefore
    - a value that *ends* with a backslash cannot be written: the comma or space that ends
      it reads as escaped (HTTP 400 ``invalid tag format``), whatever precedes the backslash;
    - backslashes right before a comma, equals sign or space are read back exactly, but only
      an *even* number of them is safe: the first pass of the parser (``scanLine``, which
      finds where a line ends) skips backslashes in pairs, so after an odd run it takes the
      escaped character as bare. It then miscounts the quotes of the string fields: a line
      feed inside a string field ends the line (HTTP 400 ``unbalanced quotes``, e.g. tags
      ``a=x\\ y,b=c\\,d`` with ``s="l1\nl2"``), or the line feed between two lines is taken
      as quoted and the two lines are parsed as one (HTTP 400 ``point is invalid``, each line
      alone is accepted). ``a\\,b`` (written ``a\\\,b``) is safe, ``a\,b`` is not;
    - a line feed ends the line (HTTP 400 ``missing fields``; the rest of the value would be
      parsed as a line of its own); there is no escape for it;
    - a carriage return is stored, but Flux's annotated CSV, the format query results are
      served in (flux/csv/result.go writes with UseCRLF), drops it: the value never reads back.
  Every other character, any Unicode (NUL, tab, ``"``, ``#``, ``=`` first, spaces at either
  end included), round-trips byte for byte.
* string field values: double quote and backslash are escaped. Line feeds and carriage
  returns inside the quotes are stored exactly (Flux's CSV then shows a line feed as CR LF
  and drops a carriage return; ``json.encode`` in Flux reads them exactly).
* a series key (measurement, every tag, one field key) is at most 65,535 bytes
  (HTTP 400 ``max key length exceeded``).
"""

from __future__ import annotations

import re

# influxd's models.MaxKeyLength: measurement + all tags + a field key, escaped, in bytes
MAX_SERIES_KEY_BYTES = 65535
# what one tag value may take of it, leaving room for the measurement, the other tags
# (unit codes, dossier ids, procedure codes: at most a few hundred bytes) and the field key
MAX_TAG_VALUE_BYTES = 60000

# an odd run of backslashes right before a comma, equals sign or space (see above)
_ODD_BACKSLASHES_BEFORE_ESCAPED = re.compile(r"(?<!\\)\\(?:\\\\)*[,= ]")


def escape_measurement(s: str) -> str:
    if " " in s or "," in s:
        s = s.replace(",", "\\,").replace(" ", "\\ ")
    return s


def escape_tag(s: str) -> str:
    """A tag key, tag value or field key: comma, equals sign and space; backslashes as they are."""
    if " " in s or "," in s or "=" in s:
        s = s.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")
    return s


escape_field_key = escape_tag


def escape_string_field(s: str) -> str:
    """A string field value, without its surrounding double quotes."""
    if "\\" in s or '"' in s:
        s = s.replace("\\", "\\\\").replace('"', '\\"')
    return s


def tag_value_problem(s: str) -> str | None:
    """Why ``s`` cannot be written as an InfluxDB tag value and read back exactly, or None."""
    if not isinstance(s, str):
        return f"not a string ({type(s).__name__})"
    if s == "":
        return "it is empty (InfluxDB has no empty tag values; the tag would be missing)"
    if "\n" in s:
        return "it contains a line feed (line protocol has no escape for it: it ends the line)"
    if "\r" in s:
        return "it contains a carriage return (stored, but Flux's CSV results drop it, so it never reads back)"
    m = _ODD_BACKSLASHES_BEFORE_ESCAPED.search(s)
    if m:
        return (
            f"it has an odd number of backslashes right before {m.group()[-1]!r} at character {m.end() - 1} "
            "(InfluxDB's line splitter then misreads the line: use an even number, or none)"
        )
    if s.endswith("\\"):
        return (
            "it ends with a backslash (InfluxDB would read the separator after it as escaped and "
            "reject the line: invalid tag format)"
        )
    try:
        n = len(escape_tag(s).encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid Unicode text (lone surrogate), so it has no UTF-8 form"
    if n > MAX_TAG_VALUE_BYTES:
        return (
            f"it takes {n} bytes escaped, more than {MAX_TAG_VALUE_BYTES} "
            f"(InfluxDB limits a series key to {MAX_SERIES_KEY_BYTES} bytes)"
        )
    return None
