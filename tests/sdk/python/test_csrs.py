"""custom_csrs through the SDK, at zone and account scope."""
from __future__ import annotations

import datetime as dt
import time

import pytest
import cloudflare
from cloudflare import Cloudflare

from conftest import csr_fields, error_codes, random_uuid, unique_domain


def _check_pem_csr(pem: str) -> None:
    assert pem.startswith("-----BEGIN CERTIFICATE REQUEST-----"), pem[:60]
    assert pem.rstrip().endswith("-----END CERTIFICATE REQUEST-----")


@pytest.mark.parametrize("scope", ["zone", "account"])
def test_csr_create_get_list_delete(cf: Cloudflare, zone_id: str, account_id: str, scope: str):
    where = {"zone_id": zone_id} if scope == "zone" else {"account_id": account_id}
    d = unique_domain()
    sans = [f"app.{d}", f"www.{d}", f"blog.{d}", d]
    fields = csr_fields(f"app.{d}", sans, name="parade", description="tutorial CSR")

    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    created = cf.custom_csrs.create(**where, **fields)
    assert created is not None
    for key in ("country", "state", "locality", "organization", "organizational_unit",
                "common_name", "sans", "key_type", "name", "description"):
        assert getattr(created, key) == fields[key], key
    assert isinstance(created.id, str) and len(created.id) == 36
    assert isinstance(created.created_at, dt.datetime), type(created.created_at)
    assert created.created_at.tzinfo is not None
    assert before <= created.created_at <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
    _check_pem_csr(created.csr)
    if scope == "account":
        assert created.account_tag == account_id
    # The private key is never returned.
    dumped = created.model_dump()
    assert not any("private" in k or k == "key" for k in dumped), dumped.keys()
    assert "PRIVATE KEY" not in str(dumped)

    got = cf.custom_csrs.get(created.id, **where)
    assert got.id == created.id
    assert got.sans == sans and got.common_name == f"app.{d}"
    assert got.csr == created.csr
    assert got.created_at == created.created_at
    if scope == "account":
        assert got.account_tag == account_id

    listed = list(cf.custom_csrs.list(**where))
    assert [c.id for c in listed] == [created.id]
    assert isinstance(listed[0].created_at, dt.datetime)
    if scope == "account":
        assert listed[0].account_tag == account_id

    deleted = cf.custom_csrs.delete(created.id, **where)
    assert deleted is not None and deleted.id == created.id

    with pytest.raises(cloudflare.NotFoundError) as ei:
        cf.custom_csrs.get(created.id, **where)
    assert ei.value.status_code == 404
    assert error_codes(ei.value) == [1419]
    assert list(cf.custom_csrs.list(**where)) == []


def test_csr_key_type_defaults_to_rsa2048(cf: Cloudflare, zone_id: str):
    d = unique_domain()
    fields = csr_fields(d, [d])
    del fields["key_type"]
    created = cf.custom_csrs.create(zone_id=zone_id, **fields)
    assert created.key_type == "rsa2048"
    _check_pem_csr(created.csr)


def test_zones_and_accounts_are_separate_namespaces(cf: Cloudflare, account_id: str):
    zone = account_id  # same 32-hex string used as a zone id and as an account id
    d = unique_domain()
    acct_csr = cf.custom_csrs.create(account_id=account_id, **csr_fields(d, [d]))
    with pytest.raises(cloudflare.NotFoundError) as ei:
        cf.custom_csrs.get(acct_csr.id, zone_id=zone)
    assert error_codes(ei.value) == [1419]
    assert list(cf.custom_csrs.list(zone_id=zone)) == []
    assert [c.id for c in cf.custom_csrs.list(account_id=account_id)] == [acct_csr.id]


def test_csr_in_other_zone_is_not_found(cf: Cloudflare, zone_id: str):
    d = unique_domain()
    c = cf.custom_csrs.create(zone_id=zone_id, **csr_fields(d, [d]))
    other = "0" * 31 + "1" if zone_id != "0" * 31 + "1" else "0" * 31 + "2"
    for call in (cf.custom_csrs.get, cf.custom_csrs.delete):
        with pytest.raises(cloudflare.NotFoundError) as ei:
            call(c.id, zone_id=other)
        assert error_codes(ei.value) == [1419]
    assert cf.custom_csrs.get(c.id, zone_id=zone_id).id == c.id


