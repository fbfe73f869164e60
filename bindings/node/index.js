'use strict';
/*
 * suprsend-native for Node.js: suprsend-node-sdk's event API over libsuprsend.
 *
 *   const { Suprsend, Event } = require('suprsend-native');   // or require('./bindings/node')
 *   const supr_client = new Suprsend(KEY, SECRET, { base_url });
 *   const res = await supr_client.track_event(new Event('user_1', 'product_purchased', { amount: 10 }));
 *
 * The addon (build/suprsend.node, src/addon.c) does the work: every request goes through the
 * library's asynchronous calls and completes on the JS thread through a threadsafe function,
 * so nothing here waits on the network. This file checks arguments, builds each event's JSON
 * and shapes results and errors as the official SDK does.
 */
const path = require('path');

// SUPRSEND_LIBRARY=/path/libsuprsend.so, as for the Python binding: that library, loaded first
// (RTLD_GLOBAL, and RTLD_NODELETE so that process.dlopen's dlclose, when it finds no Node module
// in it, leaves it loaded); the dynamic linker then gives the addon's libsuprsend.so.0 that
// already-loaded copy, matched by its SONAME. Without it, the addon's run path decides: a copy
// beside the addon, then this checkout's dist/lib, then the system's.
function preloadLibrary(file) {
  const os = require('os');
  const RTLD_NODELETE = 0x1000; // glibc
  const full = path.resolve(file.replace(/^~(?=$|\/)/, os.homedir()));
  try {
    process.dlopen({ exports: {} }, full, os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL | RTLD_NODELETE);
  } catch (e) {
    if (/did not self-register/.test(e.message)) return; // loaded: it is a library, not a module
    throw new Error(`suprsend-native: cannot load SUPRSEND_LIBRARY=${file}: ${e.message}`);
  }
}
if (process.env.SUPRSEND_LIBRARY) preloadLibrary(process.env.SUPRSEND_LIBRARY);

// SUPRSEND_NODE_ADDON, if set, must load (the ASan run uses it); else build/suprsend.node.
const addonPath = process.env.SUPRSEND_NODE_ADDON || path.join(__dirname, 'build', 'suprsend.node');

function loadAddon() {
  try {
    return require(addonPath);
  } catch (e) {
    throw new Error(
      `suprsend-native: the addon ${addonPath} could not be loaded: ${e.message}. ` +
        'Build it with `make node` in the libsuprsend repository (it needs dist/lib/libsuprsend.so, ' +
        'from `make lib`), or install libsuprsend where the dynamic linker finds it.'
    );
  }
}

const addon = loadAddon();

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                      */

/** Base of every error the library reports; `code` is its status name, `status` its number. */
class SuprsendError extends Error {
  constructor(message, status = 99, code = 'SUPRSEND_E_INTERNAL') {
    super(message);
    this.name = this.constructor.name;
    this.status = status;
    this.code = code;
  }
}
class SuprsendArgumentError extends SuprsendError {}
class SuprsendValidationError extends SuprsendError {}
class EventTooLargeError extends SuprsendError {}
class SuprsendAttachmentError extends SuprsendError {}
class SuprsendNetworkError extends SuprsendError {}
class SuprsendHttpError extends SuprsendError {}
class SuprsendTimeoutError extends SuprsendError {}
class SuprsendQueueFullError extends SuprsendError {}
class SuprsendStorageError extends SuprsendError {}
class SuprsendClosedError extends SuprsendError {}
class SuprsendInternalError extends SuprsendError {}

const ERROR_CLASSES = {
  1: SuprsendArgumentError,
  2: SuprsendValidationError,
  3: EventTooLargeError,
  4: SuprsendAttachmentError,
  5: SuprsendNetworkError,
  6: SuprsendHttpError,
  7: SuprsendTimeoutError,
  8: SuprsendQueueFullError,
  9: SuprsendStorageError,
  10: SuprsendClosedError,
  99: SuprsendInternalError,
};

function errorFor(status, statusName, message) {
  const Cls = ERROR_CLASSES[status] || SuprsendError;
  return new Cls(message || statusName, status, statusName || addon.statusName(status));
}
addon.setErrorFactory(errorFor);

const OK = 0;
const E_NETWORK = 5;
const E_HTTP = 6;
// The status code reported when no HTTP answer came (as the official SDK does for transport errors).
const NO_ANSWER_STATUS_CODE = 500;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 2000;

