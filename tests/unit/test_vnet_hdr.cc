// test_vnet_hdr.cc — the virtio_net_hdr codec and the transmit-side checks of tap_get_user /
// virtio_net_hdr_to_skb (seed 000: drivers/net/tap.c).
#include <catch2/catch.hpp>

#include <array>
#include <cerrno>
#include <cstdint>

#include "tapcore/vnet_hdr.h"

using namespace tapd;

namespace {

using bytes10 = std::array<std::uint8_t, vnet_hdr_len>;

vnet_hdr sample() {
    vnet_hdr h;
    h.flags = vnet_f_needs_csum;
    h.gso_type = vnet_gso_tcpv4;
    h.hdr_len = 0x0102;
    h.gso_size = 0x0304;
    h.csum_start = 0x0506;
    h.csum_offset = 0x0708;
    return h;
}

bool same(const vnet_hdr& a, const vnet_hdr& b) {
    return a.flags == b.flags && a.gso_type == b.gso_type && a.hdr_len == b.hdr_len && a.gso_size == b.gso_size &&
           a.csum_start == b.csum_start && a.csum_offset == b.csum_offset;
}

vnet_hdr csum_hdr(std::uint16_t start, std::uint16_t offset, std::uint16_t hdr_len = 0) {
    vnet_hdr h;
    h.flags = vnet_f_needs_csum;
    h.csum_start = start;
    h.csum_offset = offset;
    h.hdr_len = hdr_len;
    return h;
}

vnet_hdr gso_hdr(std::uint8_t type, std::uint16_t gso_size, std::uint16_t hdr_len = 54) {
    vnet_hdr h;
    h.gso_type = type;
    h.gso_size = gso_size;
    h.hdr_len = hdr_len;
    return h;
}

}  // namespace

TEST_CASE("vnet_hdr defaults are an all-zero, non-GSO header", "[vnet_hdr]") {
    vnet_hdr h;
    CHECK(h.flags == 0);
    CHECK(h.gso_type == vnet_gso_none);
    CHECK(h.hdr_len == 0);
    CHECK(h.gso_size == 0);
    CHECK(h.csum_start == 0);
    CHECK(h.csum_offset == 0);
    CHECK_FALSE(h.is_gso());
    CHECK(vnet_hdr_len == 10);
}

TEST_CASE("vnet_hdr constants match linux/virtio_net.h", "[vnet_hdr]") {
    CHECK(vnet_f_needs_csum == 1);
    CHECK(vnet_f_data_valid == 2);
    CHECK(vnet_gso_tcpv4 == 1);
    CHECK(vnet_gso_udp == 3);
    CHECK(vnet_gso_tcpv6 == 4);
    CHECK(vnet_gso_udp_l4 == 5);
    CHECK(vnet_gso_ecn == 0x80);
}

TEST_CASE("vnet_hdr_encode writes little-endian fields", "[vnet_hdr]") {
    bytes10 b{};
    b.fill(0xee);
    vnet_hdr_encode(sample(), true, b.data());
    const bytes10 want{0x01, 0x01, 0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x08, 0x07};
    CHECK(b == want);
}

