#!/usr/bin/env node
// One Node.js benchmark scenario in its own process: the bindings/node addon over libsuprsend.
//
//   node bench/node_client.js --mode single|bulk|enqueue --n N --base-url URL --key K --secret S
//        [--concurrency C]   single: calls kept in flight at once (default 32, the client's connections)
//        [--on-delivery 0|1] enqueue: with an on_delivery callback counting fates (default 1)
//
// Prints one JSON line, as py_client.py does. single: N track_event calls, C in flight at a time
// (the way a Node service sends: never one after another on the loop); bulk: N events appended to
// one bulk, then trigger; enqueue: N enqueue calls, then flush. Client creation and a warm-up
// (an event refused locally, no request) are outside the timed part; events are built inside it. CPU is process.cpuUsage() around
// the timed part (the whole process: the JS thread and the library's threads). For enqueue,
// enqueue_thread_cpu_s is the process's CPU around the enqueue loop (Node 20 has no per-thread
// CPU clock), so it includes the delivery worker's share while the loop ran.
'use strict';
const path = require('path');
const { Suprsend, Event } = require(path.join(__dirname, '..', 'bindings', 'node'));

function args() {
  const a = { concurrency: 32, on_delivery: '1' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '').replace(/-/g, '_');
    a[k] = argv[i + 1];
  }
  a.n = Number(a.n);
  a.concurrency = Number(a.concurrency);
  a.on_delivery = a.on_delivery !== '0';
  return a;
}

function props(i) {
  // The same properties as floor.c, c_bench.c and py_client.py.
  return { first_name: 'User', order_id: `ord_${i}`, amount: 1299.5, currency: 'INR',
    items: [{ sku: 'sku_1', qty: 2 }, { sku: 'sku_2', qty: 1 }], is_first_order: false };
}

function peakRssKb() {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch (_) { /* not Linux */ }
  return process.resourceUsage().maxRSS;
}

function cpu(u0) {
  const u = process.cpuUsage(u0);
  return { user: u.user / 1e6, system: u.system / 1e6 };
}

async function main() {
  const a = args();
  const fates = {};
  const client = new Suprsend(a.key, a.secret, {
    base_url: a.base_url,
    queue_capacity: Math.max(a.n, 1),
    on_delivery: a.mode === 'enqueue' && a.on_delivery ? (f) => { fates[f.status] = (fates[f.status] || 0) + 1; } : undefined,
  });
  // Warm-up outside the timed part without a request (the hub counts what is accepted): an event
  // the library refuses on this thread goes through the whole JS and native path but the network.
  await client.track_event(new Event('', 'product_purchased', props(0))).catch(() => {});
  let ok = 0;
  let failed = 0;
  let error = '';
  const extra = {};
  const u0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const secs = (t) => Number(process.hrtime.bigint() - t) / 1e9;
  if (a.mode === 'single') {
    let next = 0;
    const worker = async () => {
      while (next < a.n) {
        const i = next++;
        const r = await client.track_event(new Event(`user_${i}`, 'product_purchased', props(i)));
        if (r.success) ok++;
        else {
          failed++;
          if (!error) error = `${r.status_code}: ${r.message}`;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(a.concurrency, a.n) }, worker));
    extra.concurrency = a.concurrency;
  } else if (a.mode === 'bulk') {
    const b = client.bulk_events.new_instance();
    for (let i = 0; i < a.n; i++) b.append(new Event(`user_${i}`, 'product_purchased', props(i)));
    const appended = cpu(u0);
    extra.append_cpu_s = appended.user + appended.system;
    const r = await b.trigger();
    ok = r.success;
    failed = r.failure;
    extra.bulk_status = r.status;
    extra.bulk_total = r.total;
    if (failed && r.failed_records.length) error = String(r.failed_records[0].error).slice(0, 300);
  } else if (a.mode === 'enqueue') {
    for (let i = 0; i < a.n; i++) client.enqueue(new Event(`user_${i}`, 'product_purchased', props(i)));
    const enq = cpu(u0);
    extra.enqueue_wall_s = secs(t0);
    extra.enqueue_thread_cpu_s = enq.user + enq.system;
    extra.enqueue_process_cpu_s = enq.user + enq.system;
    const flushed = await client.flush(60000);
    const st = client.stats();
    ok = flushed && st.delivered === a.n && (!a.on_delivery || fates.delivered === a.n) ? a.n : 0;
    failed = a.n - ok;
    if (!ok) error = `flush ${flushed ? 'ok' : 'timed out'}, stats ${JSON.stringify(st)}, fates ${JSON.stringify(fates)}`;
    Object.assign(extra, { mode: 'enqueue', on_delivery: a.on_delivery, flush_status: flushed ? 'ok' : 'timeout',
      delivered: st.delivered, refused: st.refused, dropped: st.dropped, retries: st.retries, fates });
  } else {
    throw new Error(`unknown --mode ${a.mode}`);
  }
  const wall = secs(t0);
  const used = cpu(u0);
  if (a.mode === 'bulk') extra.trigger_cpu_s = used.user + used.system - extra.append_cpu_s;
  if (a.mode === 'enqueue') extra.flush_wall_s = wall - extra.enqueue_wall_s;
  if (a.mode === 'enqueue') {
    // The same events built without being enqueued (apart, after the run): the loop's share
    // outside enqueue's call into the library.
    const c0 = process.cpuUsage();
    const keep = [];
    for (let i = 0; i < a.n; i++) keep.push(new Event(`user_${i}`, 'product_purchased', props(i)));
    const c = process.cpuUsage(c0);
    extra.event_creation_thread_cpu_s = (c.user + c.system) / 1e6;
  }
  await client.close(2000);
  const out = { events: a.n, ok, failed, wall_s: wall, cpu_user_s: used.user, cpu_sys_s: used.system,
    maxrss_kb: process.resourceUsage().maxRSS, peak_rss_kb: peakRssKb(), error, ...extra };
  console.log(JSON.stringify(out));
  return failed ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (e) => {
  console.log(JSON.stringify({ events: 0, ok: 0, failed: 1, wall_s: 0, cpu_user_s: 0, cpu_sys_s: 0, maxrss_kb: 0,
    error: String(e && e.stack || e).slice(0, 400) }));
  process.exitCode = 1;
});
