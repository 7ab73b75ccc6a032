"""The remaining upload and settings errors, each as the SDK's BadRequestError with its code."""
from __future__ import annotations

import pytest
import cloudflare
from cloudflare import Cloudflare

from conftest import error_codes


def _bad_request(call) -> list[int]:
    with pytest.raises(cloudflare.BadRequestError) as ei:
        call()
    assert ei.value.status_code == 400
    return error_codes(ei.value)


@pytest.mark.parametrize(
    "ssl, code",
    [
        ({"method": "carrier-pigeon"}, 1432),
        ({"type": "ev"}, 1433),
        ({"bundle_method": "best"}, 1449),
        ({"certificate_authority": "nobody"}, 1434),
    ],
)
def test_hostname_ssl_settings(cf: Cloudflare, zone_id: str, ssl: dict, code: int):
    assert _bad_request(
        lambda: cf.custom_hostnames.create(zone_id=zone_id, hostname="app.example.com", ssl=ssl)
    ) == [code]


def test_hostname_metadata_must_be_string_values(cf: Cloudflare, zone_id: str):
    assert _bad_request(
        lambda: cf.custom_hostnames.create(
            zone_id=zone_id, hostname="app.example.com", custom_metadata={"n": 1}
        )
    ) == [1401]


def test_hostname_certificate_problems(cf: Cloudflare, signed_csr, ca):
    s = signed_csr()
    other = signed_csr(sans=s.sans)
    cases = [
        ("", 1427),
        (s.certificate + other.certificate, 1444),
        (ca.cert.read_text(), 1445),
    ]
    for certificate, code in cases:
        assert _bad_request(
            lambda: cf.custom_hostnames.create(
                zone_id=s.zone_id,
                hostname=s.sans[0],
                ssl={"custom_csr_id": s.csr_id, "custom_certificate": certificate},
            )
        ) == [code], certificate[:40]
    assert _bad_request(
        lambda: cf.custom_hostnames.create(
            zone_id=s.zone_id,
            hostname=s.sans[0],
            ssl={"custom_certificate": s.certificate, "custom_key": "not a key"},
        )
    ) == [1428]


def test_certificate_problems(cf: Cloudflare, signed_csr, ca):
    s = signed_csr()
    other = signed_csr(sans=s.sans)
    cases = [
        ({"certificate": ca.cert.read_text(), "custom_csr_id": s.csr_id}, 2101),
        ({"certificate": s.certificate + other.certificate, "custom_csr_id": s.csr_id}, 1444),
        ({"certificate": s.certificate, "private_key": "not a key"}, 2106),
        ({"certificate": s.certificate, "custom_csr_id": "nope"}, 1430),
        ({"certificate": s.certificate, "custom_csr_id": s.csr_id, "bundle_method": "best"}, 1449),
        ({"certificate": s.certificate, "custom_csr_id": s.csr_id, "type": "modern"}, 2001),
    ]
    for body, code in cases:
        assert _bad_request(
            lambda: cf.custom_certificates.create(zone_id=s.zone_id, **body)
        ) == [code], body


def test_md5_signed_certificates_are_refused(cf: Cloudflare, zone_id: str, ca):
    csr = cf.custom_csrs.create(
        zone_id=zone_id, country="US", state="MA", locality="Boston", organization="City",
        common_name="md5.example.com", sans=["md5.example.com"], key_type="p256v1",
    )
    md5 = ca.sign(csr.csr, ["md5.example.com"], digest="md5")
    assert _bad_request(
        lambda: cf.custom_hostnames.create(
            zone_id=zone_id, hostname="md5.example.com",
            ssl={"custom_csr_id": csr.id, "custom_certificate": md5},
        )
    ) == [1447]
    assert _bad_request(
        lambda: cf.custom_certificates.create(
            zone_id=zone_id, certificate=md5, custom_csr_id=csr.id
        )
    ) == [1447]
