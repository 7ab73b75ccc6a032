"""custom_hostnames with certificates for edgecert CSRs, and the CSR-in-use rule."""
from __future__ import annotations

import time

import pytest
import cloudflare
from cloudflare import Cloudflare

from conftest import csr_fields, error_codes, random_uuid, server_requests, unique_domain


def _create_hostname(cf: Cloudflare, s, hostname=None, **extra):
    return cf.custom_hostnames.create(
        zone_id=s.zone_id,
        hostname=hostname or s.sans[0],
        ssl={"custom_csr_id": s.csr_id, "custom_certificate": s.certificate},
        **extra,
    )


def test_hostname_lifecycle_with_edgecert_csr(cf: Cloudflare, signed_csr):
    s = signed_csr()
    host = _create_hostname(cf, s, custom_metadata={"customer": "parade"})
    assert host is not None
    assert host.hostname == s.sans[0]
    assert host.ssl is not None
    assert host.ssl.status == "active"
    assert host.ssl.custom_csr_id == s.csr_id
    assert sorted(host.ssl.hosts or []) == sorted(s.sans)
    assert host.ssl.issuer, host.ssl
    assert host.ssl.serial_number and isinstance(host.ssl.serial_number, str)
    assert host.ssl.serial_number.isdigit(), host.ssl.serial_number
    assert host.ssl.expires_on is not None
    assert host.custom_metadata == {"customer": "parade"}
    assert "PRIVATE KEY" not in str(host.model_dump())

    got = cf.custom_hostnames.get(host.id, zone_id=s.zone_id)
    assert got.id == host.id and got.hostname == s.sans[0]
    assert got.ssl.status == "active"

    listed = list(cf.custom_hostnames.list(zone_id=s.zone_id))
    assert [h.id for h in listed] == [host.id]
    by_id = cf.custom_hostnames.list(zone_id=s.zone_id, id=host.id)
    assert [h.id for h in by_id.result] == [host.id]

    edited = cf.custom_hostnames.edit(host.id, zone_id=s.zone_id,
                                      custom_metadata={"customer": "parade", "tier": "gold"})
    assert edited.id == host.id
    assert edited.custom_metadata == {"customer": "parade", "tier": "gold"}
    assert cf.custom_hostnames.get(host.id, zone_id=s.zone_id).custom_metadata == \
        {"customer": "parade", "tier": "gold"}

    deleted = cf.custom_hostnames.delete(host.id, zone_id=s.zone_id)
    assert deleted is not None
    assert deleted.id == host.id

    with pytest.raises(cloudflare.NotFoundError) as ei:
        cf.custom_hostnames.get(host.id, zone_id=s.zone_id)
    assert error_codes(ei.value) == [1436]
    # The CSR is free again.
    assert cf.custom_csrs.delete(s.csr_id, zone_id=s.zone_id).id == s.csr_id


def test_hostname_list_filter_by_exact_hostname(cf: Cloudflare, signed_csr):
    s = signed_csr()
    host = _create_hostname(cf, s)
    page = cf.custom_hostnames.list(zone_id=s.zone_id, hostname={"exact": s.sans[0]})
    assert [h.id for h in page.result] == [host.id]
    page = cf.custom_hostnames.list(zone_id=s.zone_id, hostname={"exact": "nomatch." + s.sans[0]})
    assert page.result == []


@pytest.mark.parametrize("flt", [{"contain": "www."}, {"starts_with": "www."}])
def test_hostname_list_contain_and_starts_with(cf: Cloudflare, signed_csr, flt):
    s = signed_csr()
    _create_hostname(cf, s)  # app.<d>
    www = _create_hostname(cf, s, hostname=s.sans[1])
    page = cf.custom_hostnames.list(zone_id=s.zone_id, hostname=flt)
    assert [h.id for h in page.result] == [www.id]


def _assert_conflict_once(call, code: int, method: str = None, path_suffix: str = None):
    start = time.monotonic()
    with pytest.raises(cloudflare.ConflictError) as ei:
        call()
    elapsed = time.monotonic() - start
    assert ei.value.status_code == 409
    assert error_codes(ei.value) == [code]
    assert ei.value.response.headers.get("x-should-retry") == "false"
    # With the default max_retries=2 a retried 409 sleeps >= 0.375 s + 0.75 s (0.5 s * 2^n,
    # jitter down to 75%) between attempts, so < 0.4 s means no retry happened. Backed by the
    # SDK's attempt counter and by edgecert's request log (one 409 line for the path).
    assert elapsed < 0.4, f"409 took {elapsed:.3f}s: the SDK retried it"
    # The SDK numbers attempts in x-stainless-retry-count; the final request was the first.
    assert ei.value.request.headers.get("x-stainless-retry-count") == "0"
    if method:
        lines = server_requests(method, path_suffix)
        if lines is not None:
            assert len([l for l in lines if "status=409" in l]) == 1, lines


def test_delete_csr_in_use_by_hostname_is_409_once(cf: Cloudflare, signed_csr):
    s = signed_csr()
    host = _create_hostname(cf, s)
    _assert_conflict_once(lambda: cf.custom_csrs.delete(s.csr_id, zone_id=s.zone_id), 1420,
                          "DELETE", f"/zones/{s.zone_id}/custom_csrs/{s.csr_id}")
    # Still there.
    assert cf.custom_csrs.get(s.csr_id, zone_id=s.zone_id).id == s.csr_id
    cf.custom_hostnames.delete(host.id, zone_id=s.zone_id)
    assert cf.custom_csrs.delete(s.csr_id, zone_id=s.zone_id).id == s.csr_id


