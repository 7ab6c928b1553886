// Software GSO and checksums: segments checked field by field and verified with an independent checksum
// walk, plus known-good vectors.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "tapcore/checksum.h"
#include "tapcore/frame.h"
#include "tapcore/gso.h"

using namespace tapd;

namespace {

std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t get32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// Independent RFC 1071 verification: the sum over a region that includes its checksum is 0xffff.
std::uint32_t slow_sum(const std::vector<std::uint8_t>& words) {
    std::uint32_t s = 0;
    for (std::size_t i = 0; i < words.size(); i += 2) {
        std::uint32_t w = words[i] << 8;
        if (i + 1 < words.size()) w |= words[i + 1];
        s += w;
        s = (s & 0xffff) + (s >> 16);
    }
    return s;
}

bool l4_checksum_ok(const std::uint8_t* f, std::size_t len, bool v6, std::size_t l3, std::size_t l4, std::uint8_t proto) {
    std::vector<std::uint8_t> b;
    std::size_t l4len = len - l4;
    if (v6) {
        b.insert(b.end(), f + l3 + 8, f + l3 + 40);
        b.push_back(static_cast<std::uint8_t>(l4len >> 24));
        b.push_back(static_cast<std::uint8_t>(l4len >> 16));
        b.push_back(static_cast<std::uint8_t>(l4len >> 8));
        b.push_back(static_cast<std::uint8_t>(l4len));
        b.insert(b.end(), {0, 0, 0, proto});
    } else {
        b.insert(b.end(), f + l3 + 12, f + l3 + 20);
        b.insert(b.end(), {0, proto});
        b.push_back(static_cast<std::uint8_t>(l4len >> 8));
        b.push_back(static_cast<std::uint8_t>(l4len));
    }
    b.insert(b.end(), f + l4, f + len);
    return slow_sum(b) == 0xffff;
}

bool ipv4_checksum_ok(const std::uint8_t* ip) {
    std::vector<std::uint8_t> b(ip, ip + (ip[0] & 0xf) * 4);
    return slow_sum(b) == 0xffff;
}

std::vector<std::uint8_t> eth(std::uint16_t type) {
    std::vector<std::uint8_t> f = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
    f.push_back(static_cast<std::uint8_t>(type >> 8));
    f.push_back(static_cast<std::uint8_t>(type));
    return f;
}

// An IPv4/TCP super-frame as the kernel hands it over: total length of the whole, partial checksum.
std::vector<std::uint8_t> tcp4_superframe(std::size_t payload, std::uint8_t tcp_flags) {
    auto f = eth(0x0800);
    std::size_t tot = 20 + 20 + payload;
    std::uint8_t ip[20] = {0x45, 0, static_cast<std::uint8_t>(tot >> 8), static_cast<std::uint8_t>(tot), 0x12, 0x34,
                           0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
    f.insert(f.end(), ip, ip + 20);
    std::uint8_t tcp[20] = {0x30, 0x39, 0x00, 0x50, 0x00, 0x00, 0x10, 0x00, 0, 0, 0, 1,
                            0x50, tcp_flags, 0xff, 0xff, 0, 0, 0, 0};
    f.insert(f.end(), tcp, tcp + 20);
    for (std::size_t i = 0; i < payload; ++i) f.push_back(static_cast<std::uint8_t>(i * 7 + 3));
    return f;
}

struct collected {
    std::vector<std::vector<std::uint8_t>> segs;
    std::vector<vnet_hdr> hdrs;
};

void collect(void* c, const vnet_hdr& h, std::uint8_t* seg, std::size_t len) {
    auto* x = static_cast<collected*>(c);
    x->segs.emplace_back(seg, seg + len);
    x->hdrs.push_back(h);
}

}  // namespace

TEST_CASE("checksum: known-good IPv4 header (RFC 1071 worked example)", "[checksum]") {
    std::uint8_t ip[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                           0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    CHECK(csum_fold(csum_partial(ip, 20, 0)) == 0xb861);
}

TEST_CASE("checksum: odd length pads with a zero byte", "[checksum]") {
    std::uint8_t a[3] = {0x01, 0x02, 0x03};
    CHECK(csum_partial(a, 3, 0) == 0x0102 + 0x0300);
}

TEST_CASE("csum_complete fills a partial checksum like skb_checksum_help", "[checksum]") {
    // UDP/IPv4 with the pseudo-header sum in the checksum field, as CHECKSUM_PARTIAL leaves it.
    auto f = eth(0x0800);
    std::uint8_t ip[20] = {0x45, 0, 0, 20 + 8 + 5, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
    f.insert(f.end(), ip, ip + 20);
    std::uint8_t udp[8] = {0x04, 0xd2, 0x16, 0x2e, 0, 13, 0, 0};
    f.insert(f.end(), udp, udp + 8);
    for (char c : std::string("hello")) f.push_back(static_cast<std::uint8_t>(c));
    // pseudo header sum: src + dst + proto + udp length, not inverted
    std::uint32_t ps = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 17 + 13;
    f[34 + 6] = static_cast<std::uint8_t>(ps >> 8);
    f[34 + 7] = static_cast<std::uint8_t>(ps);
    REQUIRE(csum_complete(f.data(), f.size(), 34, 6) == 0);
    CHECK(l4_checksum_ok(f.data(), f.size(), false, 14, 34, 17));
    CHECK(csum_complete(f.data(), f.size(), 34, 100) == -EINVAL);
    CHECK(csum_complete(f.data(), f.size(), f.size() + 1, 0) == -EINVAL);
}

TEST_CASE("gso: TCPv4 super-frame becomes MSS segments with correct headers", "[gso]") {
    auto f = tcp4_superframe(3000, 0x18 /* PSH|ACK */ | 0x01 /* FIN */ | 0x80 /* CWR */);
    vnet_hdr h;
    h.flags = vnet_f_needs_csum;
    h.gso_type = vnet_gso_tcpv4 | vnet_gso_ecn;
    h.gso_size = 1000;
    h.hdr_len = 54;
    h.csum_start = 34;
    h.csum_offset = 16;
    std::vector<std::uint8_t> out(frame_headroom + max_gso_frame);
    collected c;
    long n = gso_segment(h, f.data(), f.size(), out.data() + frame_headroom, false, collect, &c);
    REQUIRE(n == 3);
    REQUIRE(c.segs.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        const auto& s = c.segs[i];
        INFO("segment " << i);
        CHECK(s.size() == 14 + 40 + 1000);
        CHECK(get16(&s[16]) == 1040);                       // IPv4 total length
        CHECK(get16(&s[18]) == 0x1234 + i);                 // IPv4 id per segment
        CHECK(ipv4_checksum_ok(&s[14]));
        CHECK(get32(&s[34 + 4]) == 0x00001000u + 1000 * i);  // TCP sequence
        std::uint8_t fl = s[34 + 13];
        CHECK(bool(fl & 0x80) == (i == 0));                  // CWR on the first only
        CHECK(bool(fl & 0x01) == (i == 2));                  // FIN on the last only
        CHECK(bool(fl & 0x08) == (i == 2));                  // PSH on the last only
        CHECK(bool(fl & 0x10));                              // ACK on all
        CHECK(l4_checksum_ok(s.data(), s.size(), false, 14, 34, 6));
        CHECK(std::memcmp(&s[54], &f[54 + 1000 * i], 1000) == 0);  // payload in order
    }
}

TEST_CASE("gso: last segment carries the remainder", "[gso]") {
    auto f = tcp4_superframe(2500, 0x10);
    vnet_hdr h;
    h.gso_type = vnet_gso_tcpv4;
    h.gso_size = 1448;
    std::vector<std::uint8_t> out(frame_headroom + max_gso_frame);
    collected c;
    REQUIRE(gso_segment(h, f.data(), f.size(), out.data() + frame_headroom, false, collect, &c) == 2);
    CHECK(c.segs[0].size() == 54 + 1448);
    CHECK(c.segs[1].size() == 54 + 1052);
    CHECK(l4_checksum_ok(c.segs[1].data(), c.segs[1].size(), false, 14, 34, 6));
}

TEST_CASE("gso: TCPv6 behind a VLAN tag", "[gso]") {
    std::vector<std::uint8_t> f = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x81, 0x00, 0x00, 0x05, 0x86, 0xdd};
    std::size_t payload = 4000;
    std::uint8_t ip6[40] = {0x60, 0, 0, 0, static_cast<std::uint8_t>((20 + payload) >> 8),
                            static_cast<std::uint8_t>(20 + payload), 6, 64};
    ip6[8] = 0xfd; ip6[23] = 1; ip6[24] = 0xfd; ip6[39] = 2;
    f.insert(f.end(), ip6, ip6 + 40);
    std::uint8_t tcp[20] = {0x30, 0x39, 0x00, 0x50, 0xff, 0xff, 0xff, 0x00, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff};
    f.insert(f.end(), tcp, tcp + 20);
    for (std::size_t i = 0; i < payload; ++i) f.push_back(static_cast<std::uint8_t>(i));
    vnet_hdr h;
    h.flags = vnet_f_needs_csum;
    h.gso_type = vnet_gso_tcpv6;
    h.gso_size = 1440;
    h.csum_start = 18 + 40;
    h.csum_offset = 16;
    std::vector<std::uint8_t> out(frame_headroom + max_gso_frame);
    collected c;
    REQUIRE(gso_segment(h, f.data(), f.size(), out.data() + frame_headroom, false, collect, &c) == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        const auto& s = c.segs[i];
        std::size_t chunk = i < 2 ? 1440 : 4000 - 2880;
        CHECK(s.size() == 18 + 60 + chunk);
        CHECK(get16(&s[18 + 4]) == 20 + chunk);  // IPv6 payload length
        CHECK(get32(&s[58 + 4]) == static_cast<std::uint32_t>(0xffffff00u + 1440 * i));  // sequence wraps
        CHECK(l4_checksum_ok(s.data(), s.size(), true, 18, 58, 6));
    }
}

TEST_CASE("gso: UDP_L4 segments each get a UDP length and checksum", "[gso]") {
    auto f = eth(0x0800);
    std::size_t payload = 2000;
    std::size_t tot = 28 + payload;
    std::uint8_t ip[20] = {0x45, 0, static_cast<std::uint8_t>(tot >> 8), static_cast<std::uint8_t>(tot), 0, 9, 0, 0,
                           64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
    f.insert(f.end(), ip, ip + 20);
    std::uint8_t udp[8] = {0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 0};
    f.insert(f.end(), udp, udp + 8);
    for (std::size_t i = 0; i < payload; ++i) f.push_back(static_cast<std::uint8_t>(i * 3));
    vnet_hdr h;
    h.gso_type = vnet_gso_udp_l4;
    h.gso_size = 800;
    std::vector<std::uint8_t> out(frame_headroom + max_gso_frame);
    collected c;
    REQUIRE(gso_segment(h, f.data(), f.size(), out.data() + frame_headroom, false, collect, &c) == 3);
    for (const auto& s : c.segs) {
        CHECK(get16(&s[34 + 4]) == s.size() - 34);
        CHECK(l4_checksum_ok(s.data(), s.size(), false, 14, 34, 17));
        CHECK(ipv4_checksum_ok(&s[14]));
    }
}

TEST_CASE("gso: inconsistent headers are refused without emitting anything", "[gso]") {
    auto f = tcp4_superframe(3000, 0x10);
    std::vector<std::uint8_t> out(frame_headroom + max_gso_frame);
    collected c;
    vnet_hdr h;
    h.gso_type = vnet_gso_tcpv6;  // says v6, frame is v4
    h.gso_size = 1000;
    CHECK(gso_segment(h, f.data(), f.size(), out.data() + frame_headroom, false, collect, &c) == -EINVAL);
    h.gso_type = vnet_gso_tcpv4;
    h.gso_size = 0;
    CHECK(gso_segment(h, f.data(), f.size(), out.data() + frame_headroom, false, collect, &c) == -EINVAL);
    h.gso_size = 1000;
    h.flags = vnet_f_needs_csum;
    h.csum_start = 30;  // not where the TCP header is
    CHECK(gso_segment(h, f.data(), f.size(), out.data() + frame_headroom, false, collect, &c) == -EINVAL);
    h.flags = 0;
    CHECK(gso_segment(h, f.data(), 40, out.data() + frame_headroom, false, collect, &c) == -EINVAL);  // truncated
    h.gso_type = vnet_gso_udp;  // UFO: never produced towards readers
    CHECK(gso_segment(h, f.data(), f.size(), out.data() + frame_headroom, false, collect, &c) == -EINVAL);
    CHECK(c.segs.empty());
}

TEST_CASE("gso: a reader with checksum offload gets segments with partial checksums", "[gso]") {
    auto f = tcp4_superframe(3000, 0x10);
    vnet_hdr h;
    h.flags = vnet_f_needs_csum;
    h.gso_type = vnet_gso_tcpv4;
    h.gso_size = 1000;
    h.csum_start = 34;
    h.csum_offset = 16;
    std::vector<std::uint8_t> out(frame_headroom + max_gso_frame);
    collected c;
    REQUIRE(gso_segment(h, f.data(), f.size(), out.data() + frame_headroom, true, collect, &c) == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        INFO("segment " << i);
        CHECK(c.hdrs[i].flags == vnet_f_needs_csum);
        CHECK(c.hdrs[i].gso_type == vnet_gso_none);
        CHECK(c.hdrs[i].csum_start == 34);
        CHECK(c.hdrs[i].csum_offset == 16);
        // Completing the partial checksum gives a valid segment.
        auto seg = c.segs[i];
        REQUIRE(csum_complete(seg.data(), seg.size(), 34, 16) == 0);
        CHECK(l4_checksum_ok(seg.data(), seg.size(), false, 14, 34, 6));
        CHECK(std::memcmp(&seg[54], &f[54 + 1000 * i], 1000) == 0);
    }
}

TEST_CASE("gso: payload length, and making a checksum partial", "[gso]") {
    auto f = tcp4_superframe(3000, 0x10);
    vnet_hdr h;
    h.gso_type = vnet_gso_tcpv4;
    h.gso_size = 1000;
    CHECK(gso_payload_len(h, f.data(), f.size()) == 3000);
    h.gso_type = vnet_gso_tcpv6;
    CHECK(gso_payload_len(h, f.data(), f.size()) == -EINVAL);
    h.gso_type = vnet_gso_tcpv4;
    REQUIRE(gso_make_partial(h, f.data(), f.size()) == 0);
    CHECK(h.flags == vnet_f_needs_csum);
    CHECK(h.csum_start == 34);
    CHECK(h.csum_offset == 16);
    REQUIRE(csum_complete(f.data(), f.size(), 34, 16) == 0);
    CHECK(l4_checksum_ok(f.data(), f.size(), false, 14, 34, 6));
}
