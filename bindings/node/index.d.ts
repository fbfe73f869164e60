// Type declarations for suprsend-native (bindings/node): suprsend-node-sdk's event API.

export interface SuprsendConfig {
  /** The hub's base URL; default https://hub.suprsend.com/ */
  base_url?: string;
  timeout_ms?: number;
  call_timeout_ms?: number;
  connect_timeout_ms?: number;
  max_retries?: number;
  max_event_bytes?: number;
  auto_idempotency?: boolean;
  max_connections?: number;
  proxy?: string;
  ca_file?: string;
  /** A SQLite file holding the background queue (durable across crashes and restarts). */
  outbox_path?: string;
  outbox_power_safe?: boolean;
  outbox_max_bytes?: number;
  outbox_busy_timeout_ms?: number;
  queue_capacity?: number;
  flush_interval_ms?: number;
  max_event_age_s?: number;
  /** How long closing (at exit too) waits for queued events; default 2000. */
  shutdown_timeout_ms?: number;
  /** Each enqueued event's fate, once, on the JS thread. */
  on_delivery?: (fate: DeliveryFate) => void;
}

export interface DeliveryFate {
  status: 'delivered' | 'refused' | 'expired' | 'closed' | 'unsent' | 'unknown';
  code: number;
  status_name: string;
  http_status: number;
  message: string;
  insert_id: string;
  idempotency_key: string;
  event_name: string;
  distinct_id: string;
  attempts: number;
}

export interface TrackResult {
  success: boolean;
  status: 'success' | 'fail';
  status_code: number;
  message: string;
}

export interface FailedRecord {
  record: Record<string, unknown>;
  error: string;
  code: number;
}

export interface BulkResponse {
  status: 'success' | 'partial' | 'fail';
  total: number;
  success: number;
  failure: number;
  failed_records: FailedRecord[];
  warnings: string[];
}

export interface Stats {
  queued: number;
  in_flight: number;
  delivered: number;
  refused: number;
  dropped: number;
  retries: number;
  outbox_bytes: number;
}

export interface EventOptions {
  idempotency_key?: string | null;
  tenant_id?: string | null;
  brand_id?: string | null;
}

export class Event {
  constructor(distinct_id: string, event_name: string, properties?: Record<string, unknown>, options?: EventOptions);
  distinct_id: string;
  event_name: string;
  properties: Record<string, unknown>;
  idempotency_key?: string | null;
  tenant_id?: string | null;
  brand_id?: string | null;
  add_attachment(file_path: string, options?: { file_name?: string | null; ignore_if_error?: boolean }): this;
}

export class BulkEvents {
  append(...events: Event[]): this;
  trigger(): Promise<BulkResponse>;
}

export class Suprsend {
  constructor(workspace_key: string, workspace_secret: string, config?: SuprsendConfig);
  readonly bulk_events: { new_instance(): BulkEvents };
  track_event(event: Event): Promise<TrackResult>;
  enqueue(event: Event): void;
  /** true when every event enqueued before the call has its fate; false at the deadline (-1: none). */
  flush(timeout_ms?: number): Promise<boolean>;
  /** true when nothing was left; false at the deadline (default: shutdown_timeout_ms). */
  close(timeout_ms?: number): Promise<boolean>;
  stats(): Stats;
}

export class SuprsendError extends Error {
  /** The library's status number (suprsend.h). */
  status: number;
  /** The library's status name, e.g. "SUPRSEND_E_VALIDATION". */
  code: string;
}
export class SuprsendArgumentError extends SuprsendError {}
export class SuprsendValidationError extends SuprsendError {}
export class EventTooLargeError extends SuprsendError {}
export class SuprsendAttachmentError extends SuprsendError {}
export class SuprsendNetworkError extends SuprsendError {}
export class SuprsendHttpError extends SuprsendError {}
export class SuprsendTimeoutError extends SuprsendError {}
export class SuprsendQueueFullError extends SuprsendError {}
export class SuprsendStorageError extends SuprsendError {}
export class SuprsendClosedError extends SuprsendError {}
export class SuprsendInternalError extends SuprsendError {}

/** The version of libsuprsend loaded. */
export const libraryVersion: string;
