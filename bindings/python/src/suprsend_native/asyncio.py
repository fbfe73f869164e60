"""suprsend_native.asyncio: the client for asyncio programs, on libsuprsend's asynchronous calls.

::

    from suprsend_native import Event
    from suprsend_native.asyncio import AsyncSuprsend

    async with AsyncSuprsend("WORKSPACE_KEY", "WORKSPACE_SECRET") as client:
        result = await client.track_event(Event("user_1", "product_purchased", {"spend": 10}))
        bulk = client.bulk_events.new_instance()
        bulk.append(Event("user_1", "e1"), Event("user_2", "e2"))
        response = await bulk.trigger()

``track_event`` and ``trigger`` check and serialize the event (or bulk) on the calling thread,
hand the request to the library (``suprsend_track_event_async``, ``suprsend_bulk_trigger_async``)
and return to the event loop: the library runs many requests side by side on its own thread
and completes each once, through one C callback that passes the outcome back to the loop with
``loop.call_soon_threadsafe``. No thread is parked per call and no executor is used.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import warnings
import weakref
from types import TracebackType
from typing import Any, Callable, Dict, Optional, Tuple, Type

from . import _clib
from ._clib import lib
from .bulk_response import BulkResponse
from .client import _RAISED, _REPORTED, BulkEvents, Suprsend, _callback_state, _result, logger
from .errors import SuprsendClosedError, SuprsendTypeError, error_for
from .event import Event

__all__ = ["AsyncSuprsend", "AsyncBulkEvents", "AsyncBulkEventsFactory"]


class _Inbox:
    """The completions waiting for one loop. The library's thread appends to ``items`` and wakes
    the loop (``call_soon_threadsafe(drain)``) only when no drain is already due: completions
    that arrive together cost the loop one wake-up, not one each."""

    __slots__ = ("loop", "items", "scheduled", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # (finish, status, response, its arguments, how to free the response)
        self.items: "collections.deque[Tuple[Callable[..., None], int, Optional[int], Tuple[Any, ...], Any]]" = \
            collections.deque()
        self.scheduled = False

    def drain(self) -> None:
        # On the loop. Cleared first: a completion appended from now on either is taken by the
        # loop below or schedules another drain.
        self.scheduled = False
        items = self.items
        while items:
            finish, status, response, args, _ = items.popleft()
            try:
                finish(status, response, *args)
            except BaseException:  # noqa: B902 - the others must still be finished
                logger.exception("suprsend_native.asyncio: finishing a call failed")

    def discard(self) -> None:
        """The loop is closed: frees the responses nobody will read (on the library's thread)."""
        items = self.items
        while items:
            item = items.popleft()
            item[4](item[2])
            del item


# One inbox per loop, made by the first call on it (a loop that cannot be weakly referenced is
# kept in the second map, for good).
_inboxes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox]" = weakref.WeakKeyDictionary()
_inboxes_kept: Dict[asyncio.AbstractEventLoop, _Inbox] = {}


def _inbox(loop: asyncio.AbstractEventLoop) -> _Inbox:
    try:
        inbox = _inboxes.get(loop)
        if inbox is None:
            inbox = _inboxes[loop] = _Inbox(loop)
    except TypeError:
        inbox = _inboxes_kept.get(loop)
        if inbox is None:
            inbox = _inboxes_kept[loop] = _Inbox(loop)
    return inbox


# The calls handed to the library and not completed yet, by the number passed as user_data:
# (the inbox of the loop awaiting it, the function to run there, its arguments). An entry holds
# the future and the client (so that the client is not collected while a call of its is in
# flight) until the callback has taken it; the C callbacks below are module-level, alive as
# long as the module.
_pending: Dict[int, Tuple[_Inbox, Callable[..., None], Tuple[Any, ...]]] = {}
_ids = itertools.count(1)

# Marks the library's thread while a completion runs on it, so that a client collected there
# (its last reference dropped by a completion) is freed from another thread (Suprsend.__del__).
_IN_COMPLETION = object()


def _completion(free: Callable[[Any], None]) -> Callable[[int, Optional[int], Optional[int]], None]:
    def done(status: int, response: Optional[int], user_data: Optional[int]) -> None:
        # On a thread of the library (ctypes took the GIL). Must never raise into C, and must
        # not keep the library's thread: the outcome is read on the loop's thread.
        previous = getattr(_callback_state, "token", None)
        _callback_state.token = _IN_COMPLETION
        try:
            entry = _pending.pop(user_data or 0, None)
            if entry is None:  # pragma: no cover - a completion the binding did not ask for
                free(response)
                return
            inbox, finish, args = entry
            del entry
            if inbox.loop.is_closed():
                # Nobody awaits the outcome any more. (References dropped here, while the
                # thread is marked: a client collected now is freed from another thread.)
                del args
                free(response)
                inbox.discard()
                return
            inbox.items.append((finish, status, response, args, free))
            del args
            if not inbox.scheduled:
                inbox.scheduled = True
                try:
                    inbox.loop.call_soon_threadsafe(inbox.drain)
                except RuntimeError:  # closed meanwhile
                    inbox.discard()
        except BaseException:  # noqa: B902 - nothing may propagate into C
            try:
                logger.exception("suprsend_native.asyncio: a completion failed")
            except BaseException:  # pragma: no cover
                pass
        finally:
            _callback_state.token = previous

    return done


