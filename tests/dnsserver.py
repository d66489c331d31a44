"""A DNS server of the tests' own (UDP, A and AAAA queries): each name answers from a script,
one step per A query, the last step repeated, so a test can make a name rebind (inside first,
outside next) or fail once and then resolve. Used inside a network namespace whose
/etc/resolv.conf points at it (tests/netns)."""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from collections import Counter
from dataclasses import dataclass, field

NXDOMAIN = "NXDOMAIN"  # a step: the name does not exist (this time)


@dataclass
class Zone:
    """name -> steps; a step is a list of IPv4 addresses, or NXDOMAIN."""

    script: dict[str, list[list[str] | str]] = field(default_factory=dict)
    asked: Counter[str] = field(default_factory=Counter)  # A queries per name

    def answer(self, name: str, qtype: int) -> list[str] | str:
        steps = self.script.get(name)
        if steps is None:
            return NXDOMAIN
        if qtype != 1:  # AAAA and others: no record (the names here are IPv4 only)
            return []
        step = steps[min(self.asked[name], len(steps) - 1)]
        self.asked[name] += 1
        return step


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            reply = self.reply(data)
        except (ValueError, IndexError, struct.error):
            return
        assert self.transport is not None
        self.transport.sendto(reply, addr)

    def reply(self, query: bytes) -> bytes:
        (ident,) = struct.unpack("!H", query[:2])
        labels, at = [], 12
        while query[at]:
            length = query[at]
            labels.append(query[at + 1 : at + 1 + length].decode("ascii").lower())
            at += 1 + length
        question = query[12 : at + 5]
        qtype = struct.unpack("!H", query[at + 1 : at + 3])[0]
        found = self.zone.answer(".".join(labels), qtype)
        rcode = 3 if found == NXDOMAIN else 0
        records = [] if isinstance(found, str) else found
        head = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(records), 0, 0)
        answers = b"".join(
            b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + ipaddress.IPv4Address(a).packed
            for a in records
        )
        return head + question + answers


async def serve(zone: Zone, host: str, port: int = 53) -> asyncio.DatagramTransport:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Protocol(zone), local_addr=(host, port)
    )
    return transport
