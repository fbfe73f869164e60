#!/usr/bin/env bash
# outbox-recover.sh DAMAGED_OUTBOX [OUT.jsonl]
# Reads what is still readable in a damaged outbox (moved away from its path first; see the
# README, "A damaged outbox") and writes its events as JSON lines that `suprsend-events import` sends
# again: distinct_id, event, idempotency_key, tenant_id, brand_id and the caller's properties.
# Each event keeps its idempotency key, so the hub drops those it already had.
# Needs the sqlite3 shell (Debian: sqlite3). Writes OUT (default: DAMAGED_OUTBOX.jsonl) and
# prints how many events it found.
set -euo pipefail
damaged=${1:?usage: outbox-recover.sh DAMAGED_OUTBOX [OUT.jsonl]}
out=${2:-$damaged.jsonl}
command -v sqlite3 >/dev/null || { echo "outbox-recover: the sqlite3 shell is missing (apt-get install sqlite3)" >&2; exit 2; }
[ -f "$damaged" ] || { echo "outbox-recover: no such file: $damaged" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/outbox-recover.XXXXXX")
trap 'rm -rf "$work"' EXIT
# .dump writes every row it can read and stops a table at the first damaged page it meets,
# ending with ROLLBACK: keep what came before it.
cp "$damaged" "$work/damaged.db"
[ -f "$damaged-wal" ] && cp "$damaged-wal" "$work/damaged.db-wal"
sqlite3 "$work/damaged.db" .dump 2>/dev/null | sed 's/^ROLLBACK; -- due to errors$/COMMIT;/' \
    | sqlite3 "$work/recovered.db" 2>/dev/null || true
if ! sqlite3 "$work/recovered.db" "SELECT 1 FROM events LIMIT 0" 2>/dev/null; then
    echo "outbox-recover: no events table could be read from $damaged" >&2
    exit 1
fi
sqlite3 "$work/recovered.db" >"$out" <<'SQL'
SELECT json_object('distinct_id', distinct_id, 'event', name, 'idempotency_key', idempotency_key,
                   'tenant_id', json_extract(json, '$.tenant_id'), 'brand_id', json_extract(json, '$.brand_id'),
                   'properties', json(json_remove(json_extract(json, '$.properties'), '$."$ss_sdk_version"')))
FROM events ORDER BY id;
SQL
echo "outbox-recover: $(wc -l <"$out") event(s) from $damaged written to $out"
