"""Certificate packs: a custom hostname with an RSA and an ECDSA certificate
(ssl.custom_cert_bundle), and the SDK's certificate_pack.certificates update/delete."""
from __future__ import annotations

import pytest
import cloudflare
from cloudflare import Cloudflare

from conftest import error_codes, unique_domain


def _pair(ca, host: str, key_alg: str) -> dict:
    key, csr = ca.new_key_and_csr(host, key_alg=key_alg)
    return {"custom_certificate": ca.sign(csr, [host]), "custom_key": key}


def _certificates(host) -> list:
    return host.ssl.model_dump()["certificates"]


def test_bundle_create_replace_and_delete(cf: Cloudflare, strict_cf: Cloudflare, ca, zone_id: str):
    name = f"app.{unique_domain()}"
    rsa, ecdsa = _pair(ca, name, "rsa"), _pair(ca, name, "ec")
    host = strict_cf.custom_hostnames.create(
        zone_id=zone_id, hostname=name, ssl={"custom_cert_bundle": [rsa, ecdsa]}
    )
    assert host.ssl.status == "active"
    assert "PRIVATE KEY" not in str(host.model_dump())
    certificates = _certificates(host)
    ids = [c["id"] for c in certificates]
    assert len(set(ids)) == 2 and host.ssl.id not in ids
    rsa_id, ecdsa_id = ids

    # The RSA certificate is replaced by another RSA one and keeps its id.
    replacement = _pair(ca, name, "rsa")
    updated = strict_cf.custom_hostnames.certificate_pack.certificates.update(
        rsa_id,
        zone_id=zone_id,
        custom_hostname_id=host.id,
        certificate_pack_id=host.ssl.id,
        **replacement,
    )
    assert updated is not None and updated.id == host.id
    after = _certificates(updated)
    assert [c["id"] for c in after] == ids
    assert after[0]["fingerprint_sha256"] != certificates[0]["fingerprint_sha256"]
    assert "PRIVATE KEY" not in str(updated.model_dump())

    # Not by an ECDSA one.
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.certificate_pack.certificates.update(
            rsa_id, zone_id=zone_id, custom_hostname_id=host.id,
            certificate_pack_id=host.ssl.id, **_pair(ca, name, "ec"),
        )
    assert error_codes(ei.value) == [1434]

    deleted = cf.custom_hostnames.certificate_pack.certificates.delete(
        ecdsa_id, zone_id=zone_id, custom_hostname_id=host.id, certificate_pack_id=host.ssl.id
    )
    assert deleted.id == ecdsa_id
    left = cf.custom_hostnames.get(host.id, zone_id=zone_id)
    assert [c["id"] for c in _certificates(left)] == [rsa_id]

    # The pack's last certificate stays.
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.certificate_pack.certificates.delete(
            rsa_id, zone_id=zone_id, custom_hostname_id=host.id, certificate_pack_id=host.ssl.id
        )
    assert error_codes(ei.value) == [1434]


def test_bundle_of_two_ecdsa_certificates_is_1434(cf: Cloudflare, ca, zone_id: str):
    name = f"app.{unique_domain()}"
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.create(
            zone_id=zone_id, hostname=name,
            ssl={"custom_cert_bundle": [_pair(ca, name, "ec"), _pair(ca, name, "ec")]},
        )
    assert error_codes(ei.value) == [1434]
    assert list(cf.custom_hostnames.list(zone_id=zone_id)) == []


def test_unknown_pack_certificate_is_404(cf: Cloudflare, ca, zone_id: str):
    name = f"app.{unique_domain()}"
    host = cf.custom_hostnames.create(zone_id=zone_id, hostname=name, ssl=_pair(ca, name, "ec"))
    with pytest.raises(cloudflare.NotFoundError) as ei:
        cf.custom_hostnames.certificate_pack.certificates.delete(
            host.ssl.id, zone_id=zone_id, custom_hostname_id=host.id, certificate_pack_id=host.ssl.id
        )
    assert error_codes(ei.value) == [1436]
