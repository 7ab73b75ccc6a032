"""custom_certificates (zone Custom SSL) with certificates for edgecert CSRs."""
from __future__ import annotations

import datetime as dt
import time

import pytest
import cloudflare
from cloudflare import Cloudflare

from conftest import csr_fields, error_codes, random_uuid, unique_domain


def test_certificate_lifecycle_and_prioritize(cf: Cloudflare, signed_csr):
    a = signed_csr()
    b = signed_csr()
    zone_id = a.zone_id

    c1 = cf.custom_certificates.create(zone_id=zone_id, certificate=a.certificate, custom_csr_id=a.csr_id)
    assert c1 is not None and c1.id
    assert c1.zone_id == zone_id
    assert sorted(c1.hosts or []) == sorted(a.sans)
    assert c1.custom_csr_id == a.csr_id
    assert c1.issuer
    assert c1.status in ("active", "pending")
    assert isinstance(c1.uploaded_on, dt.datetime)
    assert isinstance(c1.expires_on, dt.datetime)
    assert c1.expires_on > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=80)
    assert "PRIVATE KEY" not in str(c1.model_dump())

    c2 = cf.custom_certificates.create(zone_id=zone_id, certificate=b.certificate, custom_csr_id=b.csr_id,
                                       bundle_method="ubiquitous")
    assert c2.id != c1.id
    assert c2.bundle_method == "ubiquitous"

    got = cf.custom_certificates.get(c1.id, zone_id=zone_id)
    assert got.id == c1.id and got.custom_csr_id == a.csr_id

    listed = {c.id for c in cf.custom_certificates.list(zone_id=zone_id)}
    assert listed == {c1.id, c2.id}

    edited = cf.custom_certificates.edit(c1.id, zone_id=zone_id, bundle_method="optimal")
    assert edited is not None
    assert edited.bundle_method == "optimal"
    assert cf.custom_certificates.get(edited.id, zone_id=zone_id).bundle_method == "optimal"
    assert edited.id == c1.id  # legacy_custom keeps its id; sni_custom gets a new one
    c1_id = edited.id

    # The SDK types priority as a float.
    page = cf.custom_certificates.prioritize.update(
        zone_id=zone_id, certificates=[{"id": c1_id, "priority": 2.0}, {"id": c2.id, "priority": 1}])
    prio = {c.id: c.priority for c in page.result}
    assert prio.get(c1_id) == 2 and prio.get(c2.id) == 1, prio
    assert cf.custom_certificates.get(c1_id, zone_id=zone_id).priority == 2

    # The CSR is in use: 409 1420, not retried.
    start = time.monotonic()
    with pytest.raises(cloudflare.ConflictError) as ei:
        cf.custom_csrs.delete(a.csr_id, zone_id=zone_id)
    assert time.monotonic() - start < 0.4
    assert error_codes(ei.value) == [1420]

    deleted = cf.custom_certificates.delete(c1_id, zone_id=zone_id)
    assert deleted is not None and deleted.id == c1_id
    with pytest.raises(cloudflare.NotFoundError) as ei:
        cf.custom_certificates.get(c1_id, zone_id=zone_id)
    assert error_codes(ei.value) == [1003]
    assert {c.id for c in cf.custom_certificates.list(zone_id=zone_id)} == {c2.id}
    assert cf.custom_csrs.delete(a.csr_id, zone_id=zone_id).id == a.csr_id


def test_sni_custom_edit_hands_out_a_new_id(cf: Cloudflare, signed_csr):
    a = signed_csr()
    created = cf.custom_certificates.create(zone_id=a.zone_id, certificate=a.certificate,
                                            custom_csr_id=a.csr_id, type="sni_custom")
    edited = cf.custom_certificates.edit(created.id, zone_id=a.zone_id, bundle_method="optimal")
    assert edited.id != created.id
    assert edited.type == "sni_custom" and edited.bundle_method == "optimal"
    with pytest.raises(cloudflare.NotFoundError) as ei:
        cf.custom_certificates.get(created.id, zone_id=a.zone_id)
    assert error_codes(ei.value) == [1003]
    assert cf.custom_certificates.delete(edited.id, zone_id=a.zone_id).id == edited.id


def test_certificate_with_private_key(cf: Cloudflare, ca, zone_id: str):
    d = unique_domain()
    key, csr = ca.new_key_and_csr(d)
    cert = ca.sign(csr, [d])
    c = cf.custom_certificates.create(zone_id=zone_id, certificate=cert, private_key=key)
    assert c.hosts == [d]
    assert "PRIVATE KEY" not in str(c.model_dump())
    assert cf.custom_certificates.delete(c.id, zone_id=zone_id).id == c.id


def test_certificate_key_mismatch_is_2200(cf: Cloudflare, ca, zone_id: str):
    d = unique_domain()
    csr = cf.custom_csrs.create(zone_id=zone_id, **csr_fields(d, [d]))
    _key, other = ca.new_key_and_csr(d)
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_certificates.create(zone_id=zone_id, certificate=ca.sign(other, [d]), custom_csr_id=csr.id)
    assert error_codes(ei.value) == [2200]


def test_certificate_untrusted_is_2100_unless_force(cf: Cloudflare, untrusted_ca, zone_id: str):
    d = unique_domain()
    csr = cf.custom_csrs.create(zone_id=zone_id, **csr_fields(d, [d]))
    cert = untrusted_ca.sign(csr.csr, [d])
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_certificates.create(zone_id=zone_id, certificate=cert, custom_csr_id=csr.id)
    assert error_codes(ei.value) == [2100]
    forced = cf.custom_certificates.create(zone_id=zone_id, certificate=cert, custom_csr_id=csr.id,
                                           bundle_method="force")
    assert forced.bundle_method == "force"


def test_certificate_self_signed_is_2100(cf: Cloudflare, ca, zone_id: str):
    d = unique_domain()
    cert, key = ca.self_signed([d])
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_certificates.create(zone_id=zone_id, certificate=cert, private_key=key)
    assert error_codes(ei.value) == [2100]


def test_certificate_expiring_soon_is_1206(cf: Cloudflare, ca, zone_id: str):
    d = unique_domain()
    csr = cf.custom_csrs.create(zone_id=zone_id, **csr_fields(d, [d]))
    cert = ca.sign(csr.csr, [d], days=7)
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_certificates.create(zone_id=zone_id, certificate=cert, custom_csr_id=csr.id)
    assert error_codes(ei.value) == [1206]


def test_certificate_ids(cf: Cloudflare, zone_id: str):
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_certificates.get("not-an-id!", zone_id=zone_id)
    assert error_codes(ei.value) == [1001]
    for call in (cf.custom_certificates.get, cf.custom_certificates.delete):
        with pytest.raises(cloudflare.NotFoundError) as ei:
            call(random_uuid(), zone_id=zone_id)
        assert error_codes(ei.value) == [1003]


def test_certificate_garbage_pem_is_1002(cf: Cloudflare, signed_csr):
    s = signed_csr()
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_certificates.create(zone_id=s.zone_id, certificate="garbage", custom_csr_id=s.csr_id)
    assert error_codes(ei.value) == [1002]
