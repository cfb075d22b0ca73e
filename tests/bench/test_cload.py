"""The C load client counts what a server sent, however the bytes are split."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.cload import CLoad, build


async def _serve_updates(writer: asyncio.StreamWriter, updates: list[bytes], step: int) -> None:
    stream = b"".join(updates)
    for start in range(0, len(stream), step):  # split anywhere, a few bytes per write
        writer.write(stream[start : start + step])
        await writer.drain()
        await asyncio.sleep(0.001)


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_every_update_is_counted_once_per_viewer_at_any_split(step: int) -> None:
    binary = build()
    assert binary is not None, "no C compiler: the bench's C load client cannot be built"
    viewers = 3
    updates = [
        b"data: " + json.dumps({"seq": seq, "ts": 1000.5 + seq, "pad": "x" * 90}).encode() + b"\n\n"
        for seq in range(1, 6)
    ]

    async def scenario() -> dict[str, object]:
        connected: list[asyncio.StreamWriter] = []
        go = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
            connected.append(writer)
            await go.wait()
            await _serve_updates(writer, updates, step)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        load = await CLoad.start(
            binary=binary,
            host="127.0.0.1",
            port=port,
            path="/live/x/stream",
            count=viewers,
            protocol="sse",
            keep_samples=True,
            timeout=10,
        )
        assert load.ok == viewers
        go.set()
        for _ in range(400):
            if await load.delivered() == viewers * len(updates):
                break
            await asyncio.sleep(0.025)
        result = await load.stop()
        for writer in connected:
            writer.close()
        server.close()
        return result

    result = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert [u[:3] for u in result["updates"]] == [  # type: ignore[index]
        [seq, viewers, 1000.5 + seq] for seq in range(1, 6)
    ]
    assert len(result["samples"]) == viewers * len(updates)  # type: ignore[arg-type]


def test_a_refused_stream_is_reported_not_counted() -> None:
    binary = build()
    assert binary is not None

    async def scenario() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(ConnectionError, match="2 of 2 viewers could not connect"):
            await CLoad.start(
                binary=binary,
                host="127.0.0.1",
                port=port,
                path="/live/x/stream",
                count=2,
                protocol="sse",
                keep_samples=False,
                timeout=10,
            )
        server.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
