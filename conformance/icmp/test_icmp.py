"""icmp_input(), icmp_reflect(), icmp_error() and badport_bandlim() for
packets addressed to this host (dossier 4.3-4.6, 8.1, 8.2)."""

from __future__ import annotations

from kstack.testing import (
    BCAST_MAC,
    BOOT_IP_ID,
    HOST,
    ICMP,
    IP,
    PEER,
    SUBNET_BCAST,
    UDP,
    Raw,
    echo_request,
    eth,
    ip_bytes,
    reply_eth,
    udp_to,
)

DATA = b"kstack-echo-data"
ECHO_DELTA = {
    "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
    "icmp": {"icps_inhist[8]": 1, "icps_reflect": 1, "icps_outhist[0]": 1},
}
UNREACH_DELTA = {
    "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
    "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
    "udp": {"udps_ipackets": 1, "udps_noport": 1},
}


def _reply(src: str = HOST, ip_id: int = BOOT_IP_ID, ttl: int = 64, **ip: object):
    return (
        reply_eth()
        / IP(src=src, dst=PEER, id=ip_id, ttl=ttl, **ip)
        / ICMP(type=0, id=0x1234, seq=1)
        / Raw(DATA)
    )


def test_echo_reply_bytes(k, delta, match_frame):
    """icmp_input/icmp_reflect: echo reply from the destination address, TTL
    net.inet.ip.ttl, ID from the per-vnet counter, ICMP checksum
    recomputed; every byte checked."""
    with delta(k) as d:
        out = k.input("em0", echo_request(ttl=7))
    assert d == ECHO_DELTA
    assert out.kind == "answered"
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply())


def test_echo_reply_ttl_follows_sysctl(k, match_frame):
    """icmp_reflect: TTL = the current net.inet.ip.ttl (dossier 8.2)."""
    assert k.sysctl("net.inet.ip.ttl", 32) == 64
    k.input("em0", echo_request())
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(ttl=32))


def test_echo_reply_keeps_tos_and_mirrors_df(k, match_frame):
    """icmp_reflect: an echo reply keeps the request's TOS and ip_off (DF)."""
    k.input("em0", echo_request(tos=0x10, flags="DF"))
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(tos=0x10, flags="DF"))


def test_ip_id_sequence(k, match_frame):
    """ip_output/ip_newid: random_id=0 -> one counter per vnet, starting at
    time_second & 0xffff, one value per locally generated packet (G8.1)."""
    for i in range(3):
        k.input("em0", echo_request())
        (reply,) = k.transmitted("em0")
        match_frame(reply, _reply(ip_id=BOOT_IP_ID + i))


def test_echo_to_broadcast_bmcastecho_on(k, delta, match_frame):
    """icmp_input with net.inet.icmp.bmcastecho=1: a broadcast echo is
    answered; icmp_reflect uses the receiving interface's address whose
    broadcast address was the destination, and the reply is unicast."""
    k.sysctl("net.inet.icmp.bmcastecho", 1)
    with delta(k) as d:
        k.input("em0", echo_request(dst=SUBNET_BCAST, eth_dst=BCAST_MAC))
    assert d == ECHO_DELTA
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply())


def test_echo_to_multicast_reply_source_from_route(k, delta, match_frame):
    """icmp_reflect: destination neither local nor a broadcast address ->
    source is the address of the interface on the route back."""
    k.sysctl("net.inet.icmp.bmcastecho", 1)
    with delta(k) as d:
        k.input("em0", echo_request(dst="224.0.0.1", eth_dst="01:00:5e:00:00:01"))
    assert d == ECHO_DELTA
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply())


def test_echo_reply_no_route_back(k, delta):
    """icmp_reflect: no route back to the source -> icps_noroute, nothing sent."""
    k.sysctl("net.inet.icmp.bmcastecho", 1)
    with delta(k) as d:
        k.input(
            "em0", echo_request(src="203.0.113.5", dst="224.0.0.1", eth_dst="01:00:5e:00:00:01")
        )
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "icmp": {"icps_inhist[8]": 1, "icps_reflect": 1, "icps_outhist[0]": 1, "icps_noroute": 1},
    }
    assert k.transmitted("em0") == []


