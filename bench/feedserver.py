"""A fast loopback feed server for benchmarks (asyncio streams, HTTP/1.1 keep-alive), run as a subprocess.

    python bench/feedserver.py --feeds 2000   -> prints "PORT <n>" then serves until killed

/feed/<i>: an RSS 2.0 feed of 5..120 items (size depends on i). Even i carry an ETag and answer 304 to a
matching If-None-Match; odd i carry no validators and always answer 200 with the same body.

``--hosts 50 --rounds``: the side-by-side mode (``bench/vs_reader.py``): the same port on 127.0.0.1 to
127.0.0.<hosts>, feed i served by host ``i % hosts``, 5..60 items a feed, every feed with an ETag and a
Last-Modified. SIGUSR1 starts the next round: the odd feeds change (16 new items each, the oldest 16 gone), the
even ones answer 304 to their validators.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal


def make_feed(i: int, *, sizes: int = 116, version: int = 0) -> bytes:
    rng = random.Random(i)
    n = 5 + (i * 37) % sizes
    first = 16 * version  # a new version drops the oldest 16 items and adds 16 new ones
    words = [
        "police",
        "europol",
        "operation",
        "network",
        "arrest",
        "cyber",
        "fraud",
        "drugs",
        "border",
        "ministry",
        "press",
        "release",
        "investigation",
        "court",
        "agency",
        "report",
        "online",
        "data",
    ]
    items = []
    for k in range(first, first + n):
        text = " ".join(rng.choice(words) for _ in range(40 + (k % 5) * 20))
        items.append(
            f"<item><title>Feed {i} item {k} {rng.choice(words)}</title>"
            f"<link>https://news{i % 50}.example.org/{i}/{k}?utm_source=rss</link>"
            f"<guid>https://news{i % 50}.example.org/{i}/{k}</guid>"
            f"<pubDate>Mon, {1 + k % 28:02d} Nov 2026 {k % 24:02d}:00:00 GMT</pubDate>"
            f"<description>{text}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {i}</title><link>https://news{i % 50}.example.org/</link>"
        f"<description>bench</description>{''.join(items)}</channel></rss>"
    ).encode()


class Server:
    def __init__(self, feeds: int, *, rounds: bool = False) -> None:
        self.feeds = feeds
        self.rounds = rounds
        self.version = 0
        self.bodies = {i: make_feed(i, sizes=56 if rounds else 116) for i in range(feeds)}

    def next_round(self) -> None:
        self.version += 1
        for i in range(1, self.feeds, 2):
            self.bodies[i] = make_feed(i, sizes=56, version=self.version)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                writer.write(self.respond(path, headers))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    def respond(self, path: str, headers: dict[str, str]) -> bytes:
        try:
            i = int(path.rsplit("/", 1)[1])
            body = self.bodies[i]
        except (ValueError, KeyError):
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        extra = ""
        if self.rounds:
            tag = f'"v{self.version if i % 2 else 0}-{i}"'
            if headers.get("if-none-match") == tag:
                return f"HTTP/1.1 304 Not Modified\r\nETag: {tag}\r\n\r\n".encode()
            extra = f"ETag: {tag}\r\nLast-Modified: Mon, 0{1 + self.version} Nov 2026 00:00:00 GMT\r\n"
        elif i % 2 == 0:
            etag = f'"v1-{i}"'
            if headers.get("if-none-match") == etag:
                return f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode()
            extra = f"ETag: {etag}\r\n"
        return (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=1, help="serve on 127.0.0.1 .. 127.0.0.<hosts>")
    parser.add_argument("--rounds", action="store_true", help="the side-by-side mode (module docstring)")
    args = parser.parse_args()
    server = Server(args.feeds, rounds=args.rounds)
    first = await asyncio.start_server(server.handle, "127.0.0.1", 0, backlog=1024)
    port = first.sockets[0].getsockname()[1]
    others = [
        await asyncio.start_server(server.handle, f"127.0.0.{h}", port, backlog=1024)
        for h in range(2, args.hosts + 1)
    ]
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, server.next_round)
    print(f"PORT {port}", flush=True)
    async with first:
        await asyncio.gather(first.serve_forever(), *(o.serve_forever() for o in others))


if __name__ == "__main__":
    asyncio.run(main())