def _free_response(response: Optional[int]) -> None:
    if response:
        lib.suprsend_response_free(response)


def _free_bulk_response(response: Optional[int]) -> None:
    if response:
        lib.suprsend_bulk_response_free(response)


if _clib.HAS_ASYNC:
    _TRACK_DONE = _clib.RESPONSE_FN(_completion(_free_response))
    _BULK_DONE = _clib.BULK_RESPONSE_FN(_completion(_free_bulk_response))


def _require_async() -> None:
    if not _clib.HAS_ASYNC:
        raise NotImplementedError(f"suprsend_native.asyncio needs the asynchronous calls, which "
                                  f"{_clib.library_path} does not have (suprsend_track_event_async); "
                                  f"rebuild libsuprsend")


def _closed_during_call() -> SuprsendClosedError:
    return SuprsendClosedError("the client was closed before the call completed", _clib.E_CLOSED)


def _finish_track(status: int, response: Optional[int], future: "asyncio.Future[Dict[str, Any]]",
                  client: Suprsend) -> None:
    """On the loop: the outcome of suprsend_track_event_async into the future (if still awaited)."""
    try:
        if future.cancelled():
            return
        if status in _RAISED or (status not in _REPORTED and status != _clib.OK):
            future.set_exception(_closed_during_call() if status == _clib.E_CLOSED
                                 else error_for(status, _clib.status_name(status)))
        else:
            future.set_result(_result(status, response, ""))
    except BaseException as e:  # noqa: B902 - reading the response failed: the awaiting task gets it
        if not future.done():
            future.set_exception(e)
    finally:
        _free_response(response)


def _finish_bulk(status: int, response: Optional[int], future: "asyncio.Future[BulkResponse]",
                 bulk: "AsyncBulkEvents") -> None:
    """On the loop: the outcome of suprsend_bulk_trigger_async into the future (if still awaited)."""
    try:
        if future.cancelled():
            return
        if not response:
            future.set_exception(error_for(status if status != _clib.OK else _clib.E_INTERNAL,
                                           "suprsend_bulk_trigger_async gave no response"))
            return
        result = bulk._response_of(response)
        bulk._response = result
        future.set_result(result)
    except BaseException as e:  # noqa: B902
        if not future.done():
            future.set_exception(e)
    finally:
        _free_bulk_response(response)