def test_echo_from_zeronet_source(k, delta):
    """icmp_reflect: source in 0/8 -> icps_badaddr, nothing sent."""
    with delta(k) as d:
        k.input("em0", echo_request(src="0.0.0.0"))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "icmp": {"icps_inhist[8]": 1, "icps_reflect": 1, "icps_outhist[0]": 1, "icps_badaddr": 1},
    }
    assert k.transmitted("em0") == []


def test_echo_to_broadcast_bmcastecho_off(k, delta):
    """icmp_input with bmcastecho=0 (default): icps_bmcastecho, no reply; the
    request is handed to raw sockets, none listen -> ips_noproto (errata 4)."""
    with delta(k) as d:
        out = k.input("em0", echo_request(dst=SUBNET_BCAST, eth_dst=BCAST_MAC))
    assert d == {
        "ip": {"ips_total": 1, "ips_noproto": 1},
        "icmp": {"icps_inhist[8]": 1, "icps_bmcastecho": 1},
    }
    assert out.reason == "ips_noproto"
    assert k.transmitted("em0") == []


def test_echo_bad_icmp_checksum(k, delta):
    """icmp_input: bad ICMP checksum -> icps_checksum, not given to raw."""
    frame = bytes(eth() / IP(src=PEER, dst=HOST) / ICMP(type=8, chksum=0x1234) / Raw(DATA))
    with delta(k) as d:
        k.input("em0", frame)
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}, "icmp": {"icps_checksum": 1}}


def test_icmp_too_short(k, delta):
    """icmp_input: ICMP length < ICMP_MINLEN -> icps_tooshort."""
    frame = bytes(eth() / IP(src=PEER, dst=HOST, proto=1) / Raw(b"\x08\x00\xf7\xff"))
    with delta(k) as d:
        k.input("em0", frame)
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}, "icmp": {"icps_tooshort": 1}}


def test_timestamp_reply(k, delta, match_frame):
    """icmp_input: timestamp request -> reply with receive = transmit time
    = milliseconds since UTC midnight (the virtual clock boots at midnight)."""
    k.advance(1.5)
    req = eth() / IP(src=PEER, dst=HOST) / ICMP(type=13, id=5, seq=6, ts_ori=1000, ts_rx=0, ts_tx=0)
    with delta(k) as d:
        k.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
        "icmp": {"icps_inhist[13]": 1, "icps_reflect": 1, "icps_outhist[14]": 1},
    }
    (reply,) = k.transmitted("em0")
    want = (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID)
        / ICMP(type=14, id=5, seq=6, ts_ori=1000, ts_rx=1500, ts_tx=1500)
    )
    match_frame(reply, want)


def test_udp_closed_port_unreach_bytes(k, delta, match_frame):
    """udp_input -> icmp_error(UNREACH, PORT): a 56-byte packet; the quote is
    the original header (network order, original checksum) + 8 bytes (G4.9)."""
    req = udp_to(9, id=0x4242)
    with delta(k) as d:
        out = k.input("em0", req)
    assert d == UNREACH_DELTA
    assert out.reason == "udps_noport"
    (err,) = k.transmitted("em0")
    assert len(err) - 14 == 56
    want = (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1)
        / ICMP(type=3, code=3)
        / Raw(ip_bytes(req)[:28])
    )
    match_frame(err, want)


def test_udp_closed_port_unreach_copies_df(k, match_frame):
    """icmp_error (9.0): ip_off of the offending packet is copied into the
    error header, so DF stays set (reset only from 9.3, r264222 era)."""
    req = udp_to(9, flags="DF")
    k.input("em0", req)
    (err,) = k.transmitted("em0")
    want = (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1, flags="DF")
        / ICMP(type=3, code=3)
        / Raw(ip_bytes(req)[:28])
    )
    match_frame(err, want)


def test_udp_closed_port_unreach_df_cleared_in_93(match_frame):
    """icmp_error (profile 9.3): the outer ip_off is cleared."""
    from kstack.testing import host

    k = host("9.3")
    req = udp_to(9, flags="DF")
    k.input("em0", req)
    (err,) = k.transmitted("em0")
    want = (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1)
        / ICMP(type=3, code=3)
        / Raw(ip_bytes(req)[:28])
    )
    match_frame(err, want)


def test_udp_blackhole(k, delta):
    """udp_input: net.inet.udp.blackhole=1 -> no port unreachable."""
    k.sysctl("net.inet.udp.blackhole", 1)
    with delta(k) as d:
        k.input("em0", udp_to(9))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_noport": 1},
    }
    assert k.transmitted("em0") == []


