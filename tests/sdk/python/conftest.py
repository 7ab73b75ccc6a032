"""Fixtures for the edgecert conformance suite driven by the official Cloudflare Python SDK.

run.sh starts edgecert and exports EDGECERT_BASE_URL, EDGECERT_TOKEN, EDGECERT_CA_KEY and
EDGECERT_CA_CERT. The SDK client is built with default settings (retries on) except for
base_url and api_token.
"""
from __future__ import annotations

import os
import re
import time
import secrets
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional

import pytest
from cloudflare import Cloudflare


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set; run the suite through tests/sdk/python/run.sh", returncode=2)
    return value


@pytest.fixture(scope="session")
def base_url() -> str:
    return _env("EDGECERT_BASE_URL")


@pytest.fixture(scope="session")
def token() -> str:
    return _env("EDGECERT_TOKEN")


@pytest.fixture(scope="session")
def strict_cf(base_url: str, token: str) -> Cloudflare:
    """Same defaults, but responses must validate against the SDK's pydantic models."""
    client = Cloudflare(api_token=token, base_url=base_url, _strict_response_validation=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def cf(base_url: str, token: str) -> Cloudflare:
    client = Cloudflare(api_token=token, base_url=base_url)
    yield client
    client.close()


def new_zone_id() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def zone_id() -> str:
    """A fresh 32-hex zone id per test, so tests never see each other's objects."""
    return new_zone_id()


@pytest.fixture
def account_id() -> str:
    return secrets.token_hex(16)


def unique_domain() -> str:
    """A registrable domain nobody else in the run uses (example.com is fine outside --strict)."""
    return f"sdk-{secrets.token_hex(5)}.example.com"


def csr_fields(common_name: str, sans: List[str], **overrides) -> dict:
    fields = dict(
        country="US",
        state="MA",
        locality="Boston",
        organization="City of Boston",
        organizational_unit="Championship Parade Detail",
        common_name=common_name,
        sans=sans,
        key_type="p256v1",
    )
    fields.update(overrides)
    return fields


def error_codes(exc) -> List[int]:
    """Cloudflare error codes of an SDK APIStatusError, from e.errors (falling back to the body)."""
    codes = [e.code for e in (exc.errors or []) if e.code is not None]
    if not codes and isinstance(exc.body, dict):
        codes = [e.get("code") for e in exc.body.get("errors") or []]
    return codes


def server_requests(method: str, path_suffix: str) -> List[str]:
    """edgecert's `request` log lines (run.sh exports EDGECERT_SDK_LOG) for one method and path.

    Returns None when the log is not available (the suite then relies on timing alone).
    """
    log = os.environ.get("EDGECERT_SDK_LOG")
    if not log:
        return None
    deadline = time.monotonic() + 2.0
    while True:
        with open(log, errors="replace") as f:
            lines = [
                line for line in f
                if "request" in line and f"method={method} " in line
                and re.search(r"path=\S*" + re.escape(path_suffix) + r"(\s|$)", line)
            ]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)  # the line is written as the answer goes out; give it a moment


def random_uuid() -> str:
    return str(uuid.uuid4())


@dataclass
class LocalCA:
    """Signs CSRs with openssl; the root is in edgecert's EDGECERT_TRUST_ROOTS (unless untrusted)."""

    key: Path
    cert: Path
    workdir: Path

    def _tmp(self, suffix: str) -> Path:
        fd, name = tempfile.mkstemp(suffix=suffix, dir=self.workdir)
        os.close(fd)
        return Path(name)

    def sign(self, csr_pem: str, sans: Iterable[str], days: int = 90, digest: str = "sha256") -> str:
        csr = self._tmp(".csr")
        csr.write_text(csr_pem)
        ext = self._tmp(".ext")
        ext.write_text(
            "basicConstraints=CA:FALSE\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans) + "\n"
        )
        out = self._tmp(".pem")
        subprocess.run(
            ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
             "-set_serial", str(secrets.randbits(63)), "-days", str(days), f"-{digest}",
             "-extfile", str(ext), "-out", str(out)],
            check=True, capture_output=True,
        )
        return out.read_text()

    def new_key_and_csr(self, common_name: str, key_alg: str = "ec") -> tuple[str, str]:
        """A customer-side key and CSR made with openssl (for custom_key / private_key uploads)."""
        key = self._tmp(".key")
        csr = self._tmp(".csr")
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] if key_alg == "ec" \
            else ["-newkey", "rsa:2048"]
        subprocess.run(
            ["openssl", "req", "-new", *newkey, "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", f"/CN={common_name}"],
            check=True, capture_output=True,
        )
        # openssl writes PKCS#8 ("BEGIN PRIVATE KEY") for -newkey: accepted by edgecert.
        return key.read_text(), csr.read_text()

    def self_signed(self, sans: List[str], days: int = 30) -> tuple[str, str]:
        """A self-signed leaf (with its key) for the given SANs."""
        key = self._tmp(".key")
        cert = self._tmp(".pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(days), "-sha256",
             "-subj", f"/CN={sans[0]}",
             "-addext", "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans),
             "-addext", "basicConstraints=CA:FALSE",
             "-addext", "extendedKeyUsage=serverAuth"],
            check=True, capture_output=True,
        )
        return cert.read_text(), key.read_text()


@pytest.fixture(scope="session")
def ca(tmp_path_factory) -> LocalCA:
    """The trusted throwaway CA generated by run.sh."""
    return LocalCA(Path(_env("EDGECERT_CA_KEY")), Path(_env("EDGECERT_CA_CERT")),
                  tmp_path_factory.mktemp("ca-trusted"))


@pytest.fixture(scope="session")
def untrusted_ca(tmp_path_factory) -> LocalCA:
    """A second CA that edgecert does not trust."""
    d = tmp_path_factory.mktemp("ca-untrusted")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
         "-keyout", str(d / "root.key"), "-out", str(d / "root.pem"),
         "-subj", "/O=Untrusted SDK CA/CN=Untrusted SDK Root",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        check=True, capture_output=True,
    )
    return LocalCA(d / "root.key", d / "root.pem", d)


@dataclass
class SignedCSR:
    zone_id: str
    csr_id: str
    sans: List[str]
    certificate: str


@pytest.fixture
def signed_csr(cf: Cloudflare, ca: LocalCA, zone_id: str):
    """A zone CSR created through the SDK, signed by the trusted test CA.

    Returns a factory: signed_csr(sans=None) -> SignedCSR.
    """

    def make(sans: Optional[List[str]] = None, key_type: str = "p256v1") -> SignedCSR:
        if sans is None:
            d = unique_domain()
            sans = [f"app.{d}", f"www.{d}"]
        csr = cf.custom_csrs.create(zone_id=zone_id, **csr_fields(sans[0], sans, key_type=key_type))
        return SignedCSR(zone_id, csr.id, sans, ca.sign(csr.csr, sans))

    return make