// The words of a delivery fate's "status", by the C status (as the Python binding's).
const DELIVERY_STATUS = { 0: 'delivered', 6: 'refused', 7: 'expired', 10: 'closed', 5: 'unsent' };

/* ---------------------------------------------------------------------------------------- */
/* Events                                                                                      */

function optionalString(value, what) {
  if (value === undefined || value === null) return null;
  return requiredString(value, what);
}

function requiredString(value, what) {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
  if (value.includes('\0')) throw new TypeError(`${what} must not contain a NUL character`);
  return value;
}

/**
 * One event. Plain fields the caller may change until it is sent or appended; nothing is checked
 * here: the library checks the event when it is sent (track_event, enqueue) or appended to a bulk.
 */
class Event {
  constructor(distinct_id, event_name, properties, { idempotency_key, tenant_id, brand_id } = {}) {
    this.distinct_id = distinct_id;
    this.event_name = event_name;
    this.properties = properties === undefined ? {} : properties;
    this.idempotency_key = idempotency_key;
    this.tenant_id = tenant_id;
    this.brand_id = brand_id;
    this.attachments = [];
  }

  /**
   * Attaches a file (for email): an http:// or https:// URL the hub downloads, or a local file
   * (`~/` expanded), read when the event is sent or appended. `file_name` is the name the
   * recipient sees; with `ignore_if_error` a file that cannot be read is skipped.
   */
  add_attachment(file_path, { file_name, ignore_if_error = false } = {}) {
    if (typeof file_path !== 'string' || !file_path.trim()) throw new TypeError('file_path must be a non-empty string');
    optionalString(file_name, 'file_name');
    this.attachments.push({ file_path, file_name: file_name == null ? null : file_name, ignore_if_error: !!ignore_if_error });
    return this;
  }
}

/** What the addon takes for an event: its JSON text, with its attachments when it has any. */
function specOf(event) {
  if (!(event instanceof Event)) throw new TypeError('expected an Event (new Event(distinct_id, event_name, properties))');
  requiredString(event.distinct_id, 'distinct_id');
  requiredString(event.event_name, 'event_name');
  const props = event.properties;
  if (props !== null && props !== undefined && (typeof props !== 'object' || Array.isArray(props))) {
    throw new TypeError('properties must be an object');
  }
  const obj = { distinct_id: event.distinct_id, event: event.event_name };
  if (props) obj.properties = props;
  const key = optionalString(event.idempotency_key, 'idempotency_key');
  if (key !== null) obj.$idempotency_key = key;
  const tenant = optionalString(event.tenant_id, 'tenant_id');
  if (tenant !== null) obj.tenant_id = tenant;
  const brand = optionalString(event.brand_id, 'brand_id');
  if (brand !== null) obj.brand_id = brand;
  let json;
  try {
    json = JSON.stringify(obj);
  } catch (e) {
    throw new TypeError(`properties cannot be sent as JSON: ${e.message}`);
  }
  const atts = event.attachments;
  if (!Array.isArray(atts) || atts.length === 0) return json;
  return [json, atts.map((a) => [a.file_path, a.file_name == null ? null : a.file_name, !!a.ignore_if_error])];
}

/* ---------------------------------------------------------------------------------------- */
/* Results                                                                                     */

function hubMessage(body) {
  try {
    const raw = JSON.parse(body);
    if (raw && raw.error && typeof raw.error.message === 'string' && raw.error.message) return raw.error.message;
  } catch (_) {
    /* not JSON */
  }
  return null;
}

function trackResult(r) {
  if (r.status !== OK && r.status !== E_HTTP && r.status !== E_NETWORK) {
    throw errorFor(r.status, r.status_name, r.message);
  }
  if (r.status_code === undefined) {
    return { success: false, status: 'fail', status_code: NO_ANSWER_STATUS_CODE, message: r.status_name };
  }
  const success = r.status === OK;
  let status_code = r.status_code;
  let message = r.message;
  if (status_code === 0 && !r.body) status_code = NO_ANSWER_STATUS_CODE;
  if (!success) message = hubMessage(r.body) || message;
  return { success, status: success ? 'success' : 'fail', status_code, message };
}