def test_udp_broadcast_closed_port_no_icmp(k, delta):
    """udp_input: closed port on a broadcast -> udps_noportbcast, no ICMP."""
    with delta(k) as d:
        k.input("em0", udp_to(9, dst=SUBNET_BCAST, eth_dst=BCAST_MAC))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_noportbcast": 1},
    }
    assert k.transmitted("em0") == []


def test_icmplim_199_per_second(k, delta):
    """badport_bandlim/ppsratecheck: icmplim 200 allows 199 port
    unreachables per one-second window (G4.5); the next window allows more."""
    with delta(k) as d:
        for i in range(250):
            k.input("em0", udp_to(9, sport=1000 + i))
    assert d == {
        "ip": {"ips_total": 250, "ips_delivered": 250, "ips_localout": 199},
        "icmp": {"icps_error": 199, "icps_outhist[3]": 199},
        "udp": {"udps_ipackets": 250, "udps_noport": 250},
    }
    assert len(k.transmitted("em0")) == 199
    k.advance(1)
    with delta(k) as d:
        k.input("em0", udp_to(9))
    assert d == UNREACH_DELTA
    assert len(k.transmitted("em0")) == 1


def test_udp_bad_checksum(k, delta):
    """udp_input: bad UDP checksum -> udps_badsum, no ICMP."""
    frame = bytes(
        eth() / IP(src=PEER, dst=HOST) / UDP(sport=1, dport=9, chksum=0x1234) / Raw(b"abcd")
    )
    with delta(k) as d:
        k.input("em0", frame)
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_badsum": 1},
    }
    assert k.transmitted("em0") == []


def test_short_timestamp_request_goes_to_raw(k, delta):
    """icmp_input: a timestamp request shorter than ICMP_TSLEN counts
    icps_badlen and then leaves the switch with "break", so it is still
    handed to rip_input (ips_noproto, ips_delivered net 0); no reply."""
    from kstack.netinet.ip import in_cksum

    body = bytearray(b"\x0d\x00\x00\x00\x00\x01\x00\x01" + b"\x00" * 4)  # 12 < 20 bytes
    body[2:4] = in_cksum(body).to_bytes(2, "big")
    req = eth() / IP(src=PEER, dst=HOST, proto=1) / Raw(bytes(body))
    with delta(k) as d:
        out = k.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_noproto": 1},
        "icmp": {"icps_inhist[13]": 1, "icps_badlen": 1},
    }
    assert out.reason == "ips_noproto"
    assert k.transmitted("em0") == []


def test_redirect_installs_host_route(k, delta):
    """icmp_input/in_rtredirect: a host redirect from the current first hop
    installs a dynamic host route; the message then goes to raw."""
    k.route_add("default", "192.0.2.254")
    inner = IP(src=HOST, dst="203.0.113.9") / UDP(sport=1, dport=2)
    req = eth() / IP(src="192.0.2.254", dst=HOST) / ICMP(type=5, code=1, gw="192.0.2.253") / inner
    with delta(k) as d:
        k.input("em0", req)
    assert d == {"ip": {"ips_total": 1, "ips_noproto": 1}, "icmp": {"icps_inhist[5]": 1}}
    rt = k.route_get("203.0.113.9")
    assert rt is not None and rt.gateway == "192.0.2.253"


def test_redirect_too_short_for_inner_header(k, delta):
    """icmp_input: a redirect shorter than ICMP_ADVLEN (8 + inner header
    with options + 8) -> icps_badlen, no route change, still given to raw."""
    k.route_add("default", "192.0.2.254")
    inner = bytearray(bytes(IP(src=HOST, dst="203.0.113.9", proto=17) / Raw(b"\x00" * 8)))
    inner[0] = 0x46  # claims a 24-byte header: ICMP_ADVLEN = 40 > 36
    req = (
        eth()
        / IP(src="192.0.2.254", dst=HOST)
        / ICMP(type=5, code=1, gw="192.0.2.253")
        / Raw(bytes(inner))
    )
    with delta(k) as d:
        k.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_noproto": 1},
        "icmp": {"icps_inhist[5]": 1, "icps_badlen": 1},
    }
    assert k.route_get("203.0.113.9").gateway == "192.0.2.254"


