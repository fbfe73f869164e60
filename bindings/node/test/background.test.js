'use strict';
// Background delivery: enqueue, flush, close, on_delivery on the JS thread, stats, the outbox,
// and a script that enqueues and simply ends.
const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync, spawn } = require('child_process');
const path = require('path');
const { startHub } = require('./hub');
const suprsend = require('..');
const { Suprsend, Event } = suprsend;

let hub;
before(async () => { hub = await startHub(); });
after(() => hub.stop());
beforeEach(() => hub.reset());

const INDEX = path.resolve(__dirname, '..');

function runScript(source, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', source], {
      env: { ...process.env, SUPRSEND_INDEX: INDEX, HUB_URL: hub.base_url, HUB_KEY: hub.key, HUB_SECRET: hub.secret, ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const started = Date.now();
    child.on('exit', (code, signal) => resolve({ code, signal, out, err, ms: Date.now() - started }));
  });
}

test('enqueue, flush: each fate reaches on_delivery on the JS thread; stats count them', async () => {
  const fates = [];
  const { isMainThread } = require('worker_threads');
  let offThread = 0;
  const client = new Suprsend(hub.key, hub.secret, {
    base_url: hub.base_url,
    on_delivery: (fate) => {
      if (!isMainThread) offThread++;
      fates.push(fate);
    },
  });
  for (let i = 0; i < 20; i++) assert.equal(client.enqueue(new Event(`user_${i}`, 'queued_event', { i })), undefined);
  client.enqueue(new Event('user_x', 'queued_event', { ok: true }, { idempotency_key: 'k-1' }));
  assert.equal(await client.flush(5000), true);
  assert.equal(fates.length, 21);
  assert.equal(offThread, 0);
  for (const f of fates) {
    assert.equal(f.status, 'delivered');
    assert.equal(f.code, 0);
    assert.equal(f.status_name, 'SUPRSEND_OK');
    assert.match(f.insert_id, /^[0-9a-f-]{36}$/);
    assert.equal(f.event_name, 'queued_event');
    assert.ok(f.attempts >= 1);
  }
  assert.equal(fates.find((f) => f.distinct_id === 'user_x').idempotency_key, 'k-1');
  const stats = client.stats();
  assert.equal(stats.delivered, 21);
  assert.equal(stats.queued, 0);
  assert.equal(stats.outbox_bytes, 0);
  assert.equal((await hub.events()).length, 21);
  assert.equal(await client.close(1000), true);
});

test('enqueue refuses a bad event at once; the hub refusing one is a fate', async () => {
  const fates = [];
  const client = new Suprsend(hub.key, hub.secret, { base_url: hub.base_url, on_delivery: (f) => fates.push(f) });
  assert.throws(() => client.enqueue(new Event('u', '$nope')), suprsend.SuprsendValidationError);
  assert.throws(() => client.enqueue('not an event'), TypeError);
  await hub.faults({ script: [{ refuse_records: [0] }] });
  client.enqueue(new Event('u', 'refused_one'));
  assert.equal(await client.flush(5000), true);
  assert.equal(fates.length, 1);
  assert.equal(fates[0].status, 'refused');
  assert.equal(fates[0].http_status, 400);
  assert.equal(client.stats().refused, 1);
  await client.close();
});

test('close: delivers what is queued, then every call is refused with SuprsendClosedError', async () => {
  const fates = [];
  const client = new Suprsend(hub.key, hub.secret, { base_url: hub.base_url, flush_interval_ms: 60000,
    on_delivery: (f) => fates.push(f) });
  for (let i = 0; i < 5; i++) client.enqueue(new Event(`u${i}`, 'before_close'));
  const [first, second] = await Promise.all([client.close(5000), client.close(0)]);
  assert.deepEqual([first, second], [true, true]); // closing twice waits for the same close
  assert.equal(fates.length, 5);
  assert.equal((await hub.events()).length, 5);
  assert.throws(() => client.enqueue(new Event('u', 'after_close')), suprsend.SuprsendClosedError);
  await assert.rejects(client.track_event(new Event('u', 'after_close')), { code: 'SUPRSEND_E_CLOSED' });
  await assert.rejects(client.flush(100), suprsend.SuprsendClosedError);
  await assert.rejects(client.bulk_events.new_instance().append(new Event('u', 'x1')).trigger(), suprsend.SuprsendClosedError);
  assert.equal(client.stats().delivered, 5);
  assert.equal(await client.close(), true);
});

