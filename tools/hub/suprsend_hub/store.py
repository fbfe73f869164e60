"""SQLite record of everything the hub saw. One connection, one lock: thread-safe.

Tables
  requests     every event API request: client, method, URI, headers, body, answer status, fault
  events       accepted (processed) events, full JSON, in arrival order
  duplicates   events skipped because their $idempotency_key was seen in the window
  rejections   refused requests (record_index NULL) and refused bulk records, with reason
  idempotency  (workspace, key) -> first time seen and message id
  counters     'connections'
"""

import json
import sqlite3
import threading
import time
import uuid

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY, received_at REAL, client TEXT, method TEXT, uri TEXT, kind TEXT,
    workspace TEXT, headers TEXT, body BLOB, status INTEGER, fault TEXT);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, request_id INTEGER, record_index INTEGER, message_id TEXT UNIQUE,
    workspace TEXT, insert_id TEXT, event_name TEXT, distinct_id TEXT, idempotency_key TEXT,
    tenant_id TEXT, received_at REAL, json TEXT);
CREATE TABLE IF NOT EXISTS duplicates (
    id INTEGER PRIMARY KEY, request_id INTEGER, record_index INTEGER, message_id TEXT,
    original_message_id TEXT, workspace TEXT, idempotency_key TEXT, received_at REAL, json TEXT);
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY, request_id INTEGER, record_index INTEGER, workspace TEXT, status INTEGER,
    reason TEXT, message TEXT, received_at REAL, json TEXT);
CREATE TABLE IF NOT EXISTS idempotency (
    workspace TEXT, key TEXT, first_seen REAL, message_id TEXT, PRIMARY KEY (workspace, key));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER);
"""

TABLES = ("requests", "events", "duplicates", "rejections", "idempotency", "counters")


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


class Store:
    def __init__(self, path: str | None, idempotency_window_s: float = 86400.0):
        self.lock = threading.RLock()
        self.window = idempotency_window_s
        self.db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        if path:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.connections = self._counter("connections")

    def _counter(self, name) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        return row[0] if row else 0

    def close(self):
        with self.lock:
            self.db.close()

    # --- writes -------------------------------------------------------------------------
    def count_connection(self):
        with self.lock:
            self.connections += 1
            self.db.execute("INSERT INTO counters(name, value) VALUES('connections', ?) "
                            "ON CONFLICT(name) DO UPDATE SET value=excluded.value", (self.connections,))

    def begin_request(self, client, method, uri, kind, headers: dict, body: bytes) -> int:
        with self.lock:
            cur = self.db.execute(
                "INSERT INTO requests(received_at, client, method, uri, kind, headers, body) VALUES(?,?,?,?,?,?,?)",
                (time.time(), client, method, uri, kind, json.dumps(headers), body))
            return cur.lastrowid

    def finish_request(self, request_id, status, workspace=None, fault=None):
        with self.lock:
            self.db.execute("UPDATE requests SET status=?, workspace=?, fault=? WHERE id=?",
                            (status, workspace, fault, request_id))

    def reject(self, request_id, index, workspace, status, reason, message, record=None):
        with self.lock:
            self.db.execute(
                "INSERT INTO rejections(request_id, record_index, workspace, status, reason, message, received_at, json)"
                " VALUES(?,?,?,?,?,?,?,?)",
                (request_id, index, workspace, status, reason, message, time.time(),
                 None if record is None else json.dumps(record, default=str)))

    def accept(self, request_id, index, workspace, event: dict, idem_key: str | None):
        """Record one valid event. Returns (message_id, duplicate_of or None). Atomic."""
        now = time.time()
        message_id = new_message_id()
        text = json.dumps(event, ensure_ascii=False)
        with self.lock:
            self.db.execute("BEGIN")
            try:
                if idem_key is not None:
                    row = self.db.execute("SELECT first_seen, message_id FROM idempotency WHERE workspace=? AND key=?",
                                          (workspace, idem_key)).fetchone()
                    if row and now - row[0] < self.window:
                        self.db.execute(
                            "INSERT INTO duplicates(request_id, record_index, message_id, original_message_id,"
                            " workspace, idempotency_key, received_at, json) VALUES(?,?,?,?,?,?,?,?)",
                            (request_id, index, message_id, row[1], workspace, idem_key, now, text))
                        self.db.execute("COMMIT")
                        return message_id, row[1]
                    self.db.execute("INSERT OR REPLACE INTO idempotency(workspace, key, first_seen, message_id)"
                                    " VALUES(?,?,?,?)", (workspace, idem_key, now, message_id))
                self.db.execute(
                    "INSERT INTO events(request_id, record_index, message_id, workspace, insert_id, event_name,"
                    " distinct_id, idempotency_key, tenant_id, received_at, json) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                    (request_id, index, message_id, workspace, event.get("$insert_id"), event.get("event"),
                     event.get("distinct_id"), idem_key, event.get("tenant_id"), now, text))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return message_id, None

    def reset(self):
        with self.lock:
            for t in TABLES:
                self.db.execute(f"DELETE FROM {t}")
            self.connections = 0

    # --- reads --------------------------------------------------------------------------
    def stats(self) -> dict:
        with self.lock:
            q = lambda sql: self.db.execute(sql).fetchone()[0]
            by_reason = dict(self.db.execute(
                "SELECT reason, COUNT(*) FROM rejections GROUP BY reason ORDER BY reason").fetchall())
            faults = dict(self.db.execute(
                "SELECT fault, COUNT(*) FROM requests WHERE fault IS NOT NULL GROUP BY fault ORDER BY fault").fetchall())
            return {
                "requests": q("SELECT COUNT(*) FROM requests"),
                "accepted": q("SELECT COUNT(*) FROM events"),
                "duplicates": q("SELECT COUNT(*) FROM duplicates"),
                "rejected": q("SELECT COUNT(*) FROM rejections"),
                "connections": self.connections,
                "rejected_by_reason": by_reason,
                "faults_injected": faults,
            }

    def events(self, workspace=None) -> list:
        with self.lock:
            sql = "SELECT json, message_id, workspace, request_id, record_index, received_at FROM events"
            args = ()
            if workspace:
                sql, args = sql + " WHERE workspace=?", (workspace,)
            rows = self.db.execute(sql + " ORDER BY id", args).fetchall()
        out = []
        for text, mid, ws, rid, idx, at in rows:
            ev = json.loads(text)
            ev["_hub"] = {"message_id": mid, "workspace": ws, "request_id": rid, "record_index": idx,
                          "received_at": at}
            out.append(ev)
        return out

    def duplicates(self) -> list:
        with self.lock:
            rows = self.db.execute("SELECT json, message_id, original_message_id, workspace, idempotency_key,"
                                   " request_id, record_index FROM duplicates ORDER BY id").fetchall()
        return [{"event": json.loads(t), "message_id": m, "original_message_id": o, "workspace": w,
                 "idempotency_key": k, "request_id": r, "record_index": i} for t, m, o, w, k, r, i in rows]

    def rejections(self) -> list:
        with self.lock:
            rows = self.db.execute("SELECT request_id, record_index, workspace, status, reason, message, json"
                                   " FROM rejections ORDER BY id").fetchall()
        return [{"request_id": r, "record_index": i, "workspace": w, "status": s, "reason": why, "message": m,
                 "record": None if j is None else json.loads(j)} for r, i, w, s, why, m, j in rows]
