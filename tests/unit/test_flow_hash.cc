// test_flow_hash.cc — receive steering: one flow → one hash, flows spread, junk → 0.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "tapcore/flow_hash.h"

using namespace tapd;

namespace {

using frame = std::vector<std::uint8_t>;

void put16(frame& f, std::size_t at, unsigned v) {
    f[at] = static_cast<std::uint8_t>(v >> 8);
    f[at + 1] = static_cast<std::uint8_t>(v);
}

frame eth(unsigned type) {
    frame f(14, 0);
    for (int i = 0; i < 6; ++i) f[i] = static_cast<std::uint8_t>(0x02 + i);       // dst MAC
    for (int i = 0; i < 6; ++i) f[6 + i] = static_cast<std::uint8_t>(0x52 + i);   // src MAC
    put16(f, 12, type);
    return f;
}

struct v4flow {
    std::array<std::uint8_t, 4> src{10, 0, 0, 1};
    std::array<std::uint8_t, 4> dst{10, 0, 0, 2};
    std::uint8_t proto = 6;
    unsigned sport = 40000;
    unsigned dport = 80;
    unsigned ihl = 5;
    unsigned frag = 0;  // flags+offset field, host order (0x2000 = MF, 0x4000 = DF)
    std::uint8_t ttl = 64;
    unsigned id = 0x1234;
    std::size_t payload = 20;  // bytes of L4 after the IP header
};

// An IPv4 frame; `vlans` 802.1Q/802.1ad tags (outermost first) are inserted after the MACs.
frame ipv4(const v4flow& fl, const std::vector<std::pair<unsigned, unsigned>>& vlans = {}) {
    frame f = eth(vlans.empty() ? 0x0800 : vlans[0].first);
    for (std::size_t i = 0; i < vlans.size(); ++i) {
        std::size_t at = f.size();
        f.resize(at + 4);
        put16(f, at, vlans[i].second);  // TCI
        put16(f, at + 2, i + 1 < vlans.size() ? vlans[i + 1].first : 0x0800);
    }
    std::size_t ip = f.size();
    std::size_t hlen = fl.ihl * 4;
    f.resize(ip + hlen + fl.payload, 0);
    f[ip] = static_cast<std::uint8_t>(0x40 | fl.ihl);
    put16(f, ip + 2, static_cast<unsigned>(hlen + fl.payload));
    put16(f, ip + 4, fl.id);
    put16(f, ip + 6, fl.frag);
    f[ip + 8] = fl.ttl;
    f[ip + 9] = fl.proto;
    for (int i = 0; i < 4; ++i) {
        f[ip + 12 + i] = fl.src[i];
        f[ip + 16 + i] = fl.dst[i];
    }
    std::size_t l4 = ip + hlen;
    if (fl.payload >= 4) {
        put16(f, l4, fl.sport);
        put16(f, l4 + 2, fl.dport);
    }
    for (std::size_t i = l4 + 4; i < f.size(); ++i) f[i] = static_cast<std::uint8_t>(i);
    return f;
}

struct v6flow {
    std::array<std::uint8_t, 16> src{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::array<std::uint8_t, 16> dst{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::uint8_t next = 6;
    unsigned sport = 40000;
    unsigned dport = 443;
    unsigned flow_label = 0;
    std::uint8_t hop_limit = 64;
    std::size_t payload = 20;
};

frame ipv6(const v6flow& fl) {
    frame f = eth(0x86dd);
    std::size_t ip = f.size();
    f.resize(ip + 40 + fl.payload, 0);
    f[ip] = static_cast<std::uint8_t>(0x60 | ((fl.flow_label >> 16) & 0x0f));
    f[ip + 1] = static_cast<std::uint8_t>(fl.flow_label >> 8);
    f[ip + 2] = static_cast<std::uint8_t>(fl.flow_label);
    put16(f, ip + 4, static_cast<unsigned>(fl.payload));
    f[ip + 6] = fl.next;
    f[ip + 7] = fl.hop_limit;
    for (int i = 0; i < 16; ++i) {
        f[ip + 8 + i] = fl.src[i];
        f[ip + 24 + i] = fl.dst[i];
    }
    if (fl.payload >= 4) {
        put16(f, ip + 40, fl.sport);
        put16(f, ip + 42, fl.dport);
    }
    return f;
}

std::uint32_t hash(const frame& f) { return flow_hash(f.data(), f.size()); }
std::uint32_t hash(const frame& f, std::size_t len) { return flow_hash(f.data(), len); }

}  // namespace

TEST_CASE("flow_hash: one flow, one hash", "[flow_hash]") {
    v4flow fl;
    std::uint32_t h = hash(ipv4(fl));
    CHECK(h != 0);
    CHECK(hash(ipv4(fl)) == h);
    // Fields that vary within a flow do not move it.
    v4flow other = fl;
    other.ttl = 3;
    other.id = 0xbeef;
    other.payload = 1400;
    CHECK(hash(ipv4(other)) == h);
    // Nor do the MAC addresses.
    frame f = ipv4(fl);
    f[0] ^= 0xff;
    f[11] ^= 0xff;
    CHECK(hash(f) == h);
    // Nor the payload after the ports.
    frame g = ipv4(fl);
    for (std::size_t i = 14 + 20 + 4; i < g.size(); ++i) g[i] = 0xab;
    CHECK(hash(g) == h);
}

TEST_CASE("flow_hash: ports, addresses and protocol each change the hash", "[flow_hash]") {
    v4flow fl;
    const std::uint32_t h = hash(ipv4(fl));
    v4flow a = fl;
    a.sport = 40001;
    CHECK(hash(ipv4(a)) != h);
    v4flow b = fl;
    b.dport = 81;
    CHECK(hash(ipv4(b)) != h);
    v4flow c = fl;
    c.src[3] = 3;
    CHECK(hash(ipv4(c)) != h);
    v4flow d = fl;
    d.dst[0] = 192;
    CHECK(hash(ipv4(d)) != h);
    v4flow e = fl;
    e.proto = 17;  // same ports over UDP
    CHECK(hash(ipv4(e)) != h);
    CHECK(hash(ipv4(e)) != 0);
}

TEST_CASE("flow_hash: ports count for TCP, UDP, SCTP and UDP-Lite only", "[flow_hash]") {
    for (std::uint8_t proto : {6, 17, 132, 136}) {
        CAPTURE(int{proto});
        v4flow a;
        a.proto = proto;
        v4flow b = a;
        b.sport = 1234;
        CHECK(hash(ipv4(a)) != hash(ipv4(b)));
    }
    for (std::uint8_t proto : {1, 47, 50, 58}) {  // ICMP, GRE, ESP, and ICMPv6 number
        CAPTURE(int{proto});
        v4flow a;
        a.proto = proto;
        v4flow b = a;
        b.sport = 1234;
        b.dport = 9;
        CHECK(hash(ipv4(a)) == hash(ipv4(b)));
        CHECK(hash(ipv4(a)) != 0);
    }
}

TEST_CASE("flow_hash: IPv4 options move the port offset", "[flow_hash]") {
    v4flow fl;
    fl.ihl = 6;
    v4flow same_ports = fl;
    same_ports.ihl = 5;
    // The flow tuple is equal, so the hash is equal wherever the ports sit.
    CHECK(hash(ipv4(fl)) == hash(ipv4(same_ports)));
    v4flow other = fl;
    other.dport = 22;
    CHECK(hash(ipv4(fl)) != hash(ipv4(other)));
    // ihl below 5 is not IPv4.
    frame bad = ipv4(fl);
    bad[14] = 0x44;
    CHECK(hash(bad) == 0);
}

TEST_CASE("flow_hash: distinct flows get distinct, evenly spread hashes", "[flow_hash]") {
    std::mt19937 rng(12345);
    std::uniform_int_distribution<unsigned> byte(0, 255), port(1, 65535);
    std::set<std::uint32_t> seen;
    std::array<int, 2> b2{};
    std::array<int, 4> b4{};
    const int n = 1000;
    for (int i = 0; i < n; ++i) {
        v4flow fl;
        for (auto& x : fl.src) x = static_cast<std::uint8_t>(byte(rng));
        for (auto& x : fl.dst) x = static_cast<std::uint8_t>(byte(rng));
        fl.sport = port(rng);
        fl.dport = port(rng);
        fl.proto = (i & 1) ? 6 : 17;
        std::uint32_t h = hash(ipv4(fl));
        REQUIRE(h != 0);
        seen.insert(h);
        ++b2[h % 2];  // device::pick_queue indexes enabled queues with h % n
        ++b4[h % 4];
    }
    CHECK(seen.size() >= n - 1);
    for (int c : b2) CHECK((c > 430 && c < 570));  // 500 ± ~4.4σ
    for (int c : b4) CHECK((c > 190 && c < 310));  // 250 ± ~4.4σ
}

TEST_CASE("flow_hash: flows differing only in source port spread over queues", "[flow_hash]") {
    // The common case: many connections between the same two hosts.
    std::array<int, 4> b4{};
    std::set<std::uint32_t> seen;
    for (unsigned p = 32768; p < 32768 + 1000; ++p) {
        v4flow fl;
        fl.sport = p;
        std::uint32_t h = hash(ipv4(fl));
        seen.insert(h);
        ++b4[h % 4];
    }
    CHECK(seen.size() == 1000);
    for (int c : b4) CHECK((c > 190 && c < 310));
}

TEST_CASE("flow_hash: non-IP frames → 0", "[flow_hash]") {
    frame arp = eth(0x0806);
    arp.resize(42, 0x11);
    CHECK(hash(arp) == 0);
    frame lldp = eth(0x88cc);
    lldp.resize(60, 0);
    CHECK(hash(lldp) == 0);
    frame ieee8023 = eth(0x0040);  // a length field, not an EtherType
    ieee8023.resize(64, 0);
    CHECK(hash(ieee8023) == 0);
}

TEST_CASE("flow_hash: truncated frames → 0", "[flow_hash]") {
    CHECK(flow_hash(nullptr, 0) == 0);
    v4flow fl;
    frame f = ipv4(fl);
    // Anything shorter than Ethernet + a 20-byte IPv4 header.
    for (std::size_t len = 0; len < 14 + 20; ++len) {
        CAPTURE(len);
        CHECK(hash(f, len) == 0);
    }
    CHECK(hash(f, 14 + 20) != 0);
    // IPv4 header longer than the frame (ihl 15 = 60 bytes).
    frame g = ipv4(fl);
    g[14] = 0x4f;
    g.resize(14 + 40);
    CHECK(hash(g) == 0);
    // IPv6 shorter than its fixed header.
    frame v6 = ipv6(v6flow{});
    for (std::size_t len = 14; len < 14 + 40; ++len) {
        CAPTURE(len);
        CHECK(hash(v6, len) == 0);
    }
    CHECK(hash(v6, 14 + 40) != 0);
}

TEST_CASE("flow_hash: a frame cut before its ports hashes addresses and protocol only", "[flow_hash]") {
    v4flow fl;
    frame f = ipv4(fl);
    const std::uint32_t no_ports = hash(f, 14 + 20);
    CHECK(no_ports != 0);
    CHECK(hash(f, 14 + 20 + 3) == no_ports);
    CHECK(hash(f, 14 + 20 + 4) == hash(f));
    CHECK(hash(f) != no_ports);
}

TEST_CASE("flow_hash: VLAN-tagged frames hash like their inner flow", "[flow_hash]") {
    v4flow fl;
    const std::uint32_t plain = hash(ipv4(fl));
    CHECK(hash(ipv4(fl, {{0x8100, 100}})) == plain);
    CHECK(hash(ipv4(fl, {{0x8100, 200}})) == plain);          // the VLAN ID is not part of the flow
    CHECK(hash(ipv4(fl, {{0x88a8, 10}, {0x8100, 20}})) == plain);  // QinQ
    CHECK(hash(ipv4(fl, {{0x8100, 10}, {0x8100, 20}})) == plain);  // double 802.1Q
    // The inner flow still matters behind the tag.
    v4flow other = fl;
    other.dport = 8080;
    CHECK(hash(ipv4(other, {{0x8100, 100}})) != plain);
    // At most two tags are skipped: a third leaves a VLAN EtherType, which is not IP.
    CHECK(hash(ipv4(fl, {{0x88a8, 1}, {0x8100, 2}, {0x8100, 3}})) == 0);
    // A tag cut short.
    frame t = ipv4(fl, {{0x8100, 100}});
    CHECK(hash(t, 16) == 0);
    CHECK(hash(t, 17) == 0);
    CHECK(hash(t, 18 + 19) == 0);
    CHECK(hash(t, 18 + 20) != 0);
    // A VLAN-tagged non-IP frame.
    frame arp = eth(0x8100);
    arp.resize(18 + 28, 0);
    put16(arp, 16, 0x0806);
    CHECK(hash(arp) == 0);
}

TEST_CASE("flow_hash: IPv6 flows", "[flow_hash]") {
    v6flow fl;
    const std::uint32_t h = hash(ipv6(fl));
    CHECK(h != 0);
    CHECK(hash(ipv6(fl)) == h);
    v6flow hop = fl;
    hop.hop_limit = 1;
    hop.payload = 1000;
    CHECK(hash(ipv6(hop)) == h);
    v6flow label = fl;
    label.flow_label = 0xabcde;  // not part of the hash: ports decide
    CHECK(hash(ipv6(label)) == h);
    v6flow a = fl;
    a.sport = 1;
    CHECK(hash(ipv6(a)) != h);
    v6flow b = fl;
    b.dport = 1;
    CHECK(hash(ipv6(b)) != h);
    v6flow c = fl;
    c.src[7] = 9;  // a byte in the middle of the address
    CHECK(hash(ipv6(c)) != h);
    v6flow d = fl;
    d.dst[15] = 9;
    CHECK(hash(ipv6(d)) != h);
    v6flow u = fl;
    u.next = 17;
    CHECK(hash(ipv6(u)) != h);
    // Cut before the ports: addresses + next header only.
    frame f = ipv6(fl);
    CHECK(hash(f, 14 + 40 + 3) == hash(f, 14 + 40));
    CHECK(hash(f, 14 + 40 + 3) != h);
}

TEST_CASE("flow_hash: IPv6 with an extension header ignores the bytes after it", "[flow_hash]") {
    v6flow fl;
    fl.next = 44;  // fragment header: no ports at the L4 offset
    v6flow other = fl;
    other.sport = 7;
    other.dport = 7;
    CHECK(hash(ipv6(fl)) == hash(ipv6(other)));
    CHECK(hash(ipv6(fl)) != 0);
}

TEST_CASE("flow_hash: IPv6 spread", "[flow_hash]") {
    std::mt19937 rng(777);
    std::uniform_int_distribution<unsigned> byte(0, 255), port(1, 65535);
    std::array<int, 4> b4{};
    std::set<std::uint32_t> seen;
    for (int i = 0; i < 1000; ++i) {
        v6flow fl;
        for (auto& x : fl.src) x = static_cast<std::uint8_t>(byte(rng));
        fl.sport = port(rng);
        std::uint32_t h = hash(ipv6(fl));
        seen.insert(h);
        ++b4[h % 4];
    }
    CHECK(seen.size() >= 999);
    for (int c : b4) CHECK((c > 190 && c < 310));
}

TEST_CASE("flow_hash: IPv4 fragments of one datagram stay together", "[flow_hash]") {
    v4flow first;
    first.frag = 0x2000;  // MF, offset 0: carries the ports
    v4flow middle = first;
    middle.frag = 0x2000 | 185;  // MF, offset 1480
    middle.sport = 0x4142;       // payload bytes where ports would be
    middle.dport = 0x4344;
    v4flow last = first;
    last.frag = 370;  // offset 2960, no MF
    last.sport = 0x1111;
    last.dport = 0x2222;
    const std::uint32_t h = hash(ipv4(first));
    CHECK(h != 0);
    CHECK(hash(ipv4(middle)) == h);
    CHECK(hash(ipv4(last)) == h);
    // A fragment hashes as addresses + protocol, like a frame cut before its ports.
    v4flow whole;
    frame w = ipv4(whole);
    CHECK(h == hash(w, 14 + 20));
    // Offsets using the top bits of the 13-bit field count as fragments too.
    v4flow high = first;
    high.frag = 0x1f00;
    CHECK(hash(ipv4(high)) == h);
}

TEST_CASE("flow_hash: DF is not a fragment", "[flow_hash]") {
    v4flow df;
    df.frag = 0x4000;
    v4flow plain;
    CHECK(hash(ipv4(df)) == hash(ipv4(plain)));
    v4flow df2 = df;
    df2.sport = 5;
    CHECK(hash(ipv4(df2)) != hash(ipv4(df)));
}