function bulkResult(r) {
  if (r.status === undefined) throw errorFor(r.code, r.status_name, r.status_name);
  if (r.code === 10 || r.code === 99 || r.code === 1) throw errorFor(r.code, r.status_name, `bulk: ${r.status_name}`);
  return {
    status: r.status,
    total: r.total,
    success: r.success,
    failure: r.failure,
    failed_records: JSON.parse(r.failed_records_json),
    warnings: [],
  };
}

/* ---------------------------------------------------------------------------------------- */
/* Bulk                                                                                        */

class BulkEvents {
  constructor(client) {
    this._client = client;
    this._bulk = null; // the addon's bulk, made at the first append
    this._triggered = false;
  }

  /** Copies each event into the bulk now (its attachments are read now); all or none. */
  append(...events) {
    if (this._triggered) throw new SuprsendArgumentError('bulk: already triggered; a bulk is sent once', 1, 'SUPRSEND_E_ARGUMENT');
    const specs = events.map(specOf);
    if (this._bulk === null) this._bulk = addon.bulkNew(this._client._handle());
    addon.bulkAppend(this._bulk, specs);
    return this;
  }

  /** Sends the events; resolves to { status, total, success, failure, failed_records, warnings }. */
  async trigger() {
    if (this._triggered) throw new SuprsendArgumentError('bulk: already triggered; a bulk is sent once', 1, 'SUPRSEND_E_ARGUMENT');
    this._triggered = true;
    const handle = this._client._handle();
    const bulk = this._bulk === null ? addon.bulkNew(handle) : this._bulk;
    this._bulk = null;
    return bulkResult(await addon.bulkTrigger(handle, bulk));
  }
}

class BulkEventsFactory {
  constructor(client) {
    this._client = client;
  }

