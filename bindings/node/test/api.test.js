'use strict';
// suprsend-node-sdk's event API against the local hub: track_event, attachments, bulk.
const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
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
beforeEach(() => hub.reset());

test('the constructor needs a key and a secret', () => {
  assert.throws(() => new Suprsend(), TypeError);
  assert.throws(() => new Suprsend('key'), TypeError);
  assert.throws(() => new Suprsend('', 'secret'), TypeError);
  assert.throws(() => new Suprsend('key', ''), TypeError);
  assert.ok(new Suprsend('key', 'secret'));
});

test('track_event resolves to the SDK result and the hub gets the event as set', async () => {
  const ev = new Event('user_1', 'product_purchased', { amount: 10 }, {
    idempotency_key: 'order-1', tenant_id: 'acme', brand_id: 'acme_brand',
  });
  ev.properties.later = 'changed after construction';
  const res = await client.track_event(ev);
  assert.equal(res.success, true);
  assert.equal(res.status, 'success');
  assert.equal(res.status_code, 202);
  assert.match(res.message, /^msg_/);
  assert.deepEqual(Object.keys(res).sort(), ['message', 'status', 'status_code', 'success']);
  const [got] = await hub.events();
  assert.equal(got.distinct_id, 'user_1');
  assert.equal(got.event, 'product_purchased');
  assert.equal(got.properties.amount, 10);
  assert.equal(got.properties.later, 'changed after construction');
  assert.equal(got.$idempotency_key, 'order-1');
  assert.equal(got.tenant_id, 'acme');
  assert.equal(got.brand_id, 'acme_brand');
});

test('events of any length around the addon 8 KiB buffer, multibyte text included, reach the hub whole', async () => {
  // The addon reads an event's JSON into a stack buffer when it fits, else into a malloc'd copy.
  const texts = [];
  // The JSON around the text is 66 to 67 bytes: these cross 8192 one byte at a time.
  for (const n of [...Array.from({ length: 16 }, (_, k) => 8118 + k), 20000]) {
    texts.push('a'.repeat(n), `${'é'.repeat(n >> 1)}${'c'.repeat(n & 1)}`, `${'b'.repeat(n - 4)}😀`);
  }
  const bulk = client.bulk_events.new_instance();
  for (const [i, text] of texts.entries()) {
    assert.equal((await client.track_event(new Event(`u_${i}`, 'long_text', { text }))).success, true);
    bulk.append(new Event(`b_${i}`, 'long_text', { text }));
  }
  assert.equal((await bulk.trigger()).success, texts.length);
  const got = await hub.events();
  assert.equal(got.length, 2 * texts.length);
  for (const [i, text] of texts.entries()) {
    assert.equal(got.find((e) => e.distinct_id === `u_${i}`).properties.text, text);
    assert.equal(got.find((e) => e.distinct_id === `b_${i}`).properties.text, text);
  }
});

test('an event is checked when sent, not when built: a refused one rejects with the library message', async () => {
  const ev = new Event('user_1', '$purchase', {});
  await assert.rejects(client.track_event(ev), (e) => {
    assert.ok(e instanceof suprsend.SuprsendValidationError);
    assert.ok(e instanceof suprsend.SuprsendError);
    assert.ok(e instanceof Error);
    assert.equal(e.code, 'SUPRSEND_E_VALIDATION');
    assert.equal(e.status, 2);
    assert.match(e.message, /event name: must not start with '\$' or 'ss_'/);
    return true;
  });
  await assert.rejects(client.track_event(new Event('', 'ok_event')), { code: 'SUPRSEND_E_VALIDATION' });
  await assert.rejects(client.track_event(new Event('u', 'ev', { $bad: 1 })), { code: 'SUPRSEND_E_VALIDATION' });
  const stats = await hub.stats();
  assert.equal(stats.requests, 0);
});

test('the hub refusing an event, and no hub at all, resolve with success false', async () => {
  await hub.faults({ script: [{ status: 400 }] });
  const refused = await client.track_event(new Event('u', 'ev'));
  assert.equal(refused.success, false);
  assert.equal(refused.status, 'fail');
  assert.equal(refused.status_code, 400);
  assert.ok(refused.message.length > 0);
  const nowhere = new Suprsend(hub.key, hub.secret, { base_url: 'http://127.0.0.1:9/', max_retries: 0 });
  const res = await nowhere.track_event(new Event('u', 'ev'));
  assert.equal(res.success, false);
  assert.equal(res.status_code, 500);
});