@pytest.mark.parametrize("scope", ["zone", "account"])
def test_auto_pagination_per_page_5(cf: Cloudflare, zone_id: str, account_id: str, scope: str):
    where = {"zone_id": zone_id} if scope == "zone" else {"account_id": account_id}
    n = 23
    ids = []
    for i in range(n):
        d = unique_domain()
        ids.append(cf.custom_csrs.create(**where, **csr_fields(d, [d], name=f"csr-{i:02d}")).id)

    start = time.monotonic()
    seen = [c.id for c in cf.custom_csrs.list(**where, per_page=5)]
    assert time.monotonic() - start < 30
    assert len(seen) == n, (len(seen), n)
    assert sorted(seen) == sorted(ids)
    assert len(set(seen)) == n

    # Page by page: 5+5+5+5+3, then one empty page (HTTP 200, result []) on which the SDK
    # stops: SDK 5.9.0 only stops on an empty page and yields that page too.
    pages = list(cf.custom_csrs.list(**where, per_page=5).iter_pages())
    sizes = [len(p.result) for p in pages]
    assert sizes == [5, 5, 5, 5, 3, 0], sizes
    first = pages[0]
    assert first.result_info is not None
    assert first.result_info.page == 1 and first.result_info.per_page == 5
    assert first.result_info.total_count == n and first.result_info.total_pages == 5

    # Default order: newest first.
    created = [c.created_at for c in cf.custom_csrs.list(**where, per_page=50)]
    assert created == sorted(created, reverse=True)

    # Name ordering ascending, across pages.
    names = [c.name for c in cf.custom_csrs.list(**where, per_page=5, order="name", direction="asc")]
    assert names == [f"csr-{i:02d}" for i in range(n)]

    # An explicit page beyond the end is an empty page, not an error.
    assert cf.custom_csrs.list(**where, per_page=5, page=99).result == []


@pytest.mark.parametrize("per_page,code", [(4, 6008), (51, 6008)])
def test_list_bad_per_page(cf: Cloudflare, zone_id: str, per_page: int, code: int):
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_csrs.list(zone_id=zone_id, per_page=per_page)
    assert error_codes(ei.value) == [code]


def test_list_integral_float_per_page(cf: Cloudflare, zone_id: str):
    # The SDK sends str(5.0) == "5.0" for float-typed params.
    page = cf.custom_csrs.list(zone_id=zone_id, per_page=5.0)
    assert page.result == []


def _create_error(cf, zone_id, **overrides):
    d = unique_domain()
    with pytest.raises(cloudflare.BadRequestError) as ei:
        fields = csr_fields(d, [d])
        fields.update(overrides)
        cf.custom_csrs.create(zone_id=zone_id, **fields)
    assert ei.value.status_code == 400
    return ei.value


@pytest.mark.parametrize(
    "overrides,code",
    [
        ({"country": ""}, 1405),
        ({"country": "USA"}, 1405),
        ({"country": "us"}, 1405),
        ({"state": ""}, 1406),
        ({"locality": ""}, 1407),
        ({"organization": ""}, 1408),
        ({"common_name": ""}, 1409),
        ({"common_name": "a" * 65}, 1410),
        ({"sans": []}, 1411),
        ({"sans": ["bad_host!.example.com"]}, 1412),
        ({"sans": ["192.0.2.1"]}, 1412),
        ({"sans": ["-lead.example.com"]}, 1412),
        ({"sans": ["bücher.de"]}, 1413),
        ({"sans": ["shop.test"]}, 1414),
        ({"sans": ["foo.localhost"]}, 1414),
        ({"sans": ["co.uk"]}, 1415),
        ({"sans": ["host.notarealtld"]}, 1415),
        ({"key_type": "dsa1024"}, 1417),
    ],
)
def test_create_validation_errors(cf: Cloudflare, zone_id: str, overrides, code):
    err = _create_error(cf, zone_id, **overrides)
    assert error_codes(err) == [code], err.body
    assert isinstance(err.errors[0].message, str) and err.errors[0].message
    assert err.body["success"] is False and err.body["result"] is None


