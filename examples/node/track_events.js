#!/usr/bin/env node
// Track events with SuprSend from Node.js, through libsuprsend (bindings/node).
//
//   make node
//   SUPRSEND_BASE_URL=http://127.0.0.1:8080/ \
//   SUPRSEND_WORKSPACE_KEY=demo_key SUPRSEND_WORKSPACE_SECRET=demo_secret \
//   node examples/node/track_events.js
//
// Without SUPRSEND_BASE_URL it talks to https://hub.suprsend.com/.
'use strict';
const path = require('path');

// Code written for the official SDK only changes this require:
//   const { Suprsend, Event } = require('@suprsend/node-sdk');
const { Suprsend, Event, SuprsendError } = require(path.join(__dirname, '..', '..', 'bindings', 'node'));

async function main() {
  const key = process.env.SUPRSEND_WORKSPACE_KEY || 'demo_key';
  const secret = process.env.SUPRSEND_WORKSPACE_SECRET || 'demo_secret';
  const fates = { delivered: 0, other: 0 };
  const supr_client = new Suprsend(key, secret, {
    base_url: process.env.SUPRSEND_BASE_URL || undefined,
    timeout_ms: 10000,
    on_delivery: (fate) => (fate.status === 'delivered' ? fates.delivered++ : fates.other++),
  });

  // 1. One event with properties (nested values are fine).
  const event = new Event('0fxxx8f74-xxxx-41c5-8752-xxxcb6911fb08', 'product_purchased', {
    first_name: 'User',
    spend_amount: '$10',
    nested_key_example: { nested_key1: 'some_value_1', nested_key2: { nested_key3: 'some_value_3' } },
  });
  console.log('product_purchased:', await supr_client.track_event(event));

  // 2. Ten at once: they share the client's connections and never block the event loop.
  const many = await Promise.all(
    Array.from({ length: 10 }, (_, i) => supr_client.track_event(new Event(`user_${i}`, 'node_concurrent', { i })))
  );
  console.log('node_concurrent: %d of 10 accepted', many.filter((r) => r.success).length);

  // 3. A refused event: checked when sent, with the library's message.
  try {
    await supr_client.track_event(new Event('user_1', '$reserved_name'));
  } catch (e) {
    if (!(e instanceof SuprsendError)) throw e;
    console.log('refused as expected: %s: %s', e.code, e.message);
  }

  // 4. A bulk, with one event the library refuses before sending.
  const bulk = supr_client.bulk_events.new_instance();
  for (let i = 0; i < 5; i++) bulk.append(new Event(`user_${i}`, 'node_bulk_event', { i }));
  bulk.append(new Event('', 'node_bulk_event'));
  const res = await bulk.trigger();
  console.log('bulk: %s, %d of %d sent; failed: %s', res.status, res.success, res.total,
    res.failed_records.map((r) => r.error).join('; '));

  // 5. Background delivery: enqueue returns at once, flush waits for the fates.
  for (let i = 0; i < 20; i++) supr_client.enqueue(new Event(`user_${i}`, 'node_background', { i }));
  const flushed = await supr_client.flush(10000);
  console.log('background: flushed %s, fates %j, stats %j', flushed, fates, supr_client.stats());
  await supr_client.close();
  return many.every((r) => r.success) && res.success === 5 && fates.delivered === 20 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