def test_duplicate_hostname_is_409_1406_once(cf: Cloudflare, signed_csr):
    s = signed_csr()
    _create_hostname(cf, s)
    _assert_conflict_once(lambda: _create_hostname(cf, s), 1406)


def test_changing_hostname_by_patch_is_409_1439(cf: Cloudflare, signed_csr):
    s = signed_csr()
    host = _create_hostname(cf, s)
    _assert_conflict_once(
        lambda: cf.custom_hostnames.edit(host.id, zone_id=s.zone_id, extra_body={"hostname": s.sans[1]}),
        1439,
    )


def test_upload_self_signed_is_1441(cf: Cloudflare, ca, zone_id: str):
    d = unique_domain()
    cert, key = ca.self_signed([f"app.{d}"])
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.create(zone_id=zone_id, hostname=f"app.{d}",
                                   ssl={"custom_certificate": cert, "custom_key": key})
    assert error_codes(ei.value) == [1441]


def test_upload_untrusted_ca_is_1441(cf: Cloudflare, untrusted_ca, zone_id: str):
    d = unique_domain()
    sans = [f"app.{d}"]
    csr = cf.custom_csrs.create(zone_id=zone_id, **csr_fields(sans[0], sans))
    cert = untrusted_ca.sign(csr.csr, sans)
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.create(zone_id=zone_id, hostname=sans[0],
                                   ssl={"custom_csr_id": csr.id, "custom_certificate": cert})
    assert error_codes(ei.value) == [1441]
    # Nothing was stored, so the CSR can go.
    assert cf.custom_csrs.delete(csr.id, zone_id=zone_id).id == csr.id


def test_upload_key_mismatch_is_1429(cf: Cloudflare, ca, zone_id: str):
    d = unique_domain()
    sans = [f"app.{d}"]
    csr = cf.custom_csrs.create(zone_id=zone_id, **csr_fields(sans[0], sans))
    # A certificate from the trusted CA, but for a key that is not the CSR's.
    _key, other_csr = ca.new_key_and_csr(sans[0])
    cert = ca.sign(other_csr, sans)
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.create(zone_id=zone_id, hostname=sans[0],
                                   ssl={"custom_csr_id": csr.id, "custom_certificate": cert})
    assert error_codes(ei.value) == [1429]


def test_upload_with_customer_key(cf: Cloudflare, ca, zone_id: str):
    d = unique_domain()
    sans = [f"app.{d}"]
    key, csr = ca.new_key_and_csr(sans[0])
    cert = ca.sign(csr, sans)
    host = cf.custom_hostnames.create(zone_id=zone_id, hostname=sans[0],
                                      ssl={"custom_certificate": cert, "custom_key": key})
    assert host.ssl.status == "active"
    assert "PRIVATE KEY" not in str(host.model_dump())
    assert cf.custom_hostnames.delete(host.id, zone_id=zone_id).id == host.id


def test_hostname_not_in_certificate_is_1446(cf: Cloudflare, signed_csr):
    s = signed_csr()
    with pytest.raises(cloudflare.BadRequestError) as ei:
        _create_hostname(cf, s, hostname="other." + s.sans[0])
    assert error_codes(ei.value) == [1446]


def test_upload_csr_id_errors(cf: Cloudflare, signed_csr):
    s = signed_csr()
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.create(zone_id=s.zone_id, hostname=s.sans[0],
                                   ssl={"custom_csr_id": "nope", "custom_certificate": s.certificate})
    assert error_codes(ei.value) == [1430]
    with pytest.raises(cloudflare.NotFoundError) as ei:
        cf.custom_hostnames.create(zone_id=s.zone_id, hostname=s.sans[0],
                                   ssl={"custom_csr_id": random_uuid(), "custom_certificate": s.certificate})
    assert error_codes(ei.value) == [1431]


def test_upload_garbage_certificate_is_1426(cf: Cloudflare, signed_csr):
    s = signed_csr()
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.create(zone_id=s.zone_id, hostname=s.sans[0],
                                   ssl={"custom_csr_id": s.csr_id, "custom_certificate": "not a pem"})
    assert error_codes(ei.value) == [1426]


@pytest.mark.parametrize("hostname,code", [("bad_host!.example.com", 1407), ("shop.test", 1409)])
def test_invalid_hostname(cf: Cloudflare, zone_id: str, hostname: str, code: int):
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.create(zone_id=zone_id, hostname=hostname, ssl={"method": "http", "type": "dv"})
    assert error_codes(ei.value) == [code]


def test_hostname_ids(cf: Cloudflare, zone_id: str):
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.get("not-an-id", zone_id=zone_id)
    assert error_codes(ei.value) == [1435]
    for call in (cf.custom_hostnames.get, cf.custom_hostnames.delete):
        with pytest.raises(cloudflare.NotFoundError) as ei:
            call(random_uuid(), zone_id=zone_id)
        assert error_codes(ei.value) == [1436]


def test_hostname_id_filter_with_hostname_is_1438(cf: Cloudflare, zone_id: str):
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.list(zone_id=zone_id, id=random_uuid(), hostname={"exact": "a.example.com"})
    assert error_codes(ei.value) == [1438]