TEST_CASE("vnet_hdr_encode writes big-endian fields", "[vnet_hdr]") {
    bytes10 b{};
    b.fill(0xee);
    vnet_hdr_encode(sample(), false, b.data());
    const bytes10 want{0x01, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    CHECK(b == want);
}

TEST_CASE("vnet_hdr_encode writes exactly ten bytes", "[vnet_hdr]") {
    std::array<std::uint8_t, 16> b{};
    b.fill(0xa5);
    vnet_hdr_encode(sample(), true, b.data() + 2);
    CHECK(b[0] == 0xa5);
    CHECK(b[1] == 0xa5);
    for (std::size_t i = 12; i < b.size(); ++i) CHECK(b[i] == 0xa5);
}

TEST_CASE("vnet_hdr_decode reads known byte patterns", "[vnet_hdr]") {
    const bytes10 raw{0x01, 0x81, 0x36, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00};
    SECTION("little endian") {
        vnet_hdr h = vnet_hdr_decode(raw.data(), true);
        CHECK(h.flags == 0x01);
        CHECK(h.gso_type == 0x81);
        CHECK(h.hdr_len == 0x0036);
        CHECK(h.gso_size == 0x05a8);  // 1448
        CHECK(h.csum_start == 0x0022);
        CHECK(h.csum_offset == 0x0010);
        CHECK(h.is_gso());
    }
    SECTION("big endian") {
        vnet_hdr h = vnet_hdr_decode(raw.data(), false);
        CHECK(h.flags == 0x01);
        CHECK(h.gso_type == 0x81);
        CHECK(h.hdr_len == 0x3600);
        CHECK(h.gso_size == 0xa805);
        CHECK(h.csum_start == 0x2200);
        CHECK(h.csum_offset == 0x1000);
    }
}

TEST_CASE("vnet_hdr round-trips in both byte orders", "[vnet_hdr]") {
    const bool le = GENERATE(true, false);
    // Values whose two bytes differ, so a byte-order slip cannot cancel out.
    vnet_hdr h;
    h.flags = static_cast<std::uint8_t>(GENERATE(as<unsigned>{}, 0u, vnet_f_needs_csum, vnet_f_data_valid, 0xffu));
    // as<>: with an lvalue first argument Catch2 v2 would store references (dangling for temporaries).
    h.gso_type = static_cast<std::uint8_t>(GENERATE(as<unsigned>{}, vnet_gso_none, vnet_gso_tcpv6, vnet_gso_tcpv4 | vnet_gso_ecn));
    h.hdr_len = 0xfe01;
    h.gso_size = 0x1234;
    h.csum_start = 0xabcd;
    h.csum_offset = 0x00ff;
    bytes10 b{};
    vnet_hdr_encode(h, le, b.data());
    CHECK(same(vnet_hdr_decode(b.data(), le), h));
    // Decoding in the other order swaps every 16-bit field.
    vnet_hdr x = vnet_hdr_decode(b.data(), !le);
    CHECK(x.flags == h.flags);
    CHECK(x.gso_type == h.gso_type);
    CHECK(x.hdr_len == 0x01fe);
    CHECK(x.gso_size == 0x3412);
    CHECK(x.csum_start == 0xcdab);
    CHECK(x.csum_offset == 0xff00);
}

TEST_CASE("vnet_hdr decode then encode reproduces arbitrary bytes", "[vnet_hdr]") {
    const bool le = GENERATE(true, false);
    bytes10 raw{};
    std::uint32_t x = 0x12345678;
    for (int round = 0; round < 200; ++round) {
        for (auto& c : raw) {
            x = x * 1103515245u + 12345u;
            c = static_cast<std::uint8_t>(x >> 16);
        }
        bytes10 back{};
        vnet_hdr_encode(vnet_hdr_decode(raw.data(), le), le, back.data());
        REQUIRE(back == raw);
    }
}

TEST_CASE("is_gso ignores the ECN bit alone", "[vnet_hdr]") {
    vnet_hdr h;
    h.gso_type = vnet_gso_ecn;
    CHECK_FALSE(h.is_gso());
    h.gso_type = vnet_gso_udp;
    CHECK(h.is_gso());
    h.gso_type = vnet_gso_tcpv4 | vnet_gso_ecn;
    CHECK(h.is_gso());
}

// ---- vnet_hdr_check_tx: tap_get_user + virtio_net_hdr_to_skb ----

TEST_CASE("check_tx accepts a plain header and leaves it unchanged", "[vnet_hdr][check_tx]") {
    vnet_hdr h;
    CHECK(vnet_hdr_check_tx(h, 60) == 0);
    CHECK(same(h, vnet_hdr{}));
    vnet_hdr dv;
    dv.flags = vnet_f_data_valid;
    CHECK(vnet_hdr_check_tx(dv, 60) == 0);
    CHECK(dv.hdr_len == 0);
}

TEST_CASE("check_tx NEEDS_CSUM raises hdr_len to cover the checksum field", "[vnet_hdr][check_tx]") {
    // TCP over IPv4: csum_start 34 (14 + 20), csum_offset 16 → field ends at 52.
    vnet_hdr h = csum_hdr(34, 16, 0);
    REQUIRE(vnet_hdr_check_tx(h, 60) == 0);
    CHECK(h.hdr_len == 52);
    CHECK(h.csum_start == 34);
    CHECK(h.csum_offset == 16);

    // UDP: offset 6 → 42.
    vnet_hdr u = csum_hdr(34, 6, 14);
    REQUIRE(vnet_hdr_check_tx(u, 60) == 0);
    CHECK(u.hdr_len == 42);
}

TEST_CASE("check_tx NEEDS_CSUM keeps a hdr_len that already covers the field", "[vnet_hdr][check_tx]") {
    vnet_hdr h = csum_hdr(34, 16, 54);
    REQUIRE(vnet_hdr_check_tx(h, 60) == 0);
    CHECK(h.hdr_len == 54);
    vnet_hdr exact = csum_hdr(34, 16, 52);
    REQUIRE(vnet_hdr_check_tx(exact, 60) == 0);
    CHECK(exact.hdr_len == 52);
}

TEST_CASE("check_tx without NEEDS_CSUM ignores csum_start/offset", "[vnet_hdr][check_tx]") {
    vnet_hdr h;
    h.csum_start = 1000;
    h.csum_offset = 1000;
    REQUIRE(vnet_hdr_check_tx(h, 60) == 0);
    CHECK(h.hdr_len == 0);
}

TEST_CASE("check_tx: checksum field at the very end of the frame is fine, one past is not", "[vnet_hdr][check_tx]") {
    vnet_hdr ok = csum_hdr(34, 16);  // field ends at 52
    CHECK(vnet_hdr_check_tx(ok, 52) == 0);
    CHECK(ok.hdr_len == 52);
    vnet_hdr bad = csum_hdr(34, 16);
    CHECK(vnet_hdr_check_tx(bad, 51) == -EINVAL);
}

TEST_CASE("check_tx: checksum field outside the frame → EINVAL", "[vnet_hdr][check_tx]") {
    vnet_hdr a = csum_hdr(100, 16);
    CHECK(vnet_hdr_check_tx(a, 60) == -EINVAL);
    vnet_hdr b = csum_hdr(0xffff, 0xffff);  // 17-bit sum must not wrap into a small hdr_len that passes
    CHECK(vnet_hdr_check_tx(b, 60) == -EINVAL);
    vnet_hdr c = csum_hdr(0xfff0, 0x000f);  // 0x10001
    CHECK(vnet_hdr_check_tx(c, 1500) == -EINVAL);
    // Even for the largest GSO frame, where a hdr_len clamped to 0xffff would fit: the field itself does not.
    vnet_hdr d = csum_hdr(0xffff, 0xffff);
    CHECK(vnet_hdr_check_tx(d, 65535 + 18) == -EINVAL);
    vnet_hdr e = csum_hdr(0xfff0, 0x0010);  // field ends at 0x10002 = 65538 ≤ 65553: inside, accepted
    CHECK(vnet_hdr_check_tx(e, 65535 + 18) == 0);
    CHECK(e.hdr_len == 0xffff);  // clamped: the 16-bit field cannot say 65538
}

TEST_CASE("check_tx: hdr_len larger than the frame → EINVAL", "[vnet_hdr][check_tx]") {
    vnet_hdr h;
    h.hdr_len = 61;
    CHECK(vnet_hdr_check_tx(h, 60) == -EINVAL);
    h.hdr_len = 60;
    CHECK(vnet_hdr_check_tx(h, 60) == 0);
    vnet_hdr g = gso_hdr(vnet_gso_tcpv4, 1448, 2000);
    CHECK(vnet_hdr_check_tx(g, 1514) == -EINVAL);
}

TEST_CASE("check_tx accepts each known GSO type with a segment size", "[vnet_hdr][check_tx]") {
    const auto type = static_cast<std::uint8_t>(GENERATE(as<unsigned>{}, vnet_gso_tcpv4, vnet_gso_tcpv6, vnet_gso_udp, vnet_gso_udp_l4));
    CAPTURE(int{type});
    vnet_hdr h = gso_hdr(type, 1448);
    CHECK(vnet_hdr_check_tx(h, 9000) == 0);
    CHECK(h.hdr_len == 54);
    CHECK(h.is_gso());
}

TEST_CASE("check_tx: GSO with gso_size 0 → EINVAL", "[vnet_hdr][check_tx]") {
    const auto type = static_cast<std::uint8_t>(GENERATE(as<unsigned>{}, vnet_gso_tcpv4, vnet_gso_tcpv6, vnet_gso_udp,
                                                         vnet_gso_udp_l4, vnet_gso_tcpv4 | vnet_gso_ecn));
    CAPTURE(int{type});
    vnet_hdr h = gso_hdr(type, 0);
    CHECK(vnet_hdr_check_tx(h, 9000) == -EINVAL);
}

TEST_CASE("check_tx: unknown GSO types → EINVAL", "[vnet_hdr][check_tx]") {
    const auto type = static_cast<std::uint8_t>(GENERATE(as<unsigned>{}, 2u, 6u, 0x7fu, 0x40u, 0x82u, 0xffu));
    CAPTURE(int{type});
    vnet_hdr h = gso_hdr(type, 1448);
    CHECK(vnet_hdr_check_tx(h, 9000) == -EINVAL);
}

TEST_CASE("check_tx: ECN with TCP is fine, with UDP or alone → EINVAL", "[vnet_hdr][check_tx]") {
    vnet_hdr t4 = gso_hdr(vnet_gso_tcpv4 | vnet_gso_ecn, 1448);
    CHECK(vnet_hdr_check_tx(t4, 9000) == 0);
    vnet_hdr t6 = gso_hdr(vnet_gso_tcpv6 | vnet_gso_ecn, 1428);
    CHECK(vnet_hdr_check_tx(t6, 9000) == 0);
    vnet_hdr u = gso_hdr(vnet_gso_udp | vnet_gso_ecn, 1448);
    CHECK(vnet_hdr_check_tx(u, 9000) == -EINVAL);
    vnet_hdr u4 = gso_hdr(vnet_gso_udp_l4 | vnet_gso_ecn, 1448);
    CHECK(vnet_hdr_check_tx(u4, 9000) == -EINVAL);
    vnet_hdr alone = gso_hdr(vnet_gso_ecn, 1448);
    CHECK(vnet_hdr_check_tx(alone, 9000) == -EINVAL);
}

TEST_CASE("check_tx: GSO combined with NEEDS_CSUM fixes hdr_len and validates", "[vnet_hdr][check_tx]") {
    vnet_hdr h = gso_hdr(vnet_gso_tcpv4, 1448, 0);
    h.flags = vnet_f_needs_csum;
    h.csum_start = 34;
    h.csum_offset = 16;
    REQUIRE(vnet_hdr_check_tx(h, 65000) == 0);
    CHECK(h.hdr_len == 52);
    h.gso_size = 0;
    CHECK(vnet_hdr_check_tx(h, 65000) == -EINVAL);
}

TEST_CASE("check_tx: gso_type none with gso_size set is not GSO and passes", "[vnet_hdr][check_tx]") {
    // virtio_net_hdr_to_skb looks at gso_size only for GSO frames.
    vnet_hdr h;
    h.gso_size = 1448;
    CHECK(vnet_hdr_check_tx(h, 60) == 0);
}