def test_create_reports_every_problem_in_form_order(cf: Cloudflare, zone_id: str):
    err = _create_error(cf, zone_id, country="", state="", sans=["ok.example.com", "x.test", "bad!"],
                        key_type="nope")
    assert error_codes(err) == [1405, 1406, 1414, 1412, 1417], err.body
    pointers = [e.source.pointer if e.source else None for e in err.errors]
    assert pointers == ["/country", "/state", "/sans/1", "/sans/2", "/key_type"], pointers


def test_duplicate_san_is_1412(cf: Cloudflare, zone_id: str):
    d = unique_domain()
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_csrs.create(zone_id=zone_id, **csr_fields(d, [d, d.upper()]))
    assert error_codes(ei.value) == [1412]


@pytest.mark.parametrize("scope", ["zone", "account"])
def test_malformed_csr_id_is_1418(cf: Cloudflare, zone_id: str, account_id: str, scope: str):
    where = {"zone_id": zone_id} if scope == "zone" else {"account_id": account_id}
    for call in (cf.custom_csrs.get, cf.custom_csrs.delete):
        with pytest.raises(cloudflare.BadRequestError) as ei:
            call("not-a-uuid", **where)
        assert error_codes(ei.value) == [1418]


@pytest.mark.parametrize("scope", ["zone", "account"])
def test_unknown_csr_id_is_404_1419(cf: Cloudflare, zone_id: str, account_id: str, scope: str):
    where = {"zone_id": zone_id} if scope == "zone" else {"account_id": account_id}
    for call in (cf.custom_csrs.get, cf.custom_csrs.delete):
        with pytest.raises(cloudflare.NotFoundError) as ei:
            call(random_uuid(), **where)
        assert ei.value.status_code == 404
        assert error_codes(ei.value) == [1419]


@pytest.mark.parametrize("bad", ["not-hex", "023E105F4ECEF8AD9CA31A8372D0C353", "abc"])
def test_bad_zone_or_account_id_is_1401(cf: Cloudflare, bad: str):
    # The SDK sends any non-empty id; edgecert rejects it.
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_csrs.list(zone_id=bad)
    assert error_codes(ei.value) == [1401]
    with pytest.raises(cloudflare.BadRequestError) as ei:
        cf.custom_csrs.get(random_uuid(), account_id=bad)
    assert error_codes(ei.value) == [1401]


def test_empty_or_missing_scope_is_refused_client_side(cf: Cloudflare, zone_id: str):
    with pytest.raises(ValueError):
        cf.custom_csrs.list()
    with pytest.raises(ValueError):
        cf.custom_csrs.list(zone_id=zone_id, account_id=zone_id)
    with pytest.raises(ValueError):
        cf.custom_csrs.get("", zone_id=zone_id)


def test_wrong_token_is_authentication_error_1000(base_url: str, zone_id: str):
    with Cloudflare(api_token="definitely-not-the-token", base_url=base_url) as bad:
        with pytest.raises(cloudflare.AuthenticationError) as ei:
            bad.custom_csrs.list(zone_id=zone_id)
    assert ei.value.status_code == 401
    assert error_codes(ei.value) == [1000]


def test_other_credential_schemes(base_url: str, token: str, zone_id: str):
    # X-Auth-Email + X-Auth-Key and X-Auth-User-Service-Key accept the same token.
    with Cloudflare(api_email="someone@example.com", api_key=token, base_url=base_url) as c:
        assert list(c.custom_csrs.list(zone_id=zone_id)) == []
    with Cloudflare(user_service_key=token, base_url=base_url) as c:
        assert list(c.custom_csrs.list(zone_id=zone_id)) == []
    with Cloudflare(user_service_key="wrong", base_url=base_url) as c:
        with pytest.raises(cloudflare.AuthenticationError) as ei:
            c.custom_csrs.list(zone_id=zone_id)
        assert error_codes(ei.value) == [1000]
