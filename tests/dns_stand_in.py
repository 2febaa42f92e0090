"""The world's DNS outside our nameservers, for tests of proof of control: the check never asks
our PowerDNS (it answers for every zone we host), so a test's "public resolver" is this."""
from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class UdpDns:
    """A DNS server on a free UDP port of 127.0.0.1: subclasses fill each reply in `answer`."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            self.answer(query.question[0], reply)
            self.sock.sendto(reply.to_wire(), peer)

    def answer(self, question, reply):
        raise NotImplementedError

    def close(self):
        self.sock.close()


class PublicDns(UdpDns):
    """Answers TXT from `txt` and NS (elsewhere) for any name: the world outside our nameservers."""

    def __init__(self):
        self.txt: dict[str, str] = {}
        super().__init__()

    def answer(self, q, reply):
        name = q.name.to_text().rstrip(".")
        if q.rdtype == dns.rdatatype.TXT and name in self.txt:
            reply.answer.append(dns.rrset.from_text(q.name, 60, "IN", "TXT", f'"{self.txt[name]}"'))
        elif q.rdtype == dns.rdatatype.NS:
            reply.answer.append(dns.rrset.from_text(q.name, 60, "IN", "NS", "ns1.elsewhere.example."))
        else:
            reply.set_rcode(dns.rcode.NXDOMAIN)
