"""suprsend_native as a drop-in for the official suprsend-py-sdk: the same small programs run
against both packages and the local hub; what each raises and returns is compared.

Skipped when the official package (``import suprsend``) is not installed. Each program takes
the package as ``S`` (so that it is written once, as a user of either would write it).
"""

from __future__ import annotations

import base64
import errno
import inspect
import math
import os
from typing import Any, Callable, Dict, List, Tuple

import pytest

from conftest import DROPIN_KEY, DROPIN_SECRET

official = pytest.importorskip("suprsend", reason="the official suprsend-py-sdk is not installed")

import suprsend_native as native  # noqa: E402
import suprsend_native.exception as native_exception  # noqa: E402

# The names a program using the official SDK's event API imports from it.
EVENT_API_NAMES = ["Suprsend", "Event", "BulkResponse", "AppInfo", "SuprsendError", "SuprsendConfigError",
                   "SuprsendAPIException", "SuprsendValidationError", "InputValueError"]


@pytest.fixture
def clients(hub) -> Dict[Any, Any]:
    """A client of each package for the hub's drop-in workspace (the hub reset)."""
    made = {official: official.Suprsend(DROPIN_KEY, DROPIN_SECRET, base_url=hub.base_url),
            native: native.Suprsend(DROPIN_KEY, DROPIN_SECRET, base_url=hub.base_url, max_retries=0)}
    yield made
    made[native].close()


def _run(program: Callable[..., Any], S: Any, client: Any, tmp_path: Any) -> Tuple[str, Any]:
    try:
        return "returned", program(S, client, tmp_path)
    except Exception as e:  # noqa: BLE001 - the outcome is what is compared
        return "raised", e


def _native_twin(cls: type) -> type:
    """The class of suprsend_native that stands for one of the official SDK's (or a built-in)."""
    if not cls.__module__.startswith("suprsend"):
        return cls  # ValueError, OSError, FileNotFoundError, ...
    twin = getattr(native, cls.__name__, None) or getattr(native_exception, cls.__name__, None)
    assert twin is not None, f"suprsend_native has no {cls.__name__}"
    return twin


def assert_raised_alike(theirs: BaseException, ours: BaseException) -> None:
    """Every except clause that catches the official exception catches ours, with its attributes."""
    for cls in type(theirs).__mro__:
        if cls in (object, BaseException, Exception):
            continue
        twin = _native_twin(cls)
        assert isinstance(ours, twin), f"{ours!r} is not caught by `except {cls.__name__}` (official: {theirs!r})"
    if isinstance(theirs, OSError):
        assert (ours.errno, ours.filename) == (theirs.errno, theirs.filename), (ours, theirs)
        assert ours.errno is not None and ours.strerror
    for attribute in ("status_code", "message", "error_type"):
        if hasattr(theirs, attribute):
            assert hasattr(ours, attribute), f"{ours!r} lacks .{attribute}"
    if hasattr(theirs, "status_code"):
        assert ours.status_code == theirs.status_code, (ours, theirs)


# --- names ---------------------------------------------------------------------------------------
def test_the_names_of_the_event_api_are_there():
    for name in EVENT_API_NAMES:
        assert hasattr(official, name), f"the official SDK no longer has {name}"
        assert hasattr(native, name), f"suprsend_native lacks {name}"
    # Every exception class the official package exposes, at the top and in suprsend.exception,
    # with the same subclass relations.
    exposed = {c for _, c in inspect.getmembers(official, inspect.isclass) if issubclass(c, BaseException)}
    exposed |= {c for _, c in inspect.getmembers(official.exception, inspect.isclass) if issubclass(c, BaseException)}
    for cls in exposed:
        twin = _native_twin(cls)
        for base in cls.__mro__:
            if base not in (object, BaseException, Exception):
                assert issubclass(twin, _native_twin(base)), f"{twin.__name__} is not a {base.__name__}"
    assert set(official.exception.__all__ if hasattr(official.exception, "__all__") else []) <= set(dir(native_exception))


