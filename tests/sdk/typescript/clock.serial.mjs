// The clock control moves edgecert's only clock, so this file runs alone (see run.sh): an
// issued certificate shows `expired` once the clock passes its expiry, and `active` again
// when the clock is back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { client, label, newTag } from './helpers.mjs';
import { DCV, control, isActive, waitFor } from './managed.mjs';

const cf = client();

test('an issued certificate shows expired once the clock passes it', async () => {
  const zone = newTag();
  const created = await cf.customHostnames.create({
    zone_id: zone, hostname: `${label('shop')}.example.com`, ssl: DCV,
  });
  await waitFor(cf, zone, created.id, isActive, 'active');
  try {
    // Pebble issues for 90 days, as Let's Encrypt does. (The renewal this makes due is issued
    // on Pebble's real clock, so it would be past its expiry here too.)
    const clock = await control(cf, 'put', '/clock', { advance_seconds: 91 * 86400 });
    assert.equal(clock.offset_seconds, 91 * 86400);
    const expired = await cf.customHostnames.get(created.id, { zone_id: zone });
    assert.equal(expired.ssl?.status, 'expired', JSON.stringify(expired.ssl));
    assert.equal(expired.status, 'active');
  } finally {
    await control(cf, 'delete', '/clock');
  }
  assert.ok(isActive(await cf.customHostnames.get(created.id, { zone_id: zone })));
});
