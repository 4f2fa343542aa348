#!/usr/bin/env python3
"""Record VRRP packets off a lab link and replay them byte for byte (a replay attacker, docs/director.md).

  vrrp-record-replay.py record IFACE SOURCE COUNT FILE TIMEOUT_S   captures COUNT IPv4 protocol-112
      packets from SOURCE seen on IFACE (whole IP packets, as sent) into FILE; exits 1 if fewer came
      within TIMEOUT_S.
  vrrp-record-replay.py replay IFACE FILE INTERVAL_MS                sends each recorded IP packet
      again on IFACE to the VRRP group's MAC, INTERVAL_MS apart.

Only for the namespaces scripts/vrrp-interop creates: the capture and the replay stay on the lab's
bridge. AF_PACKET/SOCK_DGRAM: the kernel adds or strips the Ethernet header, the IP packet is untouched.
"""
import socket, struct, sys, time

ETH_P_IP = 0x0800
GROUP_MAC = bytes.fromhex("01005e000012")  # 224.0.0.18


def record(iface, source, count, path, timeout):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    s.bind((iface, ETH_P_IP))
    s.settimeout(0.5)
    want = socket.inet_aton(source)
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        try:
            pkt = s.recv(2048)
        except socket.timeout:
            continue
        if len(pkt) >= 20 and pkt[9] == 112 and pkt[12:16] == want:
            got.append(pkt)
    with open(path, "wb") as f:
        for p in got:
            f.write(struct.pack("!H", len(p)) + p)
    print(f"recorded {len(got)} packets from {source} on {iface}")
    return 0 if len(got) == count else 1


def replay(iface, path, interval_ms):
    data = open(path, "rb").read()
    pkts, i = [], 0
    while i + 2 <= len(data):
        (n,) = struct.unpack("!H", data[i:i + 2])
        pkts.append(data[i + 2:i + 2 + n])
        i += 2 + n
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    for k, p in enumerate(pkts):
        s.sendto(p, (iface, ETH_P_IP, 0, 0, GROUP_MAC))
        if k + 1 < len(pkts):
            time.sleep(interval_ms / 1000)
    print(f"replayed {len(pkts)} packets on {iface}")
    return 0 if pkts else 1


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 6 and a[0] == "record":
        sys.exit(record(a[1], a[2], int(a[3]), a[4], float(a[5])))
    if len(a) == 4 and a[0] == "replay":
        sys.exit(replay(a[1], a[2], int(a[3])))
    sys.exit(__doc__)
