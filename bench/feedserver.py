"""A fast loopback feed server for benchmarks (asyncio streams, HTTP/1.1 keep-alive), run as a subprocess.

    python bench/feedserver.py --feeds 2000   -> prints "PORT <n>" then serves until killed

/feed/<i>: an RSS 2.0 feed of 5..120 items (size depends on i). Even i carry an ETag and answer 304 to a
matching If-None-Match; odd i carry no validators and always answer 200 with the same body.
"""

from __future__ import annotations

import argparse
import asyncio
import random


def make_feed(i: int) -> bytes:
    rng = random.Random(i)
    n = 5 + (i * 37) % 116
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
    for k in range(n):
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
    def __init__(self, feeds: int) -> None:
        self.bodies = {i: make_feed(i) for i in range(feeds)}

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
        if i % 2 == 0:
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
    args = parser.parse_args()
    server = Server(args.feeds)
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, backlog=1024)
    port = srv.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
