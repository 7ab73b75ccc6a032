"""custom_hostnames.fallback_origin: put, get, replace and delete through the SDK."""
from __future__ import annotations

from datetime import datetime

import pytest
import cloudflare
from cloudflare import Cloudflare

from conftest import error_codes, new_zone_id


def test_fallback_origin_put_get_delete(cf: Cloudflare, strict_cf: Cloudflare):
    zone = new_zone_id()
    with pytest.raises(cloudflare.NotFoundError) as missing:
        cf.custom_hostnames.fallback_origin.get(zone_id=zone)
    assert error_codes(missing.value) == [1551]

    put = strict_cf.custom_hostnames.fallback_origin.update(
        zone_id=zone, origin="fallback.saas-platform.com"
    )
    assert put is not None
    assert put.origin == "fallback.saas-platform.com"
    assert put.status == "active"
    assert put.errors == []
    assert isinstance(put.created_at, datetime) and isinstance(put.updated_at, datetime)

    got = strict_cf.custom_hostnames.fallback_origin.get(zone_id=zone)
    assert got.model_dump() == put.model_dump()

    # For local use an origin may carry a port; a second PUT replaces the first.
    local = cf.custom_hostnames.fallback_origin.update(zone_id=zone, origin="localhost:3000")
    assert local.origin == "localhost:3000"
    assert local.created_at == put.created_at
    assert local.updated_at > put.updated_at

    deleted = strict_cf.custom_hostnames.fallback_origin.delete(zone_id=zone)
    assert deleted.origin == "localhost:3000"
    with pytest.raises(cloudflare.NotFoundError):
        cf.custom_hostnames.fallback_origin.get(zone_id=zone)

    with pytest.raises(cloudflare.BadRequestError) as invalid:
        cf.custom_hostnames.fallback_origin.update(zone_id=zone, origin="a..saas-platform.com")
    assert error_codes(invalid.value) == [1407]
