'use strict';
// Bad input: TypeErrors for wrong types, the library's errors for wrong values, and nothing that
// crashes the process (the addon's raw functions given wrong things, clients dropped to GC).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('child_process');
const path = require('path');
const { startHub } = require('./hub');
const suprsend = require('..');
const { Suprsend, Event } = suprsend;

let hub;
let client;
before(async () => {
  hub = await startHub();
  client = new Suprsend(hub.key, hub.secret, { base_url: hub.base_url });
});
after(() => hub.stop());

test('wrong types in the constructor and options are TypeErrors', () => {
  assert.throws(() => new Suprsend(1, 's'), TypeError);
  assert.throws(() => new Suprsend('k', {}), TypeError);
  assert.throws(() => new Suprsend('k', 's', null), TypeError);
  assert.throws(() => new Suprsend('k', 's', { base_url: 5 }), TypeError);
  assert.throws(() => new Suprsend('k', 's', { timeout_ms: '10' }), TypeError);
  assert.throws(() => new Suprsend('k', 's', { timeout_ms: 1.5 }), TypeError);
  assert.throws(() => new Suprsend('k', 's', { auto_idempotency: 1 }), TypeError);
  assert.throws(() => new Suprsend('k', 's', { on_delivery: 'yes' }), TypeError);
  assert.throws(() => new Suprsend('k', 's', { base_url: 'http://x\u0000y/' }), TypeError);
});

test('wrong values are refused by the library with its message', () => {
  for (const [opts, re] of [
    [{ base_url: 'ftp://example.com/' }, /http/],
    [{ max_retries: 100 }, /./],
    [{ timeout_ms: 0 }, /./],
    [{ max_connections: 0 }, /./],
  ]) {
    assert.throws(() => new Suprsend('k', 's', opts), (e) => {
      assert.ok(e instanceof suprsend.SuprsendArgumentError, `${JSON.stringify(opts)}: ${e}`);
      assert.equal(e.code, 'SUPRSEND_E_ARGUMENT');
      assert.match(e.message, re);
      return true;
    });
  }
});

test('events of the wrong shape are TypeErrors when sent, appended or enqueued', async () => {
  const cases = [
    null, 42, 'event', { distinct_id: 'u', event_name: 'ev' },
    new Event(1, 'ev'), new Event('u', null), new Event('u', 'ev', [1, 2]), new Event('u', 'ev', 'props'),
    new Event('u', 'ev', { big: 10n }), new Event('u', 'ev', {}, { idempotency_key: 5 }),
    new Event('u', 'ev', {}, { tenant_id: {} }), new Event('u', 'ev', {}, { brand_id: true }),
    new Event('u\u0000v', 'ev'),
  ];
  const circular = {};
  circular.self = circular;
  cases.push(new Event('u', 'ev', circular));
  for (const ev of cases) {
    await assert.rejects(client.track_event(ev), TypeError);
    assert.throws(() => client.enqueue(ev), TypeError);
    assert.throws(() => client.bulk_events.new_instance().append(ev), TypeError);
  }
  assert.throws(() => new Event('u', 'ev').add_attachment(''), TypeError);
  await assert.rejects(client.flush('soon'), TypeError);
  await assert.rejects(client.close(NaN), TypeError);
});

test('the addon itself given wrong things throws, never crashes', () => {
  const addon = suprsend._addon;
  assert.throws(() => addon.trackEvent({}, '{}'), TypeError);
  assert.throws(() => addon.trackEvent(null, '{}'), TypeError);
  assert.throws(() => addon.enqueue(client._native, 7), TypeError);
  assert.throws(() => addon.enqueue(client._native, '{not json'), suprsend.SuprsendArgumentError);
  assert.throws(() => addon.enqueue(client._native, '{"distinct_id": "u"}'), suprsend.SuprsendArgumentError);
  assert.throws(() => addon.bulkTrigger(client._native, [1, 2]), TypeError);
  assert.throws(() => addon.bulkTrigger(client._native, 'x'), TypeError);
  assert.throws(() => addon.stats({}), TypeError);
  assert.throws(() => addon.newClient('k', 's'), TypeError);
  assert.throws(() => addon.bulkNew({}), TypeError);
  const bulk = addon.bulkNew(client._native);
  assert.throws(() => addon.bulkAppend(bulk, [['{"distinct_id":"u","event":"ev"}', [[5, null, false]]]]), TypeError);
  assert.throws(() => addon.bulkAppend(bulk, 'x'), TypeError);
  assert.throws(() => addon.bulkAppend({}, []), TypeError);
  assert.throws(() => addon.bulkAppend(7, []), TypeError);
});

test('clients dropped to the garbage collector, busy or idle, are freed without a crash', () => {
  const script = `
    const { Suprsend, Event } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
    (async () => {
      for (let round = 0; round < 5; round++) {
        const pending = [];
        for (let i = 0; i < 20; i++) {
          const c = new Suprsend('${hub.key}', '${hub.secret}', { base_url: '${hub.base_url}', flush_interval_ms: 0 });
          if (i % 2) pending.push(c.track_event(new Event('gc' + i, 'gc_event')));
          if (i % 5 === 0) c.enqueue(new Event('gq' + i, 'gc_queued'));
        }
        global.gc();
        await Promise.all(pending);
        await new Promise((r) => setTimeout(r, 20));
        global.gc();
      }
      console.log('done');
    })();
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /done/);
});
