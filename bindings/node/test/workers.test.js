'use strict';
// Worker threads: each can load the addon and create clients; a worker's clients are cleaned up
// when it ends, also when it is terminated with a request in flight.
const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { Worker } = require('worker_threads');
const { startHub } = require('./hub');
const { Suprsend, Event } = require('..');

let hub;
before(async () => { hub = await startHub(); });
after(() => hub.stop());
beforeEach(() => hub.reset());

const INDEX = path.resolve(__dirname, '..');

function runWorker(source, workerData) {
  return new Promise((resolve, reject) => {
    const w = new Worker(source, { eval: true, workerData: { index: INDEX, url: hub.base_url, key: hub.key, secret: hub.secret, ...workerData } });
    const messages = [];
    w.on('message', (m) => messages.push(m));
    w.on('error', reject);
    w.on('exit', (code) => resolve({ code, messages }));
  });
}

test('four workers each create a client and track events', async () => {
  const src = `
    const { workerData, parentPort } = require('worker_threads');
    const { Suprsend, Event } = require(workerData.index);
    (async () => {
      const c = new Suprsend(workerData.key, workerData.secret, { base_url: workerData.url });
      const results = await Promise.all([0, 1, 2, 3, 4].map((i) => c.track_event(new Event('w' + workerData.n + '_' + i, 'from_worker'))));
      const bulk = c.bulk_events.new_instance();
      bulk.append(new Event('w' + workerData.n, 'from_worker_bulk'), new Event('w' + workerData.n, 'from_worker_bulk'));
      const b = await bulk.trigger();
      // Background delivery inside the worker: fates come to the worker's own thread.
      const fates = [];
      const q = new Suprsend(workerData.key, workerData.secret, { base_url: workerData.url,
        on_delivery: (f) => fates.push([f.status, require('worker_threads').threadId]) });
      q.enqueue(new Event('wq' + workerData.n, 'from_worker_queue'));
      const flushed = await q.flush(5000);
      await q.close();
      parentPort.postMessage({ ok: results.every((r) => r.success), bulk: b.success, flushed,
        fates: fates.map(([s, id]) => s + (id === require('worker_threads').threadId ? '@worker' : '@elsewhere')) });
    })();
  `;
  const runs = await Promise.all([0, 1, 2, 3].map((n) => runWorker(src, { n })));
  for (const r of runs) {
    assert.equal(r.code, 0);
    assert.deepEqual(r.messages, [{ ok: true, bulk: 2, flushed: true, fates: ['delivered@worker'] }]);
  }
  assert.equal((await hub.events()).length, 4 * 8);
  // The main thread's own client still works beside them.
  const c = new Suprsend(hub.key, hub.secret, { base_url: hub.base_url });
  assert.equal((await c.track_event(new Event('main', 'from_main'))).success, true);
});

test('a worker that enqueues and ends: its client is closed with the worker, the events delivered', async () => {
  const r = await runWorker(`
    const { workerData } = require('worker_threads');
    const { Suprsend, Event } = require(workerData.index);
    const c = new Suprsend(workerData.key, workerData.secret, { base_url: workerData.url, flush_interval_ms: 60000 });
    for (let i = 0; i < 5; i++) c.enqueue(new Event('wq' + i, 'worker_queued'));
  `);
  assert.equal(r.code, 0);
  assert.equal((await hub.waitEvents(5, 5000)).length, 5);
});

test('terminating a worker with a request held by the hub neither crashes nor hangs', async () => {
  await hub.faults({ rate: { delay: 1.0 }, delay_ms: 1500 });
  const w = new Worker(`
    const { workerData, parentPort } = require('worker_threads');
    const { Suprsend, Event } = require(workerData.index);
    const c = new Suprsend(workerData.key, workerData.secret, { base_url: workerData.url, shutdown_timeout_ms: 200 });
    for (let i = 0; i < 10; i++) c.track_event(new Event('t' + i, 'held_in_worker')).catch(() => {});
    c.enqueue(new Event('tq', 'queued_in_worker'));
    c.flush(10000).catch(() => {});
    parentPort.postMessage('started');
  `, { eval: true, workerData: { index: INDEX, url: hub.base_url, key: hub.key, secret: hub.secret } });
  await new Promise((r) => w.once('message', r));
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  const code = await w.terminate();
  assert.equal(typeof code, 'number');
  assert.ok(Date.now() - started < 3000, `terminate took ${Date.now() - started} ms`);
  // The process goes on: a new client here works.
  await hub.reset();
  const c = new Suprsend(hub.key, hub.secret, { base_url: hub.base_url });
  assert.equal((await c.track_event(new Event('after', 'after_terminate'))).success, true);
});

test('only workers load the addon: they end (process.exit in the worker, with calls in flight) and load it again', async () => {
  // The main thread of this child never loads the addon, so nothing else keeps libsuprsend
  // loaded when Node unloads a worker's addons: the exiting worker thread must not crash.
  await hub.faults({ rate: { delay: 1.0 }, delay_ms: 500 });
  const { spawnSync } = require('child_process');
  const workerSrc = `
    const { workerData } = require('worker_threads');
    const { Suprsend, Event } = require(workerData.index);
    const c = new Suprsend(workerData.key, workerData.secret, { base_url: workerData.url, shutdown_timeout_ms: 100 });
    for (let i = 0; i < 10; i++) c.track_event(new Event('u' + i, 'worker_only')).catch(() => {});
    c.enqueue(new Event('q', 'worker_only_queued'));
    setTimeout(() => process.exit(0), 50);
  `;
  const script = `
    const { Worker } = require('worker_threads');
    const data = ${JSON.stringify({ index: INDEX, url: hub.base_url, key: hub.key, secret: hub.secret })};
    const run = () => new Promise((resolve) => new Worker(${JSON.stringify(workerSrc)}, { eval: true, workerData: data }).on('exit', resolve));
    (async () => {
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push(await run());
      console.log('codes', codes.join(','));
    })();
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /codes 0,0,0/);
});
