"""Every success response validates against the SDK 5.9.0 models (strict response validation).

The default client builds models leniently; here `_strict_response_validation=True` makes the SDK
raise APIResponseValidationError when a field has the wrong type or a required field is missing.
"""
from __future__ import annotations

import datetime as dt

from cloudflare import Cloudflare

from conftest import csr_fields, unique_domain


def test_strict_models_for_all_three_resources(strict_cf: Cloudflare, ca, zone_id: str, account_id: str):
    cf = strict_cf
    d = unique_domain()
    sans = [f"app.{d}", f"www.{d}"]
    zc = cf.custom_csrs.create(zone_id=zone_id, **csr_fields(sans[0], sans, name="n", description="d"))
    ac = cf.custom_csrs.create(account_id=account_id, **csr_fields(sans[0], sans))
    assert isinstance(cf.custom_csrs.get(zc.id, zone_id=zone_id).created_at, dt.datetime)
    assert cf.custom_csrs.get(ac.id, account_id=account_id).account_tag == account_id
    assert len(list(cf.custom_csrs.list(zone_id=zone_id))) == 1
    assert len(list(cf.custom_csrs.list(account_id=account_id))) == 1

    cert = ca.sign(zc.csr, sans)
    h = cf.custom_hostnames.create(zone_id=zone_id, hostname=sans[0],
                                   ssl={"custom_csr_id": zc.id, "custom_certificate": cert})
    assert isinstance(h.created_at, dt.datetime)
    assert isinstance(h.ssl.expires_on, dt.datetime) and isinstance(h.ssl.uploaded_on, dt.datetime)
    cf.custom_hostnames.get(h.id, zone_id=zone_id)
    assert len(list(cf.custom_hostnames.list(zone_id=zone_id))) == 1
    cf.custom_hostnames.edit(h.id, zone_id=zone_id, custom_metadata={"k": "v"})
    pending = cf.custom_hostnames.create(zone_id=zone_id, hostname=f"other.{d}",
                                         ssl={"method": "http", "type": "dv"})
    assert pending.ssl.status != "active"

    c = cf.custom_certificates.create(zone_id=zone_id, certificate=cert, custom_csr_id=zc.id)
    assert isinstance(c.uploaded_on, dt.datetime) and isinstance(c.modified_on, dt.datetime)
    cf.custom_certificates.get(c.id, zone_id=zone_id)
    assert len(list(cf.custom_certificates.list(zone_id=zone_id))) == 1
    c = cf.custom_certificates.edit(c.id, zone_id=zone_id, bundle_method="force")
    assert [x.priority for x in cf.custom_certificates.prioritize.update(
        zone_id=zone_id, certificates=[{"id": c.id, "priority": 4}]).result] == [4]

    assert cf.custom_certificates.delete(c.id, zone_id=zone_id).id == c.id
    assert cf.custom_hostnames.delete(h.id, zone_id=zone_id).id == h.id
    assert cf.custom_hostnames.delete(pending.id, zone_id=zone_id).id == pending.id
    assert cf.custom_csrs.delete(zc.id, zone_id=zone_id).id == zc.id
    assert cf.custom_csrs.delete(ac.id, account_id=account_id).id == ac.id