class AsyncSuprsend:
    """A client for one SuprSend workspace, for asyncio: ``await client.track_event(event)``.

    Takes the options of :class:`suprsend_native.Suprsend` (``base_url``, ``timeout``,
    ``max_retries``, ``call_timeout``, ``on_delivery``, ``outbox``, ...), and returns what its
    calls return: ``await track_event(ev)`` the same dict, ``await bulk.trigger()`` the same
    :class:`BulkResponse`; the same exceptions are raised, at once, for an event that cannot be
    sent (nothing is sent then).

    Cancelling a task that awaits a call does not stop the request: the library finishes it
    (its outcome is dropped). :meth:`aclose` (or leaving ``async with``) completes the calls in
    flight within its deadline; those left then raise :class:`SuprsendClosedError`.

    ``enqueue`` is the synchronous client's (it never waits on the network); ``flush`` and
    ``aclose`` wait on a thread of the default executor, so that the loop goes on meanwhile.
    ``on_delivery`` runs on the library's worker thread, as for the synchronous client (use
    ``loop.call_soon_threadsafe`` there to reach the loop).
    """

    def __init__(self, workspace_key: str, workspace_secret: str, base_url: Optional[str] = None,
                 debug: bool = False, **options: Any) -> None:
        _require_async()
        self._client = Suprsend(workspace_key, workspace_secret, base_url, debug, **options)
        self._bulk_events = AsyncBulkEventsFactory(self)

    @property
    def sync_client(self) -> Suprsend:
        """The synchronous :class:`Suprsend` this client shares its connections and queue with."""
        return self._client

    @property
    def closed(self) -> bool:
        return self._client.closed

    @property
    def workspace_key(self) -> str:
        return self._client.workspace_key

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<suprsend_native.asyncio.AsyncSuprsend workspace_key={self.workspace_key!r} {state}>"

    async def track_event(self, event: Event) -> Dict[str, Any]:
        """Sends the event; returns :meth:`Suprsend.track_event`'s dict once the hub answered.

        Raises, at once (before the first suspension): what :meth:`Suprsend.track_event` raises
        for the event. :class:`SuprsendClosedError` when the client is closed, or was closed
        before the call completed.
        """
        if not isinstance(event, Event):
            raise SuprsendTypeError(f"track_event() takes a suprsend_native.Event, not {type(event).__name__}")
        ev = event._build()
        try:
            loop = asyncio.get_running_loop()
            future: "asyncio.Future[Dict[str, Any]]" = loop.create_future()
            client = self._client
            key = next(_ids)
            handle = client._enter()
            rc = _clib.E_INTERNAL
            try:
                # Registered first: the library may complete the call before it returns here.
                _pending[key] = (_inbox(loop), _finish_track, (future, client))
                rc = lib.suprsend_track_event_async(handle, ev, _TRACK_DONE, key)
                message = _clib.last_error() if rc != _clib.OK else ""
            finally:
                client._leave()
                if rc != _clib.OK:
                    # Refused at once: the library never calls back.
                    _pending.pop(key, None)
        finally:
            lib.suprsend_event_free(ev)
        if rc != _clib.OK:
            raise error_for(rc, message or _clib.status_name(rc))
        return await future

    async def track(self, distinct_id: str, event_name: str, properties: Optional[Dict[str, Any]] = None,
                    idempotency_key: Optional[str] = None, tenant_id: Optional[str] = None,
                    brand_id: Optional[str] = None) -> Dict[str, Any]:
        """``await track_event(Event(...))`` in one call, as :meth:`Suprsend.track` (deprecated)."""
        warnings.warn('This method is deprecated. Use "track_event(Event)" instead', DeprecationWarning, stacklevel=2)
        return await self.track_event(Event(distinct_id, event_name, properties, idempotency_key=idempotency_key,
                                            tenant_id=tenant_id, brand_id=brand_id))

    @property
    def bulk_events(self) -> "AsyncBulkEventsFactory":
        """``client.bulk_events.new_instance()`` makes an :class:`AsyncBulkEvents`."""
        return self._bulk_events

    def enqueue(self, event: Event) -> None:
        """:meth:`Suprsend.enqueue`: checks the event and queues it; returns at once."""
        self._client.enqueue(event)

    def stats(self) -> Dict[str, int]:
        """:meth:`Suprsend.stats`."""
        return self._client.stats()

    async def flush(self, timeout: Optional[float] = None) -> bool:
        """:meth:`Suprsend.flush`, awaited: True when every event enqueued before the call has its
        fate, False when ``timeout`` seconds passed first."""
        return await asyncio.get_running_loop().run_in_executor(None, self._client.flush, timeout)

    async def aclose(self, timeout: Optional[float] = None) -> bool:
        """:meth:`Suprsend.close`, awaited: delivers what is queued within ``timeout`` seconds
        (None: ``shutdown_timeout``), completes the calls in flight (those left by the deadline
        raise :class:`SuprsendClosedError`). Idempotent."""
        if self._client.closed:
            return True
        return await asyncio.get_running_loop().run_in_executor(None, self._client.close, timeout)

    async def __aenter__(self) -> "AsyncSuprsend":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.aclose()


class AsyncBulkEventsFactory:
    """Makes bulks of events for an :class:`AsyncSuprsend` (``client.bulk_events``)."""

    def __init__(self, client: AsyncSuprsend) -> None:
        self._client = client._client

    def new_instance(self) -> "AsyncBulkEvents":
        """A new, empty :class:`AsyncBulkEvents`."""
        return AsyncBulkEvents(self._client)


class AsyncBulkEvents(BulkEvents):
    """A bulk of events (:class:`suprsend_native.BulkEvents`) whose :meth:`trigger` is awaited."""

    async def trigger(self) -> BulkResponse:  # type: ignore[override]
        """Sends the valid events; returns the :class:`BulkResponse` the synchronous trigger
        returns. A second call raises :class:`SuprsendArgumentError` at once."""
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[BulkResponse]" = loop.create_future()
        with self._lock:
            bulk = self._live()
            client = self._client
            key = next(_ids)
            client._enter()
            rc = _clib.E_INTERNAL
            try:
                _pending[key] = (_inbox(loop), _finish_bulk, (future, self))
                rc = lib.suprsend_bulk_trigger_async(bulk, _BULK_DONE, key)
                message = _clib.last_error() if rc != _clib.OK else ""
            finally:
                client._leave()
                if rc != _clib.OK:
                    _pending.pop(key, None)
            if rc != _clib.OK:
                raise error_for(rc, message or _clib.status_name(rc))
            # The library has what it needs: the bulk is freed now, and sent once.
            self._triggered = True
            self._count = int(lib.suprsend_bulk_count(bulk))
            self._handle = None
            lib.suprsend_bulk_free(bulk)
        return await future

