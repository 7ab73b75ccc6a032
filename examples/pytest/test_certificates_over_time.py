"""Example tests of code that uploads certificates, run against edgecert's test controls."""
from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed(directory: Path, hostname: str, days: int) -> tuple[str, str]:
    """A P-256 leaf certificate for `hostname` and its key, valid for `days` (openssl CLI)."""
    config = directory / "leaf.cnf"
    config.write_text(
        "[req]\ndistinguished_name = dn\nx509_extensions = leaf\nprompt = no\n"
        f"[dn]\nCN = {hostname}\n"
        "[leaf]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
        f"extendedKeyUsage = serverAuth\nsubjectAltName = DNS:{hostname}\n"
    )
    key, cert = directory / "leaf.key", directory / "leaf.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-sha256", "-days", str(days), "-config", str(config),
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert.read_text(), key.read_text()


def upload(cf, zone: str, certificate: str, key: str):
    """The code under test: uploads a customer's certificate as a zone custom certificate.
    `force` because the example's certificate is self-signed."""
    return cf.custom_certificates.create(
        zone_id=zone, certificate=certificate, private_key=key, bundle_method="force"
    )


def test_each_test_starts_with_an_empty_zone(cf, zone, tmp_path):
    assert list(cf.custom_certificates.list(zone_id=zone)) == []
    certificate, key = self_signed(tmp_path, "app.example.com", days=30)
    upload(cf, zone, certificate, key)
    assert len(list(cf.custom_certificates.list(zone_id=zone))) == 1


def test_a_certificate_shows_expired_once_the_clock_passes_it(cf, edgecert, zone, tmp_path):
    certificate, key = self_signed(tmp_path, "app.example.com", days=30)
    uploaded = upload(cf, zone, certificate, key)
    assert uploaded.status == "active"

    edgecert.advance_clock(days=31)

    assert cf.custom_certificates.get(uploaded.id, zone_id=zone).status == "expired"


def test_a_forced_hostname_status_is_what_the_sdk_sees(cf, edgecert, zone):
    hostname = cf.custom_hostnames.create(
        zone_id=zone, hostname="shop.example.com", ssl={"method": "txt", "type": "dv"}
    )
    edgecert.force_status(zone, hostname.id, status="blocked",
                          verification_errors=["custom hostname does not CNAME to this zone"])

    shown = cf.custom_hostnames.get(hostname.id, zone_id=zone)
    assert shown.status == "blocked"
    assert shown.verification_errors == ["custom hostname does not CNAME to this zone"]