def test_exception_classes_are_made_like_the_official_ones():
    for name in ("SuprsendError", "SuprsendConfigError", "SuprsendValidationError"):
        theirs, ours = getattr(official, name)("a message"), getattr(native, name)("a message")
        assert ours.message == theirs.message == "a message"
        assert ours.status_code == theirs.status_code
    assert native.SuprsendValidationError().status_code == official.SuprsendValidationError().status_code == 400
    assert native.SuprsendValidationError("m").error_type == "SuprsendValidationError"

    class Response:  # what requests.Response gives SuprsendAPIException
        status_code = 409
        text = '{"message": "conflict"}'
        headers: Dict[str, str] = {}

    theirs, ours = official.SuprsendAPIException(Response()), native.SuprsendAPIException(Response())
    assert (ours.status_code, ours.message) == (theirs.status_code, theirs.message) == (409, Response.text)
    assert ours.response is not None
    assert isinstance(native.AppInfo({"app": "x"}), dict)


# --- what is raised ------------------------------------------------------------------------------
class _Track:
    """``client.track_event(event)`` of ``event = S.Event(*args, **kwargs)`` made beforehand, outside
    the ``try`` that catches what track_event raises, as a user's code makes its events: the
    official SDK's Event() accepts anything and checks it when it is sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def prepare(self, S: Any) -> Callable[..., Any]:
        event = S.Event(*self.args, **self.kwargs)
        return lambda S, client, tmp_path: client.track_event(event)


_track = _Track


def _attach(path_in_tmp: str, **kwargs: Any) -> Callable[..., Any]:
    def program(S: Any, client: Any, tmp_path: Any) -> Any:
        (tmp_path / "a_dir").mkdir(exist_ok=True)
        (tmp_path / "a_file.txt").write_bytes(b"x")
        return S.Event("u1", "invoice_generated").add_attachment(str(tmp_path / path_in_tmp), **kwargs)
    return program


RAISING_PROGRAMS: Dict[str, Callable[..., Any]] = {
    "distinct_id None": _track(None, "ev"),
    "distinct_id int": _track(1, "ev"),
    "distinct_id empty": _track("", "ev"),
    "distinct_id blank": _track("   ", "ev"),
    "event_name None": _track("u1", None),
    "event_name int": _track("u1", 7),
    "event_name empty": _track("u1", ""),
    "event_name reserved $": _track("u1", "$something"),
    "event_name reserved ss_": _track("u1", "ss_something"),
    "properties list": _track("u1", "ev", [1, 2]),
    "properties str": _track("u1", "ev", "x"),
    "properties not JSON": _track("u1", "ev", {"a": object()}),
    "idempotency_key int": _track("u1", "ev", idempotency_key=1),
    "idempotency_key too long": _track("u1", "ev", idempotency_key="k" * 300),
    "tenant_id int": _track("u1", "ev", tenant_id=1),
    "brand_id int": _track("u1", "ev", brand_id=1),
    "track_event of a dict": lambda S, client, tmp: client.track_event({"event": "ev"}),
    "client without key": lambda S, client, tmp: S.Suprsend("", "secret"),
    "client with key None": lambda S, client, tmp: S.Suprsend(None, "secret"),
    "client without secret": lambda S, client, tmp: S.Suprsend("workspace_key_long_enough", ""),
    "attachment missing": _attach("missing.pdf"),
    "attachment in a missing folder": _attach("no_folder/missing.pdf"),
    "attachment is a folder": _attach("a_dir"),
    "attachment below a file": _attach("a_file.txt/below"),
}


@pytest.mark.parametrize("name", sorted(RAISING_PROGRAMS))
def test_raises_what_the_official_sdk_raises(name, clients, tmp_path, hub):
    program = RAISING_PROGRAMS[name]
    # A program's event is made here, outside _run's try: Event() itself must not raise.
    theirs_program, ours_program = (program.prepare(S) if isinstance(program, _Track) else program
                                    for S in (official, native))
    theirs = _run(theirs_program, official, clients[official], tmp_path)
    ours = _run(ours_program, native, clients[native], tmp_path)
    assert theirs[0] == "raised", f"the official SDK no longer raises here: {theirs}"
    assert ours[0] == "raised", f"suprsend_native returned {ours[1]!r}; the official SDK raised {theirs[1]!r}"
    assert_raised_alike(theirs[1], ours[1])
    assert hub.stats()["requests"] == 0


def test_known_difference_refused_before_sending(clients, hub):
    """What the hub would refuse, suprsend_native refuses before sending (README, "Differences"):
    raised with a class the official SDK's users catch, where the official SDK returns the refusal."""
    cases = {"NaN in properties": ({"a": math.nan}, {}), "tenant_id with a space": ({}, {"tenant_id": "bad id"}),
             "event over 100 KiB": ({"blob": "x" * 110_000}, {})}
    for what, (properties, options) in cases.items():
        theirs = clients[official].track_event(official.Event("u1", "ev", properties, **options))
        assert theirs["success"] is False and theirs["status_code"] == 400, what
        with pytest.raises(native.InputValueError):
            clients[native].track_event(native.Event("u1", "ev", properties, **options))
    assert hub.stats()["requests"] == len(cases)  # the official SDK's only