  new_instance() {
    return new BulkEvents(this._client);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Client                                                                                      */

// Clients that enqueued and are not closed, held weakly (the addon itself holds a client while
// events it enqueued wait for their fate). When the loop empties ('beforeExit'), those with events
// still queued are closed within their shutdown timeout, their fates reported; after
// process.exit(), which skips 'beforeExit' and the environment's cleanup, synchronously at 'exit'
// (fates can no longer reach JS then).
const background = new Map(); // WeakRef => true
const forget = new FinalizationRegistry((ref) => background.delete(ref));

function backgroundClients() {
  const live = [];
  for (const ref of background.keys()) {
    const client = ref.deref();
    if (!client || client._closing) background.delete(ref);
    else live.push([ref, client]);
  }
  return live;
}

process.on('beforeExit', () => {
  for (const [ref, client] of backgroundClients()) {
    let st;
    try {
      st = addon.stats(client._native);
    } catch (_) {
      background.delete(ref);
      continue;
    }
    if (st.queued + st.in_flight === 0) continue;
    background.delete(ref);
    client.close(client._shutdown_timeout_ms).catch(() => {});
  }
});

process.on('exit', () => {
  for (const [ref, client] of backgroundClients()) {
    background.delete(ref);
    client._closing = true;
    try {
      addon.closeSync(client._native, client._shutdown_timeout_ms);
    } catch (_) {
      /* closed already */
    }
  }
});

// The addon hands over the fates gathered since its last call in one call (see addon.c, fates_t):
// ints holds code, http_status, attempts per fate; text each fate's five strings, each ended by a
// NUL. on_delivery gets one object per fate, in order; what it throws is reported as a warning.
const statusNames = new Map();
function statusNameOf(code) {
  let name = statusNames.get(code);
  if (name === undefined) {
    name = addon.statusName(code);
    statusNames.set(code, name);
  }
  return name;
}

function fateDispatcher(on_delivery) {
  return (ints, text, count) => {
    const s = text.split('\0');
    for (let i = 0, j = 0, k = 0; i < count; i++, j += 3, k += 5) {
      const code = ints[j];
      const fate = {
        code,
        status_name: statusNameOf(code),
        http_status: ints[j + 1],
        message: s[k],
        insert_id: s[k + 1],
        idempotency_key: s[k + 2],
        event_name: s[k + 3],
        distinct_id: s[k + 4],
        attempts: ints[j + 2],
        status: DELIVERY_STATUS[code] || 'unknown',
      };
      try {
        on_delivery(fate);
      } catch (e) {
        process.emitWarning(`suprsend: on_delivery threw: ${e && e.stack ? e.stack : e}`);
      }
    }
  };
}

const INT_OPTIONS = [
  'timeout_ms', 'call_timeout_ms', 'connect_timeout_ms', 'max_retries', 'max_event_bytes', 'max_connections',
  'queue_capacity', 'outbox_max_bytes', 'outbox_busy_timeout_ms', 'flush_interval_ms', 'max_event_age_s',
  'shutdown_timeout_ms',
];
const BOOL_OPTIONS = ['auto_idempotency', 'outbox_power_safe'];
const STRING_OPTIONS = ['base_url', 'proxy', 'ca_file', 'outbox_path'];

class Suprsend {
  /**
   * @param workspace_key, workspace_secret  the workspace's credentials (required)
   * @param config  { base_url, timeout_ms, ..., outbox_path, on_delivery(fate), shutdown_timeout_ms }
   */
  constructor(workspace_key, workspace_secret, config = {}) {
    if (typeof workspace_key !== 'string' || !workspace_key.trim()) throw new TypeError('Missing workspace_key');
    if (typeof workspace_secret !== 'string' || !workspace_secret.trim()) throw new TypeError('Missing workspace_secret');
    if (config === null || typeof config !== 'object') throw new TypeError('config must be an object');
    const opts = {};
    for (const k of INT_OPTIONS) {
      const v = config[k];
      if (v === undefined || v === null) continue;
      if (!Number.isInteger(v)) throw new TypeError(`${k} must be an integer`);
      opts[k] = v;
    }
    for (const k of BOOL_OPTIONS) {
      const v = config[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'boolean') throw new TypeError(`${k} must be a boolean`);
      opts[k] = v;
    }
    for (const k of STRING_OPTIONS) {
      const v = config[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string') throw new TypeError(`${k} must be a string`);
      opts[k] = v;
    }
    const on_delivery = config.on_delivery;
    if (on_delivery !== undefined && on_delivery !== null && typeof on_delivery !== 'function') {
      throw new TypeError('on_delivery must be a function');
    }
    this._shutdown_timeout_ms = opts.shutdown_timeout_ms === undefined ? DEFAULT_SHUTDOWN_TIMEOUT_MS : opts.shutdown_timeout_ms;
    this._closing = false;
    const dispatch = on_delivery ? fateDispatcher(on_delivery) : null;
    this._native = addon.newClient(workspace_key, workspace_secret, opts, dispatch);
    this.bulk_events = new BulkEventsFactory(this);
  }

  _handle() {
    return this._native;
  }

  /** Sends one event; resolves to { success, status, status_code, message }. */
  async track_event(event) {
    return trackResult(await addon.trackEvent(this._native, specOf(event)));
  }

  /** Queues the event for background delivery and returns at once; throws what is refused. */
  enqueue(event) {
    addon.enqueue(this._native, specOf(event));
    if (!this._ref) {
      this._ref = new WeakRef(this);
      background.set(this._ref, true);
      forget.register(this, this._ref);
    }
  }

  /** Waits until every event enqueued before the call has its fate: true, or false at the deadline. */
  async flush(timeout_ms = -1) {
    if (typeof timeout_ms !== 'number' || Number.isNaN(timeout_ms)) throw new TypeError('timeout_ms must be a number');
    return addon.flush(this._native, timeout_ms);
  }

  /**
   * Stops accepting events and delivers what is queued within timeout_ms (default: the shutdown
   * timeout): true when nothing was left, false at the deadline. Later calls (track_event, enqueue,
   * flush, trigger) reject or throw SuprsendClosedError; close() again gives the same result.
   */
  async close(timeout_ms = this._shutdown_timeout_ms) {
    if (typeof timeout_ms !== 'number' || Number.isNaN(timeout_ms)) throw new TypeError('timeout_ms must be a number');
    // Closing twice (or at exit after the caller did) waits for the same close.
    if (!this._closed) {
      this._closing = true;
      this._closed = addon.close(this._native, timeout_ms);
    }
    return this._closed;
  }

  /** Background delivery's counters. */
  stats() {
    return addon.stats(this._native);
  }
}

module.exports = {
  Suprsend,
  Event,
  SuprsendError,
  SuprsendArgumentError,
  SuprsendValidationError,
  EventTooLargeError,
  SuprsendAttachmentError,
  SuprsendNetworkError,
  SuprsendHttpError,
  SuprsendTimeoutError,
  SuprsendQueueFullError,
  SuprsendStorageError,
  SuprsendClosedError,
  SuprsendInternalError,
  libraryVersion: addon.libraryVersion,
  addonPath,
  _addon: addon,
};
