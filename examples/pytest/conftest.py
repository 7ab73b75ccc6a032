"""Fixtures for testing code that calls Cloudflare's API against a local edgecert.

Start edgecert with its test controls on, then run pytest with its token:

    EDGECERT_TEST_CONTROLS=true edgecert serve
    EDGECERT_TOKEN=... python -m pytest examples/pytest

EDGECERT_URL (default http://127.0.0.1:8080) says where edgecert listens. The code under test
gets `cf`, an unmodified SDK client pointed at edgecert; the test itself drives edgecert's
state through `edgecert` (reset, clock, forced statuses).
"""
from __future__ import annotations

import os

import httpx
import pytest
from cloudflare import Cloudflare

EDGECERT_URL = os.environ.get("EDGECERT_URL", "http://127.0.0.1:8080")
# Any 32 lowercase hexadecimal characters name a zone.
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"


class Controls:
    """edgecert's /_edgecert/ routes: same token, same envelope as the API."""

    def __init__(self, token: str) -> None:
        self._http = httpx.Client(
            base_url=f"{EDGECERT_URL}/_edgecert",
            headers={"Authorization": f"Bearer {token}"},
        )

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        answer = self._http.request(method, path, json=body)
        envelope = answer.json()
        if not envelope.get("success"):
            raise AssertionError(f"{method} {path}: {answer.status_code} {envelope['errors']}")
        return envelope["result"]

    def reset(self, zone_id: str | None = None) -> dict:
        """Everything, or only `zone_id`'s CSRs, hostnames, certificates and fallback origin."""
        return self._call("POST", "/reset", {"zone_id": zone_id} if zone_id else {})

    def advance_clock(self, *, days: float = 0, seconds: float = 0) -> dict:
        return self._call("PUT", "/clock", {"advance_seconds": days * 86400 + seconds})

    def system_clock(self) -> dict:
        return self._call("DELETE", "/clock")

    def force_status(self, zone_id: str, hostname_id: str, **forced) -> dict:
        """Forces `status`, `ssl` (`{"status", "validation_errors"}`), `verification_errors`."""
        path = f"/zones/{zone_id}/custom_hostnames/{hostname_id}/status"
        return self._call("PATCH", path, forced)

    def close(self) -> None:
        self._http.close()


@pytest.fixture(scope="session")
def token() -> str:
    value = os.environ.get("EDGECERT_TOKEN")
    if not value:
        pytest.exit("set EDGECERT_TOKEN to the token edgecert printed at first start", returncode=2)
    return value


@pytest.fixture(scope="session")
def cf(token: str) -> Cloudflare:
    client = Cloudflare(api_token=token, base_url=f"{EDGECERT_URL}/client/v4")
    yield client
    client.close()


@pytest.fixture(scope="session")
def edgecert(token: str) -> Controls:
    controls = Controls(token)
    yield controls
    controls.close()


@pytest.fixture
def zone(edgecert: Controls) -> str:
    """An empty zone on the real clock, whatever the previous test left behind."""
    edgecert.reset(zone_id=ZONE)
    edgecert.system_clock()
    return ZONE
