"""Managed certificates through the SDK, as users' code meets them: a custom hostname with
ssl.method "http" is issued by the Pebble CA that run.sh starts (Pebble fetches the HTTP-01
token from edgecert's edge), polled until ssl.status is active, and served over TLS. The test
controls (check-now, the clock) are outside /client/v4 and have no typed SDK methods, so they
go through the SDK's raw request methods, with its auth, retries and error classes.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import time
import urllib.request
from typing import Callable

import cloudflare
import pytest
from cloudflare import Cloudflare

from conftest import error_codes, random_uuid, unique_domain

# How long a user's code would wait for a certificate; Pebble issues in about a second.
ACTIVE_WITHIN = 30.0
DCV = {"method": "http", "type": "dv"}


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set; run the suite through tests/sdk/python/run.sh", returncode=2)
    return value


def control(cf: Cloudflare, method: str, path: str, body: dict | None = None) -> dict:
    """A test control's `result`; an absolute URL, since the controls are outside the base URL."""
    url = f"{_env('EDGECERT_URL')}/_edgecert{path}"
    call = getattr(cf, method)
    kwargs = {"cast_to": object}
    if body is not None:
        kwargs["body"] = body
    envelope = call(url, **kwargs)
    assert envelope["success"] is True, envelope
    return envelope["result"]


def check_now(cf: Cloudflare, zone_id: str, hostname_id: str) -> dict:
    return control(cf, "post", f"/zones/{zone_id}/custom_hostnames/{hostname_id}/check")