test('close with a stalled hub: the deadline passes, events left are reported closed', async () => {
  await hub.faults({ rate: { delay: 1.0 }, delay_ms: 3000 });
  const fates = [];
  const client = new Suprsend(hub.key, hub.secret, { base_url: hub.base_url, flush_interval_ms: 0,
    on_delivery: (f) => fates.push(f) });
  client.enqueue(new Event('u', 'stalled'));
  const started = Date.now();
  assert.equal(await client.close(300), false);
  assert.ok(Date.now() - started < 2500);
  await new Promise((r) => setImmediate(r));
  assert.equal(fates.length, 1);
  assert.equal(fates[0].status, 'closed');
  assert.equal(fates[0].code, 10);
});

test('an outbox path: events go through the SQLite outbox', async () => {
  const outbox = path.join(hub.dir, 'outbox.db');
  const client = new Suprsend(hub.key, hub.secret, { base_url: hub.base_url, outbox_path: outbox, flush_interval_ms: 60000 });
  for (let i = 0; i < 3; i++) client.enqueue(new Event(`u${i}`, 'outboxed'));
  assert.ok(client.stats().outbox_bytes > 0);
  assert.equal(await client.flush(5000), true);
  assert.equal((await hub.events()).length, 3);
  await client.close();
  assert.throws(() => new Suprsend(hub.key, hub.secret, { outbox_path: path.join(hub.dir, 'no', 'such', 'dir', 'x.db') }),
    suprsend.SuprsendError);
});

test('a script that enqueues and simply ends still delivers, with its fates reported', async () => {
  const r = await runScript(`
    const { Suprsend, Event } = require(process.env.SUPRSEND_INDEX);
    const c = new Suprsend(process.env.HUB_KEY, process.env.HUB_SECRET, { base_url: process.env.HUB_URL,
      flush_interval_ms: 60000, on_delivery: (f) => console.log('fate', f.status, f.distinct_id) });
    for (let i = 0; i < 10; i++) c.enqueue(new Event('user_' + i, 'at_exit'));
    console.log('enqueued');
  `);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.split('\n').filter((l) => l.startsWith('fate delivered')).length, 10, r.out);
  assert.equal((await hub.events()).length, 10);
  assert.ok(r.ms < 5000, `took ${r.ms} ms`);
});

test('a script ending with a stalled hub waits no longer than its shutdown timeout', async () => {
  await hub.faults({ rate: { delay: 1.0 }, delay_ms: 10000 });
  const r = await runScript(`
    const { Suprsend, Event } = require(process.env.SUPRSEND_INDEX);
    const c = new Suprsend(process.env.HUB_KEY, process.env.HUB_SECRET, { base_url: process.env.HUB_URL,
      flush_interval_ms: 0, shutdown_timeout_ms: 500, on_delivery: (f) => console.log('fate', f.status) });
    c.enqueue(new Event('u', 'never_answered'));
  `);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /fate closed/);
  assert.ok(r.ms < 4000, `took ${r.ms} ms`);
});

test('process.exit() right after enqueue still sends within the shutdown timeout', async () => {
  const r = await runScript(`
    const { Suprsend, Event } = require(process.env.SUPRSEND_INDEX);
    const c = new Suprsend(process.env.HUB_KEY, process.env.HUB_SECRET, { base_url: process.env.HUB_URL, flush_interval_ms: 60000 });
    c.enqueue(new Event('u', 'exit_now'));
    process.exit(0);
  `);
  assert.equal(r.code, 0, r.err);
  assert.equal((await hub.waitEvents(1, 3000)).length, 1);
});

test('on_delivery throwing is a warning, not a crash', async () => {
  const r = await runScript(`
    const { Suprsend, Event } = require(process.env.SUPRSEND_INDEX);
    const c = new Suprsend(process.env.HUB_KEY, process.env.HUB_SECRET, { base_url: process.env.HUB_URL,
      on_delivery: () => { throw new Error('boom in callback'); } });
    c.enqueue(new Event('u', 'throws_later'));
    c.flush(5000).then((ok) => console.log('flushed', ok));
  `);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /flushed true/);
  assert.match(r.err, /boom in callback/);
});
