"""Every list filter the SDK exposes, the quota model, and header errors (6003 with its chain)."""
from __future__ import annotations

import pytest
import cloudflare
from cloudflare import Cloudflare

from conftest import error_codes, unique_domain


@pytest.fixture
def zone_of_each(cf: Cloudflare, signed_csr):
    """A zone with one hostname of each kind the filters tell apart, and their names."""
    s = signed_csr()
    d = unique_domain()
    names = {
        "txt": f"txt.{d}",
        "mail": f"mail.{d}",
        "wild": f"*.wild.{d}",
        "bare": f"bare.{d}",
        "app": s.sans[0],
    }
    cf.custom_hostnames.create(zone_id=s.zone_id, hostname=names["txt"], ssl={"method": "txt", "type": "dv"})
    cf.custom_hostnames.create(
        zone_id=s.zone_id,
        hostname=names["mail"],
        # email, not http: run.sh gives edgecert an ACME CA, which would take an http
        # hostname through its own lifecycle.
        ssl={"method": "email", "type": "dv", "certificate_authority": "lets_encrypt"},
    )
    cf.custom_hostnames.create(zone_id=s.zone_id, hostname=names["wild"], ssl={"method": "txt", "type": "dv"})
    cf.custom_hostnames.create(zone_id=s.zone_id, hostname=names["bare"])
    cf.custom_hostnames.create(
        zone_id=s.zone_id,
        hostname=names["app"],
        ssl={"custom_csr_id": s.csr_id, "custom_certificate": s.certificate},
        custom_origin_server=f"origin.{d}",
    )
    return s.zone_id, names, f"origin.{d}"


def _hostnames(cf: Cloudflare, zone_id: str, **filters) -> list[str]:
    return [h.hostname for h in cf.custom_hostnames.list(zone_id=zone_id, per_page=50, **filters).result]


def test_every_hostname_filter_selects_what_it_names(cf: Cloudflare, zone_of_each):
    zone_id, n, origin = zone_of_each
    assert _hostnames(cf, zone_id, ssl=0) == [n["bare"]]
    assert _hostnames(cf, zone_id, ssl=1) == [n["txt"], n["mail"], n["wild"], n["app"]]
    assert _hostnames(cf, zone_id, ssl_status="active") == [n["app"]]
    assert _hostnames(cf, zone_id, ssl_status="pending_validation") == [n["txt"], n["mail"], n["wild"], n["bare"]]
    assert _hostnames(cf, zone_id, hostname_status="active") == [n["app"]]
    assert _hostnames(cf, zone_id, hostname_status="blocked") == []
    assert _hostnames(cf, zone_id, wildcard=True) == [n["wild"]]
    assert n["wild"] not in _hostnames(cf, zone_id, wildcard=False)
    assert _hostnames(cf, zone_id, certificate_authority="lets_encrypt") == [n["mail"]]
    assert _hostnames(cf, zone_id, certificate_authority="google") == []
    assert _hostnames(cf, zone_id, custom_origin_server=origin) == [n["app"]]
    # Filters combine with the hostname match.
    assert _hostnames(cf, zone_id, ssl=1, hostname={"contain": "mail."}) == [n["mail"]]


def test_orders_and_directions(cf: Cloudflare, zone_of_each):
    zone_id, n, _ = zone_of_each
    created = [n["txt"], n["mail"], n["wild"], n["bare"], n["app"]]
    assert _hostnames(cf, zone_id) == created
    assert _hostnames(cf, zone_id, direction="desc") == list(reversed(created))
    # By DCV method (none first), ties in creation order.
    assert _hostnames(cf, zone_id, order="ssl") == [n["bare"], n["app"], n["mail"], n["txt"], n["wild"]]
    assert _hostnames(cf, zone_id, order="ssl_status")[0] == n["app"]
    assert _hostnames(cf, zone_id, order="ssl_status", direction="desc")[-1] == n["app"]


def test_filtered_pages_count_the_filtered_rows(cf: Cloudflare, zone_of_each):
    zone_id, n, _ = zone_of_each
    page = cf.custom_hostnames.list(zone_id=zone_id, ssl_status="pending_validation", per_page=5)
    assert page.result_info.total_count == 4
    # Auto-paging over a filtered list stops after the filtered rows.
    assert len(list(cf.custom_hostnames.list(zone_id=zone_id, ssl=1, per_page=5))) == 4


def test_custom_certificate_status_and_match(cf: Cloudflare, ca, zone_id: str):
    d = unique_domain()
    key, csr = ca.new_key_and_csr(f"shop.{d}")
    certificate = ca.sign(csr, [f"shop.{d}"])
    uploaded = cf.custom_certificates.create(zone_id=zone_id, certificate=certificate, private_key=key)
    active = cf.custom_certificates.list(zone_id=zone_id, status="active", match="all")
    assert [c.id for c in active.result] == [uploaded.id]
    assert cf.custom_certificates.list(zone_id=zone_id, status="expired", match="any").result == []
    assert cf.custom_certificates.list(zone_id=zone_id, status="pending").result == []


def test_quota_has_the_sdk_model(cf: Cloudflare, zone_of_each):
    zone_id, _, _ = zone_of_each
    quota = cf.custom_hostnames.quota.get(zone_id=zone_id)
    assert quota is not None
    assert quota.used == 5
    assert isinstance(quota.allocated, int) and isinstance(quota.hard_cap, int)
    assert quota.exceeded is False


def test_a_value_outside_the_documented_ones_is_bad_request(cf: Cloudflare, zone_id: str):
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.list(zone_id=zone_id, extra_query={"ssl_status": "bogus"})
    assert error_codes(ei.value) == [6008]
    assert "ssl_status" in ei.value.body["errors"][0]["message"]


def _chain(exc) -> list[int]:
    return [link["code"] for link in exc.body["errors"][0].get("error_chain") or []]


def test_header_errors_are_6003_with_their_chain(cf: Cloudflare, base_url: str, zone_id: str):
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_hostnames.create(
            zone_id=zone_id,
            hostname=f"app.{unique_domain()}",
            extra_headers={"Content-Type": "text/plain"},
        )
    assert error_codes(ei.value) == [6003]
    assert _chain(ei.value) == [6105]

    malformed = Cloudflare(api_token="not a token", base_url=base_url, max_retries=0)
    try:
        with pytest.raises(cloudflare.BadRequestError) as ei:
            malformed.custom_csrs.list(zone_id=zone_id)
        assert error_codes(ei.value) == [6003]
        assert _chain(ei.value) == [6111]
    finally:
        malformed.close()

    key_style = Cloudflare(api_key="k" * 37, base_url=base_url, max_retries=0)
    try:
        with pytest.raises(cloudflare.BadRequestError) as ei:
            key_style.custom_csrs.list(zone_id=zone_id)
        assert error_codes(ei.value) == [6003]
        assert _chain(ei.value) == [6100]
    finally:
        key_style.close()
