"""A raw HTTP client for tests: any status code is an answer (`Reply`), bodies decoded from JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    code: int
    body: Any  # decoded JSON (text when not JSON)
    headers: dict[str, str]
    warnings: list[str]

    @property
    def causes(self) -> list[str]:
        """The fields a 422 names (details.causes[].field)."""
        details = self.body.get("details") if isinstance(self.body, dict) else None
        return [c.get("field", "") for c in (details or {}).get("causes", [])]


def request(base_url: str, method: str, path: str, body: Any = None, content_type: str = "application/json",
            headers: dict[str, str] | None = None, timeout: float = 10) -> Reply:
    """One request to `base_url + path`; `body` is JSON-encoded unless it is bytes."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(base_url + path, data=data, method=method,
                                 headers={"Content-Type": content_type, "User-Agent": "kube-emulator-test-client",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            code, raw, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        code, raw, got = err.code, err.read(), err.headers
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = raw.decode()
    return Reply(code, decoded, dict(got), got.get_all("Warning") or [])