def point_dns(host: str, address: str | None) -> None:
    """Has pebble-challtestsrv resolve `host` to `address` (None: back to 127.0.0.1)."""
    if address is None:
        path, body = "/clear-a", {"host": host}
    else:
        path, body = "/add-a", {"host": host, "addresses": [address]}
    request = urllib.request.Request(
        _env("EDGECERT_DNS_MANAGEMENT") + path, data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def wait_for(cf: Cloudflare, zone_id: str, hostname_id: str, done: Callable, what: str):
    """Polls the hostname, as users' code does, until `done` likes it (bounded)."""
    deadline = time.monotonic() + ACTIVE_WITHIN
    while True:
        hostname = cf.custom_hostnames.get(hostname_id, zone_id=zone_id)
        if done(hostname):
            return hostname
        assert time.monotonic() < deadline, f"not {what} within {ACTIVE_WITHIN} s: {hostname}"
        time.sleep(0.2)


def is_active(hostname) -> bool:
    return hostname.ssl is not None and hostname.ssl.status == "active"


def served_leaf(host: str) -> bytes:
    """The leaf the edge serves for `host`, verified up to Pebble's root; retried (bounded)
    while the edge catches up with the deployment the API already shows."""
    context = ssl.create_default_context(cafile=_env("EDGECERT_ACME_ROOT"))
    address, port = _env("EDGECERT_EDGE_HTTPS").rsplit(":", 1)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection((address, int(port)), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname=host) as tls:
                    return tls.getpeercert(binary_form=True)
        except (ssl.SSLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def new_host() -> str:
    return f"shop.{unique_domain()}"


def test_an_http_hostname_is_issued_and_served(cf: Cloudflare, zone_id: str):
    host = new_host()
    created = cf.custom_hostnames.create(zone_id=zone_id, hostname=host, ssl=DCV)
    # What was stored: the lifecycle's first step, before any round trip to the CA.
    assert created.ssl.status == "initializing", created.ssl
    assert created.status == "pending"

    active = wait_for(cf, zone_id, created.id, is_active, "active")
    assert active.status == "active"
    assert not active.ssl.validation_errors
    assert active.ssl.hosts == [host]
    assert "PRIVATE KEY" not in str(active.model_dump())
    # `ssl.certificates` is not in the SDK's model; pydantic keeps it as an extra field.
    certificates = active.ssl.model_dump().get("certificates") or []
    assert certificates, active.ssl
    leaf = served_leaf(host)
    assert hashlib.sha256(leaf).hexdigest() == certificates[0]["fingerprint_sha256"]


def test_a_refused_validation_is_shown_then_checked_again_at_once(cf: Cloudflare, zone_id: str):
    host = new_host()
    # Pebble resolves the name where nothing listens: its fetch of the token is refused.
    point_dns(host, "127.0.0.2")
    try:
        created = cf.custom_hostnames.create(zone_id=zone_id, hostname=host, ssl=DCV)
        refused = wait_for(cf, zone_id, created.id, lambda h: bool(h.ssl.validation_errors),
                           "refused")
    finally:
        point_dns(host, None)
    assert refused.ssl.status == "pending_validation"
    assert refused.status == "pending"
    message = refused.ssl.validation_errors[0].message
    assert message.startswith("urn:ietf:params:acme:error:") and "127.0.0.2" in message, message
    record = refused.ssl.validation_records[0]
    assert record.http_url.startswith(f"http://{host}/.well-known/acme-challenge/")
    assert record.http_body

    # Fixed: the control checks now instead of after the backoff (a minute, then more), and
    # answers with the hostname as the API shows it after the check.
    checked = check_now(cf, zone_id, created.id)
    assert checked["id"] == created.id
    assert checked["ssl"]["status"] == "active", checked
    assert checked["ssl"]["validation_errors"] == []
    assert is_active(cf.custom_hostnames.get(created.id, zone_id=zone_id))
    assert control(cf, "get", "/clock")["offset_seconds"] == 0.0


def test_a_patch_with_the_same_ssl_has_validation_looked_at_again(cf: Cloudflare, zone_id: str):
    host = new_host()
    point_dns(host, "127.0.0.2")
    try:
        created = cf.custom_hostnames.create(zone_id=zone_id, hostname=host, ssl=DCV)
        wait_for(cf, zone_id, created.id, lambda h: bool(h.ssl.validation_errors), "refused")
    finally:
        point_dns(host, None)
    # The real API's way to complete validation once DNS points where it should: PATCH the
    # same ssl. Active well before the first retry's minute would have it.
    edited = cf.custom_hostnames.edit(created.id, zone_id=zone_id, ssl=DCV)
    assert edited.ssl.status == "pending_validation"
    active = wait_for(cf, zone_id, created.id, is_active, "active after the PATCH")
    assert not active.ssl.validation_errors


def test_check_now_refuses_what_it_cannot_check(cf: Cloudflare, zone_id: str):
    with pytest.raises(cloudflare.NotFoundError) as ei:
        check_now(cf, zone_id, random_uuid())
    assert error_codes(ei.value) == [1436]
    txt = cf.custom_hostnames.create(zone_id=zone_id, hostname=new_host(),
                                     ssl={"method": "txt", "type": "dv"})
    with pytest.raises(cloudflare.ConflictError) as ei:
        check_now(cf, zone_id, txt.id)
    assert error_codes(ei.value) == [99004]


def test_an_issued_certificate_shows_expired_once_the_clock_passes_it(cf: Cloudflare,
                                                                      zone_id: str):
    created = cf.custom_hostnames.create(zone_id=zone_id, hostname=new_host(), ssl=DCV)
    wait_for(cf, zone_id, created.id, is_active, "active")
    try:
        # Pebble issues for 90 days, as Let's Encrypt does. (The renewal this makes due is
        # issued on Pebble's real clock, so it would be past its expiry here too.)
        clock = control(cf, "put", "/clock", {"advance_seconds": 91 * 86400})
        assert clock["offset_seconds"] == 91 * 86400.0
        expired = cf.custom_hostnames.get(created.id, zone_id=zone_id)
        assert expired.ssl.status == "expired", expired.ssl
        assert expired.status == "active"
    finally:
        control(cf, "delete", "/clock")
    assert is_active(cf.custom_hostnames.get(created.id, zone_id=zone_id))
