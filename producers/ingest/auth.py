"""Bearer tokens, one per source system, from a YAML or JSON file holding only their SHA-256.

File format (a list, or ``{"tokens": [...]}``)::

    tokens:
      - name: motcua-dongthap            # shown in logs and metrics, never the token
        sha256: 9f86d081884c7d65...      # hex SHA-256 of the token: printf %s "$TOKEN" | sha256sum
        source_system: motcua-dongthap   # the only source_system this token may send
        provinces: ["82"]                # province codes it may send for
        rate_per_second: 20              # optional: overrides GOVPULSE_INGEST_RATE_PER_SECOND
        rate_burst: 100                  # optional: overrides GOVPULSE_INGEST_RATE_BURST

The token itself is never stored: a request's token is hashed and looked up by its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_HEX64 = re.compile(r"[0-9a-f]{64}")
_PROVINCE = re.compile(r"[0-9]{2}")


class TokensFileError(ValueError):
    """The tokens file is missing, unreadable or has an invalid entry (message names which)."""


@dataclass(frozen=True)
class Principal:
    """What one token may do."""

    name: str
    sha256: str
    source_system: str
    provinces: frozenset[str]
    rate_per_second: float | None = None
    rate_burst: float | None = None


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token's UTF-8 bytes (what the tokens file stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    def __init__(self, principals: list[Principal]) -> None:
        self._by_hash = {p.sha256: p for p in principals}

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal of an ``Authorization: Bearer <token>`` header, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        digest = hash_token(token)
        p = self._by_hash.get(digest)
        # the dict lookup already matched; compare_digest keeps the final check constant-time
        return p if p is not None and hmac.compare_digest(p.sha256, digest) else None


def _entry(i: int, raw: Any, where: str) -> Principal:
    if not isinstance(raw, dict):
        raise TokensFileError(f"{where}: entry {i} must be a mapping")
    if "token" in raw:
        raise TokensFileError(f"{where}: entry {i} holds a plain 'token'; store only its sha256")
    unknown = set(raw) - {"name", "sha256", "source_system", "provinces", "rate_per_second", "rate_burst"}
    if unknown:
        raise TokensFileError(f"{where}: entry {i}: unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise TokensFileError(f"{where}: entry {i}: 'name' must be a non-empty string")
    digest = raw.get("sha256")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest.lower()):
        raise TokensFileError(f"{where}: token {name!r}: 'sha256' must be 64 hex digits")
    source = raw.get("source_system")
    if not isinstance(source, str) or not source:
        raise TokensFileError(f"{where}: token {name!r}: 'source_system' must be a non-empty string")
    provinces = raw.get("provinces")
    if not isinstance(provinces, list) or not provinces:
        raise TokensFileError(f"{where}: token {name!r}: 'provinces' must be a non-empty list of province codes")
    codes = [str(c) for c in provinces]
    bad = [c for c in codes if not _PROVINCE.fullmatch(c)]
    if bad:
        raise TokensFileError(f"{where}: token {name!r}: province codes must be 2 digits (quote them): {bad}")
    rates: dict[str, float | None] = {}
    for key in ("rate_per_second", "rate_burst"):
        v = raw.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
            raise TokensFileError(f"{where}: token {name!r}: {key!r} must be a non-negative number")
        rates[key] = None if v is None else float(v)
    return Principal(
        name=name,
        sha256=digest.lower(),
        source_system=source,
        provinces=frozenset(codes),
        rate_per_second=rates["rate_per_second"],
        rate_burst=rates["rate_burst"],
    )


def load_tokens(path: Path) -> TokenStore:
    """Read and check a tokens file; :class:`TokensFileError` names the entry and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise TokensFileError(f"cannot read tokens file {path}: {e}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise TokensFileError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}") from None
    if isinstance(data, dict):
        data = data.get("tokens")
    if not isinstance(data, list) or not data:
        raise TokensFileError(f"{path}: expected a non-empty list of tokens (or a mapping with 'tokens')")
    principals = [_entry(i, raw, str(path)) for i, raw in enumerate(data)]
    seen: dict[str, str] = {}
    for p in principals:
        if p.sha256 in seen:
            raise TokensFileError(f"{path}: tokens {seen[p.sha256]!r} and {p.name!r} have the same hash")
        seen[p.sha256] = p.name
    return TokenStore(principals)
