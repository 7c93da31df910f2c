#!/usr/bin/env python3
"""Print N distinct free TCP ports on 127.0.0.1 (default 1), one per line.

They come from below the kernel's ephemeral range, so an outgoing connection (a function
calling the emulator, say) cannot take a port between the moment it is picked here and the
moment its server binds it; asking the kernel for port 0 could hand out exactly such a port.
"""
import random
import socket
import sys


def ephemeral_start():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count=1, taken=()):
    low, high = 20000, min(ephemeral_start(), 32768) - 1
    chosen = []
    while len(chosen) < count:
        port = random.randint(low, high)
        if port in chosen or port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
    return chosen


if __name__ == "__main__":
    print("\n".join(map(str, free_ports(int(sys.argv[1]) if len(sys.argv) > 1 else 1))))
