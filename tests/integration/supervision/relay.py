"""A small TCP and UDP relay for the two-host test: listen on HOST:P, forward to TARGET:P.

    python -m tests.integration.supervision.relay --listen 10.231.1.1,10.231.2.1 --to 127.0.0.1 \
        --tcp 27432,27081 --udp 27053

Inside a "host" (a network namespace) one relay listens on its own 127.0.0.1 and forwards to
the host side of its veth pair; on the host side another forwards those addresses to the
real servers on 127.0.0.1. A connection closed on either side is closed on the other, so a
killed worker's PostgreSQL sessions end (and its liveness lock is freed) as they would on a
real network.
"""
from __future__ import annotations

import argparse
import asyncio
import signal


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, other: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        for w in (writer, other):
            w.close()


def _tcp_handler(target: str, port: int):
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(target, port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w, client_w), _pipe(server_r, client_w, server_w))
    return handle


class _UdpRelay(asyncio.DatagramProtocol):
    """One upstream socket per client address; answers go back to that client."""

    def __init__(self, target: str, port: int):
        self.target, self.port, self.upstreams = target, port, {}

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        upstream = self.upstreams.get(addr)
        if upstream is None:
            asyncio.ensure_future(self._open(data, addr))
        else:
            upstream.sendto(data)

    async def _open(self, data: bytes, addr) -> None:
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, answer: bytes, _from) -> None:
                relay.transport.sendto(answer, addr)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            Back, remote_addr=(self.target, self.port))
        self.upstreams[addr] = transport
        transport.sendto(data)


async def main(listen: list[str], target: str, tcp: list[int], udp: list[int]) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for host in listen:
        for port in tcp:
            servers.append(await asyncio.start_server(_tcp_handler(target, port), host, port, reuse_address=True))
        for port in udp:
            await loop.create_datagram_endpoint(lambda p=port: _UdpRelay(target, p), local_addr=(host, port))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("relay ready", flush=True)
    await stop.wait()


def _ports(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--tcp", default="")
    parser.add_argument("--udp", default="")
    args = parser.parse_args()
    asyncio.run(main(args.listen.split(","), args.to, _ports(args.tcp), _ports(args.udp)))