def test_unreadable_attachment_is_a_permission_error(clients, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: a file's permissions do not stop root from reading it")
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF-1.4")
    secret.chmod(0)
    program = _attach("secret.pdf")
    theirs = _run(program, official, clients[official], tmp_path)
    ours = _run(program, native, clients[native], tmp_path)
    assert isinstance(theirs[1], PermissionError)
    assert_raised_alike(theirs[1], ours[1])
    assert ours[1].errno == errno.EACCES


def test_attachment_errors_are_the_builtin_oserrors(tmp_path):
    """Without the official SDK in the loop: the classes, errno and filename of open()."""
    event = native.Event("u1", "ev")
    with pytest.raises(FileNotFoundError) as info:
        event.add_attachment(str(tmp_path / "missing.txt"))
    assert info.value.errno == errno.ENOENT and info.value.filename == str(tmp_path / "missing.txt")
    assert isinstance(info.value, native.SuprsendAttachmentError)
    with pytest.raises(IsADirectoryError) as info:
        event.add_attachment(str(tmp_path))
    assert info.value.errno == errno.EISDIR and info.value.filename == str(tmp_path)
    (tmp_path / "a_file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError) as info:
        event.add_attachment(str(tmp_path / "a_file" / "below"))
    assert info.value.errno == errno.ENOTDIR
    # Skipped with ignore_if_error, as the official SDK does.
    assert event.add_attachment(str(tmp_path / "missing.txt"), ignore_if_error=True) is None
    assert event._attachments == []


# --- what is returned and sent ---------------------------------------------------------------------
def test_accepted_event_result_has_the_same_shape(clients, hub):
    theirs = clients[official].track_event(official.Event("u1", "ev", {"a": 1}))
    ours = clients[native].track_event(native.Event("u1", "ev", {"a": 1}))
    assert set(ours) == set(theirs)
    for key in ("success", "status", "status_code"):
        assert ours[key] == theirs[key]
    assert ours["message"] == ours["raw_response"]["message_id"]
    assert theirs["message"] == theirs["raw_response"]["message_id"]
    for S in (official, native):
        with pytest.warns(DeprecationWarning):
            assert clients[S].track("u2", "ev", {"b": 2}, tenant_id="t2", brand_id="b2")["success"] is True
    theirs, ours = hub.events()[2:]
    assert theirs["tenant_id"] == ours["tenant_id"] == "t2"
    # The official track() drops brand_id (README, "Differences"); ours sends it as Event() does.
    assert "brand_id" not in theirs and ours["brand_id"] == "b2"


def test_refused_event_message_is_the_hubs_own(clients, hub):
    results = {}
    for S in (official, native):
        hub.faults([{"refuse_records": [0]}])
        results[S] = clients[S].track_event(S.Event("u1", "ev", {"a": 1}))
    theirs, ours = results[official], results[native]
    assert theirs["success"] is ours["success"] is False
    assert ours == theirs, (ours, theirs)
    assert ours["message"] == ours["raw_response"]["error"]["message"]
    assert "(" not in ours["message"]  # no " (validation_error)" appended


def test_brand_id_and_tenant_id_go_on_the_wire_alike(clients, hub):
    for S in (official, native):
        event = S.Event("u1", "ev", {"a": 1}, tenant_id="t1", brand_id="b1")
        assert clients[S].track_event(event)["success"] is True
    theirs, ours = hub.events()
    for key in ("tenant_id", "brand_id", "event", "distinct_id"):
        assert ours[key] == theirs[key], key
    assert "brand_id" not in ours["properties"]
    assert native.Event("u1", "ev", {"a": 1}, tenant_id="t1", brand_id="b1").as_json() == \
        official.Event("u1", "ev", {"a": 1}, tenant_id="t1", brand_id="b1").as_json()


def test_attachments_name_and_type_alike(clients, hub, tmp_path):
    """The file name trimmed; the content type from the extension, not from what the file holds."""
    page = tmp_path / "data.json"
    page.write_text("<html><body>not json at all</body></html>")
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"%PDF-1.4 but named .txt")
    for S in (official, native):
        event = S.Event("u1", "with_files")
        event.add_attachment(str(page))
        event.add_attachment(str(notes), file_name="  my notes.txt  ")
        assert clients[S].track_event(event)["success"] is True
    theirs, ours = (e["properties"]["$attachments"] for e in hub.events())
    for a, b in zip(ours, theirs):
        assert (a["filename"], a["contentType"], a["data"]) == (b["filename"], b["contentType"], b["data"])
    assert [a["contentType"] for a in ours] == ["application/json", "text/plain"]
    assert ours[1]["filename"] == "my notes.txt"


def test_attachment_is_read_when_added_as_the_official_sdk(clients, hub, tmp_path):
    for S in (official, native):
        temp = tmp_path / f"temp_{S.__name__}.txt"
        temp.write_bytes(b"the content when added")
        event = S.Event("u1", "with_temp_file")
        event.add_attachment(str(temp))
        temp.write_bytes(b"rewritten later")
        os.remove(temp)
        assert clients[S].track_event(event)["success"] is True
    for sent in hub.events():
        assert base64.b64decode(sent["properties"]["$attachments"][0]["data"]) == b"the content when added"


def test_bulk_failed_records_alike(clients, hub):
    """A bulk with an event refused before sending and one refused by the hub."""
    responses = {}
    for S in (official, native):
        bulk = clients[S].bulk_events.new_instance()
        bulk.append(S.Event("u0", "bulk_ev"), S.Event("u1", "bulk_ev", idempotency_key="k" * 300),
                    S.Event("u2", "bulk_ev"), S.Event("u3", "bulk_ev"))
        # The request carries the 3 valid events; the hub refuses the second of them (u2).
        hub.faults([{"refuse_records": [1]}])
        responses[S] = bulk.trigger()
    theirs, ours = responses[official], responses[native]
    assert (ours.status, ours.total, ours.success, ours.failure) == \
        (theirs.status, theirs.total, theirs.success, theirs.failure) == ("partial", 4, 2, 2)
    assert str(ours) == str(theirs)

    def by_user(records: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
        return {r["record"]["distinct_id"]: r for r in records}

    theirs_records, ours_records = by_user(theirs.failed_records), by_user(ours.failed_records)
    assert set(ours_records) == set(theirs_records) == {"u1", "u2"}
    for user in ("u1", "u2"):
        a, b = ours_records[user], theirs_records[user]
        assert set(a) == set(b) == {"record", "error", "code"}
        assert (type(a["code"]), type(a["error"]), type(a["record"])) == (type(b["code"]), type(b["error"]), dict)
        assert a["code"] == b["code"], user
    # Refused by the hub: its message as it gave it.
    assert ours_records["u2"]["error"] == theirs_records["u2"]["error"]
    assert ours_records["u2"]["code"] == 400
    # Refused before sending: code 500 as the official SDK (whose error text is a traceback;
    # ours says what is wrong).
    assert ours_records["u1"]["code"] == 500
    assert "idempotency_key" in ours_records["u1"]["error"]


# --- events made from user data, checked when sent ------------------------------------------------
# A program builds its events first (from user data, outside any try), then sends them: the
# official SDK's Event() accepts anything, its append too; track_event raises for an invalid
# event and a bulk reports it as a failed record (code 500) and sends the others.
INVALID_EVENTS: List[Tuple[Tuple[Any, ...], Dict[str, Any]]] = [
    (("user_x", "$purchase_made"), {}),                 # reserved, not one of the "$" names allowed
    (("", "order_placed"), {}),                          # empty distinct_id
    (("user_x", "order_placed", ["not", "a", "dict"]), {}),  # properties not a dict
    (("user_x", "ss_internal_event"), {}),               # reserved
    ((None, "order_placed"), {}),                        # distinct_id not a str
    (("user_x", "order_placed", "a string"), {}),        # properties not a dict
    (("user_x", None), {}),                              # event name not a str
    (("user_x", ""), {}),                                # empty event name
    ((42, "order_placed"), {}),                          # distinct_id not a str
    (("user_x", "$app_launched_twice"), {}),             # reserved
]


def _user_events(S: Any, total: int, invalid_at: List[int]) -> List[Any]:
    """``total`` events as a user's code makes them, those at ``invalid_at`` invalid (each of the
    kinds above in turn)."""
    events = []
    for i in range(total):
        if i in invalid_at:
            args, kwargs = INVALID_EVENTS[invalid_at.index(i) % len(INVALID_EVENTS)]
            events.append(S.Event(*args, **kwargs))
        else:
            events.append(S.Event(f"user_{i}", "order_placed", {"i": i}))
    return events


def _record_key(failed: Dict[str, Any]) -> Tuple[str, str, int]:
    record = failed["record"]
    return repr(record.get("distinct_id")), repr(record.get("event")), failed["code"]


@pytest.mark.parametrize("total,invalid_at", [(11, [2, 5, 8]), (250, [0, 17, 42, 99, 100, 150, 199, 200, 231, 249])],
                         ids=["11 with 3 invalid", "250 with 10 invalid"])
def test_bulk_of_user_data_with_invalid_events(clients, hub, total, invalid_at):
    outcomes = {}
    for S in (official, native):
        hub.reset()
        events = _user_events(S, total, invalid_at)  # made before the bulk, outside any try
        bulk = clients[S].bulk_events.new_instance()
        for event in events:
            bulk.append(event)  # neither package raises here
        response = bulk.trigger()
        delivered = sorted(e["properties"]["i"] for e in hub.events())
        outcomes[S] = response, delivered
    (theirs, theirs_delivered), (ours, ours_delivered) = outcomes[official], outcomes[native]
    valid = total - len(invalid_at)
    assert (theirs.status, theirs.total, theirs.success, theirs.failure) == ("partial", total, valid, len(invalid_at))
    assert (ours.status, ours.total, ours.success, ours.failure) == \
        (theirs.status, theirs.total, theirs.success, theirs.failure)
    assert str(ours) == str(theirs)
    assert len(ours.failed_records) == len(theirs.failed_records) == len(invalid_at)
    assert [r["code"] for r in ours.failed_records] == [r["code"] for r in theirs.failed_records] == \
        [500] * len(invalid_at)
    for failed in ours.failed_records:
        assert set(failed) == {"record", "error", "code"} and isinstance(failed["error"], str) and failed["error"]
    # The same events refused (by their distinct_id and name), and the same ones delivered.
    assert sorted(map(_record_key, ours.failed_records)) == sorted(map(_record_key, theirs.failed_records))
    assert ours_delivered == theirs_delivered == [i for i in range(total) if i not in invalid_at]


@pytest.mark.parametrize("name", ["$purchase_made", "ss_internal_event", "$identify"])
def test_track_event_of_an_event_made_beforehand(clients, hub, name):
    """A reserved name (the official SDK refuses those not among its "$" names, when sent):
    the same exception, or the same result."""
    outcomes = {}
    for S in (official, native):
        event = S.Event("user_1", name, {"a": 1})  # made as a user makes it, outside any try
        outcomes[S] = _run(lambda S, client, tmp_path: client.track_event(event), S, clients[S], None)
    theirs, ours = outcomes[official], outcomes[native]
    assert ours[0] == theirs[0], (ours, theirs)
    if theirs[0] == "raised":
        assert_raised_alike(theirs[1], ours[1])
        assert hub.stats()["requests"] == 0
    else:
        assert set(ours[1]) == set(theirs[1])
        for key in ("success", "status", "status_code"):
            assert ours[1][key] == theirs[1][key], key
        assert theirs[1]["success"] is True
