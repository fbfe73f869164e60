#!/usr/bin/env python3
"""A hub that takes its time: answers every event request as the bench's nginx does, after
--delay-ms (asyncio, stdlib only). For the c_single_slow scenario of bench/run.py: does a
request's CPU in the client depend on how long the hub takes to answer?

    slow_hub.py --delay-ms 20 [--port 0] [--port-file PATH]

It checks nothing (no signature, no validation; the correctness pass goes through the real
local hub, tools/hub) and keeps connections alive like nginx. POST {base}v2/event/ answers
202 {"status":"success","message_id":"bench"} after the delay; GET /_status answers in
nginx's stub_status format (accepted connections, requests), so that the bench counts
connections the same way for both servers; anything else is 404 at once. Its own CPU is not
part of the figure: the client measures itself (getrusage(RUSAGE_SELF)).
"""
import argparse
import asyncio
import os
import signal

EVENT_ANSWER = b'{"status":"success","message_id":"bench"}'
NOT_FOUND = b'{"status":"error","error":{"message":"no such path","type":"bench"}}'
MAX_HEADER = 64 * 1024


class Counters:
    accepts = 0
    requests = 0
    active = 0


def response(status, reason, body):
    return (f"HTTP/1.1 {status} {reason}\r\nServer: slow_hub\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n").encode() + body


async def handle(reader, writer, delay):
    Counters.accepts += 1
    Counters.active += 1
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            Counters.requests += 1
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                return
            method, target = parts[0], parts[1]
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    try:
                        length = int(value.strip())
                    except ValueError:
                        return
                elif name == "transfer-encoding":
                    return  # the clients of the bench send Content-Length
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if length < 0:
                return
            try:
                await reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            path = target.split("?", 1)[0]
            if method == "POST" and path.endswith("/v2/event/"):
                if delay > 0:
                    await asyncio.sleep(delay)
                out = response(202, "Accepted", EVENT_ANSWER)
            elif method == "GET" and path == "/_status":
                body = (f"Active connections: {Counters.active} \nserver accepts handled requests\n"
                        f" {Counters.accepts} {Counters.accepts} {Counters.requests} \n").encode()
                out = response(200, "OK", body).replace(b"application/json", b"text/plain")
            else:
                out = response(404, "Not Found", NOT_FOUND)
            writer.write(out)
            try:
                await writer.drain()
            except ConnectionError:
                return
            if close:
                return
    finally:
        Counters.active -= 1
        writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="once listening, write the port and a newline here (temp file + rename)")
    ap.add_argument("--delay-ms", type=float, default=20.0, help="how long before each event answer (default 20)")
    a = ap.parse_args()
    delay = max(a.delay_ms, 0.0) / 1000.0
    server = await asyncio.start_server(lambda r, w: handle(r, w, delay), a.host, a.port, backlog=4096,
                                        limit=MAX_HEADER)
    port = server.sockets[0].getsockname()[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, a.port_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
