'use strict';
// Never on the event loop: 100 calls the hub holds 200 ms each finish together over the client's
// shared connections, and the loop keeps running while a request is held.
const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { startHub, sleep } = require('./hub');
const { Suprsend, Event } = require('..');

let hub;
before(async () => { hub = await startHub(); });
after(() => hub.stop());
beforeEach(() => hub.reset());

test('100 concurrent track_event calls, each held 200 ms by the hub, finish in well under 4 s', async () => {
  const client = new Suprsend(hub.key, hub.secret, { base_url: hub.base_url });
  await client.track_event(new Event('warm', 'warm_up')); // the first connection
  await hub.reset();
  await hub.faults({ rate: { delay: 1.0 }, delay_ms: 200 });
  const started = process.hrtime.bigint();
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) => client.track_event(new Event(`user_${i}`, 'held_event', { i })))
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  assert.ok(results.every((r) => r.success), JSON.stringify(results.find((r) => !r.success)));
  const stats = await hub.stats();
  assert.equal(stats.accepted, 100);
  // The default max_connections (32) bounds what the client opens: 100 calls share them. (The
  // hub counts the test's own two control requests since the reset too.)
  assert.ok(stats.connections <= 32 + 2, `connections: ${stats.connections}`);
  console.log(`# 100 held calls: ${seconds.toFixed(3)} s over ${stats.connections} connections`);
  assert.ok(seconds < 2.0, `took ${seconds} s`);
});

test('the event loop stays responsive during a held request', async () => {
  const client = new Suprsend(hub.key, hub.secret, { base_url: hub.base_url });
  await hub.faults({ script: [{ delay_ms: 1000 }] });
  let ticks = 0;
  let maxGap = 0;
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 10);
  const started = Date.now();
  const pending = client.track_event(new Event('u1', 'held_once'));
  const res = await pending;
  clearInterval(timer);
  const elapsed = Date.now() - started;
  assert.equal(res.success, true);
  assert.ok(elapsed >= 900, `the hub held it ${elapsed} ms`);
  assert.ok(ticks >= 40, `only ${ticks} timer ticks in ${elapsed} ms`);
  assert.ok(maxGap < 200, `the loop stalled ${maxGap} ms`);
});

test('a client with calls in flight is kept from the garbage collector', async () => {
  await hub.faults({ rate: { delay: 1.0 }, delay_ms: 200 });
  const pending = [];
  for (let i = 0; i < 5; i++) {
    const c = new Suprsend(hub.key, hub.secret, { base_url: hub.base_url });
    pending.push(c.track_event(new Event(`u${i}`, 'gc_event')));
  }
  if (global.gc) global.gc();
  await sleep(10);
  if (global.gc) global.gc();
  const results = await Promise.all(pending);
  assert.ok(results.every((r) => r.success));
});

test('a pending call keeps a script alive until it completes; an idle client keeps nothing alive', async () => {
  const { spawnSync } = require('child_process');
  await hub.faults({ script: [{ delay_ms: 300 }] });
  const script = `
    const { Suprsend, Event } = require(${JSON.stringify(require('path').resolve(__dirname, '..'))});
    const c = new Suprsend('${hub.key}', '${hub.secret}', { base_url: '${hub.base_url}' });
    c.track_event(new Event('u', 'last_call')).then((r) => console.log('result', r.success));
    new Suprsend('${hub.key}', '${hub.secret}', { base_url: '${hub.base_url}' }); // idle
  `;
  const started = Date.now();
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /result true/);
  assert.ok(Date.now() - started < 5000);
});
