#!/usr/bin/env python3
"""lab-clock.py ADDR: how far ADDR's clock is from ours, by ICMP timestamp (RFC 792 types 13/14).

Prints "SKEW_MS RTT_MS" (SKEW = their clock - ours, from the probe with the smallest round trip
of five), or "none" if nothing answered within 1 s per probe. Needs CAP_NET_RAW. Used by
scripts/lab-e2e to put the user-mode-linux director's timestamps on this machine's clock.
"""
import socket
import struct
import sys
import time

DAY_MS = 86_400_000


def checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF


def main() -> int:
    dst = sys.argv[1]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(1.0)
    ident = 0x4C41
    best = None
    for seq in range(5):
        ms = int((time.time() % 86400) * 1000)
        raw = struct.pack("!BBHHHIII", 13, 0, 0, ident, seq, ms, 0, 0)
        pkt = struct.pack("!BBHHHIII", 13, 0, checksum(raw), ident, seq, ms, 0, 0)
        t1 = time.time()
        s.sendto(pkt, (dst, 0))
        try:
            while True:
                data, _ = s.recvfrom(512)
                t2 = time.time()
                ihl = (data[0] & 15) * 4
                typ, _, _, rid, rseq, _, recv, _ = struct.unpack("!BBHHHIII", data[ihl:ihl + 20])
                if typ == 14 and rid == ident and rseq == seq:
                    break
        except socket.timeout:
            continue
        mid = ((t1 + t2) / 2 % 86400) * 1000
        skew = recv - mid
        if skew > DAY_MS / 2:
            skew -= DAY_MS
        elif skew < -DAY_MS / 2:
            skew += DAY_MS
        rtt = (t2 - t1) * 1000
        if best is None or rtt < best[0]:
            best = (rtt, skew)
        time.sleep(0.02)
    print("none" if best is None else "%d %.1f" % (round(best[1]), best[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