def test_mask_reply_uses_receiving_interface(k, delta, match_frame):
    """icmp_input (ICMP_MASKREQ, net.inet.icmp.maskrepl=1): the mask comes
    from ifaof_ifpforaddr(dst, rcvif): the receiving interface's address
    whose subnet holds the destination, else its first address -- not the
    mask of another interface's address."""
    k.sysctl("net.inet.icmp.maskrepl", 1)
    k.ifconfig("em1", "198.51.100.1/26")
    req = eth() / IP(src=PEER, dst="198.51.100.1") / ICMP(type=17, id=3, seq=4, addr_mask="0.0.0.0")
    with delta(k) as d:
        k.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
        "icmp": {"icps_inhist[17]": 1, "icps_reflect": 1, "icps_outhist[18]": 1},
    }
    (reply,) = k.transmitted("em0")
    want = (
        reply_eth()
        / IP(src="198.51.100.1", dst=PEER, id=BOOT_IP_ID)
        / ICMP(type=18, id=3, seq=4, addr_mask="255.255.255.0")
    )
    match_frame(reply, want)


def test_mask_request_ignored_by_default(k, delta):
    """icmp_input: maskrepl=0 (default) -> the request only goes to raw."""
    req = eth() / IP(src=PEER, dst=HOST) / ICMP(type=17, id=3, seq=4, addr_mask="0.0.0.0")
    with delta(k) as d:
        k.input("em0", req)
    assert d == {"ip": {"ips_total": 1, "ips_noproto": 1}, "icmp": {"icps_inhist[17]": 1}}
    assert k.transmitted("em0") == []


def test_reply_src_names_interface(k, delta, match_frame):
    """icmp_reflect: destination neither local nor broadcast (multicast echo)
    and net.inet.icmp.reply_src=em1 -> em1's first address is the source."""
    k.sysctl("net.inet.icmp.bmcastecho", 1)
    k.sysctl("net.inet.icmp.reply_src", "em1")
    k.input("em0", echo_request(dst="224.0.0.1", eth_dst="01:00:5e:00:00:01"))
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(src="198.51.100.1"))


def test_reply_from_interface(k, delta, match_frame):
    """icmp_reflect: net.inet.icmp.reply_from_interface=1 -> the receiving
    interface's first address, before reply_src is considered."""
    k.sysctl("net.inet.icmp.bmcastecho", 1)
    k.sysctl("net.inet.icmp.reply_src", "em1")
    k.sysctl("net.inet.icmp.reply_from_interface", 1)
    k.input("em0", echo_request(dst="224.0.0.1", eth_dst="01:00:5e:00:00:01"))
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(src=HOST))


def test_echo_rate_limited(k, delta):
    """badport_bandlim(BANDLIM_ICMP_ECHO): 199 echo replies per window; the
    rest are dropped silently (counted in icps_inhist only)."""
    with delta(k) as d:
        for _ in range(201):
            k.input("em0", echo_request())
    assert d == {
        "ip": {"ips_total": 201, "ips_delivered": 201, "ips_localout": 199},
        "icmp": {"icps_inhist[8]": 201, "icps_reflect": 199, "icps_outhist[0]": 199},
    }
    assert len(k.transmitted("em0")) == 199


def test_udp_unreach_quotes_option_stripped_header(k, delta, match_frame):
    """udp_input (ip_stripoptions) -> icmp_error: the quoted header is the
    option-stripped one: ip_hl 5, ip_len = total - options, the stale
    checksum of the received header (dossier 4.3.3)."""
    req = udp_to(9, options=b"\x01\x01\x01\x00")
    raw = ip_bytes(req)
    assert len(raw) == 36
    with delta(k) as d:
        k.input("em0", req)
    assert d == UNREACH_DELTA
    (err,) = k.transmitted("em0")
    quote = bytearray(raw[:20]) + raw[24:32]
    quote[0] = 0x45
    quote[2:4] = (32).to_bytes(2, "big")
    want = (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1)
        / ICMP(type=3, code=3)
        / Raw(bytes(quote))
    )
    match_frame(err, want)


def test_echo_reply_drops_nop_options(k, match_frame):
    """icmp_reflect: only RR, TS and security options are copied into the
    reply; a request with NOPs only is answered with a plain 20-byte header."""
    k.input("em0", echo_request(options=b"\x01\x01\x01\x00"))
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply())