test('attachments: a URL, a local file, a missing file with and without ignore_if_error', async (t) => {
  const file = path.join(hub.dir, 'invoice.txt');
  fs.writeFileSync(file, 'hello attachment');
  const ev = new Event('u', 'with_files', { a: 1 });
  ev.add_attachment('https://example.com/a.pdf', { file_name: 'a.pdf' });
  ev.add_attachment(file);
  ev.add_attachment(path.join(hub.dir, 'missing.txt'), { ignore_if_error: true });
  assert.equal((await client.track_event(ev)).success, true);
  const [got] = await hub.events();
  const atts = got.properties.$attachments;
  assert.equal(atts.length, 2);
  assert.equal(atts[0].url, 'https://example.com/a.pdf');
  assert.equal(atts[0].filename, 'a.pdf');
  assert.equal(atts[1].filename, 'invoice.txt');
  assert.equal(Buffer.from(atts[1].data, 'base64').toString(), 'hello attachment');

  const bad = new Event('u', 'with_missing');
  bad.add_attachment(path.join(hub.dir, 'missing.txt'));
  await assert.rejects(client.track_event(bad), (e) => e instanceof suprsend.SuprsendAttachmentError && e.code === 'SUPRSEND_E_ATTACHMENT');
  assert.throws(() => ev.add_attachment(42), TypeError);
  assert.throws(() => ev.add_attachment('x', { file_name: 3 }), TypeError);
});

test('bulk: append copies, trigger gives the SDK outcome with failed records', async () => {
  const bulk = client.bulk_events.new_instance();
  const template = new Event('user_1', 'bulk_event', { n: 1 });
  bulk.append(template);
  template.properties.n = 2; // appended already: not seen by the bulk
  bulk.append(template, new Event('', 'bulk_event'), new Event('user_3', 'bulk_event', { n: 3 }));
  const res = await bulk.trigger();
  assert.deepEqual(Object.keys(res).sort(), ['failed_records', 'failure', 'status', 'success', 'total', 'warnings']);
  assert.equal(res.status, 'partial');
  assert.equal(res.total, 4);
  assert.equal(res.success, 3);
  assert.equal(res.failure, 1);
  assert.equal(res.failed_records.length, 1);
  assert.equal(res.failed_records[0].code, 500);
  assert.match(res.failed_records[0].error, /distinct_id/);
  assert.equal(res.failed_records[0].record.event, 'bulk_event');
  assert.deepEqual(res.warnings, []);
  const evs = await hub.events();
  assert.deepEqual(evs.map((e) => e.properties.n), [1, 2, 3]);
  await assert.rejects(bulk.trigger(), suprsend.SuprsendArgumentError);
  assert.throws(() => bulk.append(new Event('u', 'ev')), suprsend.SuprsendArgumentError);
});

test('bulk: 250 events in three requests, records the hub refuses, an empty bulk', async () => {
  await hub.faults({ script: [{ refuse_records: [0, 5] }] });
  const bulk = client.bulk_events.new_instance();
  for (let i = 0; i < 250; i++) bulk.append(new Event(`user_${i}`, 'many', { i }));
  const res = await bulk.trigger();
  assert.equal(res.total, 250);
  assert.equal(res.success, 248);
  assert.equal(res.failure, 2);
  assert.equal(res.status, 'partial');
  assert.deepEqual(res.failed_records.map((r) => [r.record.properties.i, r.code]), [[0, 400], [5, 400]]);
  assert.equal((await hub.stats()).requests, 3);
  const empty = await client.bulk_events.new_instance().trigger();
  assert.equal(empty.status, 'success');
  assert.equal(empty.total, 0);
});

test('a bulk append reads attachments then and refuses a file it cannot read', () => {
  const bulk = client.bulk_events.new_instance();
  const ev = new Event('u', 'ev');
  ev.add_attachment(path.join(hub.dir, 'nope.bin'));
  assert.throws(() => bulk.append(ev), suprsend.SuprsendAttachmentError);
  assert.throws(() => bulk.append({ distinct_id: 'u', event_name: 'e' }), TypeError);
});
