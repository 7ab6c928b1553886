// test_queue.cc — frame_ring (bounded per-open ring) and format_for_reader (tap_put_user/tap_do_read).
#include <catch2/catch.hpp>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tapcore/queue.h"

using namespace tapd;

namespace {

std::vector<std::uint8_t> pattern(std::size_t len, std::uint8_t seed) {
    std::vector<std::uint8_t> v(len);
    for (std::size_t i = 0; i < len; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 8));
    return v;
}

vnet_hdr hdr_with(std::uint16_t tag) {
    vnet_hdr h;
    h.flags = vnet_f_data_valid;
    h.gso_type = vnet_gso_tcpv6;
    h.hdr_len = tag;
    h.gso_size = static_cast<std::uint16_t>(tag + 1);
    h.csum_start = static_cast<std::uint16_t>(tag + 2);
    h.csum_offset = static_cast<std::uint16_t>(tag + 3);
    return h;
}

bool slot_holds(frame_slot& s, const std::vector<std::uint8_t>& want) {
    return s.len == want.size() && std::memcmp(s.data(), want.data(), want.size()) == 0;
}

// A frame stored with headroom in front, as the device's receive buffer and ring slots are.
struct headroom_buf {
    std::vector<std::uint8_t> storage;
    std::size_t len;
    explicit headroom_buf(const std::vector<std::uint8_t>& f) : storage(frame_headroom + f.size() + 16, 0xcc), len(f.size()) {
        std::memcpy(frame(), f.data(), f.size());
    }
    std::uint8_t* frame() { return storage.data() + frame_headroom; }
};

queue_settings no_vnet() {
    queue_settings s;
    s.flags = iff_tap | iff_no_pi;
    return s;
}

}  // namespace

// ---- frame_ring ----

TEST_CASE("frame_ring starts empty with its capacity", "[queue][ring]") {
    frame_ring r(4);
    CHECK(r.capacity() == 4);
    CHECK(r.size() == 0);
    CHECK(r.empty());
    CHECK_FALSE(r.full());
}

TEST_CASE("frame_ring capacity 0 is treated as 1", "[queue][ring]") {
    frame_ring r(0);
    CHECK(r.capacity() == 1);
    auto f = pattern(60, 1);
    CHECK(r.push(vnet_hdr{}, f.data(), f.size()));
    CHECK(r.full());
    CHECK_FALSE(r.push(vnet_hdr{}, f.data(), f.size()));
}

TEST_CASE("frame_ring push/pop is FIFO and keeps data and header", "[queue][ring]") {
    frame_ring r(3);
    auto a = pattern(60, 1), b = pattern(1514, 2), c = pattern(64, 3);
    REQUIRE(r.push(hdr_with(10), a.data(), a.size()));
    REQUIRE(r.push(hdr_with(20), b.data(), b.size()));
    REQUIRE(r.push(hdr_with(30), c.data(), c.size()));
    CHECK(r.size() == 3);
    CHECK(r.full());

    CHECK(slot_holds(r.front(), a));
    CHECK(r.front().hdr.hdr_len == 10);
    CHECK(r.front().hdr.gso_size == 11);
    CHECK(r.front().hdr.csum_start == 12);
    CHECK(r.front().hdr.csum_offset == 13);
    CHECK(r.front().hdr.gso_type == vnet_gso_tcpv6);
    CHECK(r.front().hdr.flags == vnet_f_data_valid);
    r.pop();
    CHECK(r.size() == 2);
    CHECK_FALSE(r.full());
    CHECK(slot_holds(r.front(), b));
    CHECK(r.front().hdr.hdr_len == 20);
    r.pop();
    CHECK(slot_holds(r.front(), c));
    CHECK(r.front().hdr.hdr_len == 30);
    r.pop();
    CHECK(r.empty());
}

TEST_CASE("frame_ring refuses a frame when full and stores nothing", "[queue][ring]") {
    frame_ring r(2);
    auto a = pattern(60, 1), b = pattern(60, 2), c = pattern(60, 3);
    REQUIRE(r.push(vnet_hdr{}, a.data(), a.size()));
    REQUIRE(r.push(vnet_hdr{}, b.data(), b.size()));
    CHECK_FALSE(r.push(vnet_hdr{}, c.data(), c.size()));
    CHECK(r.size() == 2);
    CHECK(slot_holds(r.front(), a));
    r.pop();
    CHECK(slot_holds(r.front(), b));
}

TEST_CASE("frame_ring pop on empty is a no-op", "[queue][ring]") {
    frame_ring r(2);
    r.pop();
    CHECK(r.empty());
    CHECK(r.size() == 0);
    auto a = pattern(60, 9);
    REQUIRE(r.push(vnet_hdr{}, a.data(), a.size()));
    CHECK(slot_holds(r.front(), a));
}

TEST_CASE("frame_ring wraps around many times without losing order", "[queue][ring]") {
    frame_ring r(3);
    unsigned next_in = 0, next_out = 0;
    // Interleave pushes and pops so head moves through every slot repeatedly.
    for (int round = 0; round < 100; ++round) {
        int pushes = 1 + round % 3;
        for (int i = 0; i < pushes && !r.full(); ++i) {
            auto f = pattern(60 + next_in, static_cast<std::uint8_t>(next_in));
            REQUIRE(r.push(hdr_with(static_cast<std::uint16_t>(next_in)), f.data(), f.size()));
            ++next_in;
        }
        int pops = 1 + (round + 1) % 3;
        for (int i = 0; i < pops && !r.empty(); ++i) {
            auto want = pattern(60 + next_out, static_cast<std::uint8_t>(next_out));
            REQUIRE(slot_holds(r.front(), want));
            REQUIRE(r.front().hdr.hdr_len == next_out);
            r.pop();
            ++next_out;
        }
        REQUIRE(r.size() == next_in - next_out);
    }
    CHECK(next_out > 100);
}

TEST_CASE("frame_ring clear empties it and it refills from a clean state", "[queue][ring]") {
    frame_ring r(3);
    auto a = pattern(60, 1), b = pattern(70, 2);
    REQUIRE(r.push(vnet_hdr{}, a.data(), a.size()));
    REQUIRE(r.push(vnet_hdr{}, a.data(), a.size()));
    r.pop();  // head is now mid-ring
    r.clear();
    CHECK(r.empty());
    CHECK(r.size() == 0);
    CHECK(r.capacity() == 3);
    for (int i = 0; i < 3; ++i) REQUIRE(r.push(hdr_with(static_cast<std::uint16_t>(i)), b.data(), b.size()));
    CHECK(r.full());
    for (int i = 0; i < 3; ++i) {
        CHECK(slot_holds(r.front(), b));
        CHECK(r.front().hdr.hdr_len == i);
        r.pop();
    }
}

TEST_CASE("frame_ring slots start at 2048 bytes and grow for larger frames", "[queue][ring]") {
    frame_ring r(2);
    auto small = pattern(60, 1);
    REQUIRE(r.push(vnet_hdr{}, small.data(), small.size()));
    CHECK(r.front().cap == 2048);
    const std::uint8_t* first_buf = r.front().buf.get();
    r.pop();
    auto mtu = pattern(1514, 2);
    REQUIRE(r.push(vnet_hdr{}, mtu.data(), mtu.size()));  // second slot
    r.pop();
    // Back on slot 0: an MTU frame reuses the 2048-byte buffer.
    REQUIRE(r.push(vnet_hdr{}, mtu.data(), mtu.size()));
    CHECK(r.front().buf.get() == first_buf);
    CHECK(r.front().cap == 2048);
    CHECK(slot_holds(r.front(), mtu));
    r.pop();
    // A GSO-sized frame grows its slot to exactly its size.
    auto big = pattern(65000, 3);
    REQUIRE(r.push(vnet_hdr{}, big.data(), big.size()));
    CHECK(r.front().cap == 65000);
    CHECK(slot_holds(r.front(), big));
    r.pop();
    // A later small frame in the grown slot keeps the large buffer.
    REQUIRE(r.push(vnet_hdr{}, small.data(), small.size()));
    r.pop();
    REQUIRE(r.push(vnet_hdr{}, small.data(), small.size()));  // slot 1 again (grown)
    CHECK(r.front().cap == 65000);
    CHECK(slot_holds(r.front(), small));
}

TEST_CASE("frame_ring slots keep frame_headroom writable bytes before the frame", "[queue][ring]") {
    frame_ring r(1);
    auto f = pattern(100, 5);
    REQUIRE(r.push(vnet_hdr{}, f.data(), f.size()));
    frame_slot& s = r.front();
    CHECK(s.data() == s.buf.get() + frame_headroom);
    // Writing a full headroom's worth of header must not disturb the frame.
    std::memset(s.buf.get(), 0x77, frame_headroom);
    CHECK(slot_holds(s, f));
}

TEST_CASE("frame_ring: frames pushed do not alias the caller's buffer", "[queue][ring]") {
    frame_ring r(2);
    auto f = pattern(60, 1);
    const auto copy = f;
    REQUIRE(r.push(vnet_hdr{}, f.data(), f.size()));
    std::fill(f.begin(), f.end(), 0);
    CHECK(slot_holds(r.front(), copy));
}

// ---- queue_settings ----

TEST_CASE("queue_settings defaults are macvtap's", "[queue][settings]") {
    queue_settings s;
    CHECK(s.flags == (iff_tap | iff_no_pi | iff_vnet_hdr));
    CHECK(s.vnet_hdr_sz == 10);
    CHECK(s.has_vnet_hdr());
    CHECK(s.little_endian());  // legacy virtio on a little-endian host
    // macvtap_newlink starts every device with TUN_OFFLOADS: csum, TSO4, TSO6, TSO_ECN (no UFO).
    CHECK(s.offloads == (tun_f_csum | tun_f_tso4 | tun_f_tso6 | tun_f_tso_ecn));
}

TEST_CASE("queue_settings: headers are little endian whatever TUNSETVNETLE says", "[queue][settings]") {
    // No CONFIG_TUN_VNET_CROSS_LE: big-endian headers do not exist (TUNSETVNETBE is EINVAL).
    queue_settings s;
    CHECK(s.little_endian());
    s.vnet_le = true;
    CHECK(s.little_endian());
    s.vnet_le = false;
    CHECK(s.little_endian());
}

TEST_CASE("queue_settings: offload acceptance follows TUNSETOFFLOAD", "[queue][settings]") {
    CHECK(tun_f_csum == 0x01);
    CHECK(tun_f_tso4 == 0x02);
    CHECK(tun_f_tso6 == 0x04);
    CHECK(tun_f_tso_ecn == 0x08);
    CHECK(tun_f_ufo == 0x10);
    vnet_hdr t4;
    t4.gso_type = vnet_gso_tcpv4;
    vnet_hdr t6;
    t6.gso_type = vnet_gso_tcpv6;
    vnet_hdr ecn;
    ecn.gso_type = vnet_gso_tcpv4 | vnet_gso_ecn;
    vnet_hdr usO;
    usO.gso_type = vnet_gso_udp_l4;
    queue_settings s;
    // A vnet-header reader that never called TUNSETOFFLOAD takes TCP super-frames as they come.
    CHECK(s.accepts_csum());
    CHECK(s.accepts_gso(t4));
    CHECK(s.accepts_gso(t6));
    CHECK(s.accepts_gso(ecn));
    CHECK_FALSE(s.accepts_gso(usO));
    s.offloads = 0;  // TUNSETOFFLOAD 0
    CHECK_FALSE(s.accepts_csum());
    CHECK_FALSE(s.accepts_gso(t4));
    s.offloads = tun_f_tso4 | tun_f_tso6;  // TSO without CSUM: set_offload grants nothing
    CHECK_FALSE(s.accepts_csum());
    CHECK_FALSE(s.accepts_gso(t4));
    s.offloads = tun_f_csum;
    CHECK(s.accepts_csum());
    CHECK_FALSE(s.accepts_gso(t4));
    s.offloads = tun_f_csum | tun_f_tso4;
    CHECK(s.accepts_gso(t4));
    CHECK_FALSE(s.accepts_gso(t6));
    CHECK_FALSE(s.accepts_gso(ecn));
    s.offloads = tun_f_csum | tun_f_tso4 | tun_f_tso6 | tun_f_tso_ecn | tun_f_ufo;
    CHECK(s.accepts_gso(t4));
    CHECK(s.accepts_gso(t6));
    CHECK(s.accepts_gso(ecn));
    CHECK_FALSE(s.accepts_gso(usO));
    // Without a vnet header a reader cannot be told about offloads at all.
    s.flags = iff_tap | iff_no_pi;
    CHECK_FALSE(s.accepts_csum());
    CHECK_FALSE(s.accepts_gso(t4));
}

// ---- format_for_reader ----

TEST_CASE("format_for_reader: zero-length read returns 0", "[queue][format]") {
    auto f = pattern(60, 1);
    headroom_buf b(f);
    const std::uint8_t* out = nullptr;
    queue_settings s;
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 0, &out) == 0);
    CHECK(format_for_reader(no_vnet(), vnet_hdr{}, b.frame(), b.len, 0, &out) == 0);
    // Nothing was written into the headroom.
    for (std::size_t i = 0; i < frame_headroom; ++i) REQUIRE(b.storage[i] == 0xcc);
}

TEST_CASE("format_for_reader without vnet header sends the frame as is", "[queue][format]") {
    auto f = pattern(100, 1);
    headroom_buf b(f);
    const std::uint8_t* out = nullptr;
    SECTION("large read") {
        CHECK(format_for_reader(no_vnet(), hdr_with(5), b.frame(), b.len, 2048, &out) == 100);
        CHECK(out == b.frame());
    }
    SECTION("exact read") {
        CHECK(format_for_reader(no_vnet(), hdr_with(5), b.frame(), b.len, 100, &out) == 100);
        CHECK(out == b.frame());
    }
    SECTION("short read truncates") {
        CHECK(format_for_reader(no_vnet(), hdr_with(5), b.frame(), b.len, 33, &out) == 33);
        CHECK(out == b.frame());
    }
    SECTION("a one-byte read") {
        CHECK(format_for_reader(no_vnet(), hdr_with(5), b.frame(), b.len, 1, &out) == 1);
    }
    CHECK(std::memcmp(b.frame(), f.data(), f.size()) == 0);
    for (std::size_t i = 0; i < frame_headroom; ++i) REQUIRE(b.storage[i] == 0xcc);
}

TEST_CASE("format_for_reader writes a 10-byte header in front of the frame", "[queue][format]") {
    auto f = pattern(60, 1);
    headroom_buf b(f);
    vnet_hdr h;
    h.flags = vnet_f_needs_csum;
    h.gso_type = vnet_gso_tcpv4;
    h.hdr_len = 0x0036;
    h.gso_size = 0x05a8;
    h.csum_start = 0x0022;
    h.csum_offset = 0x0010;
    const std::uint8_t* out = nullptr;

    SECTION("little endian (default)") {
        queue_settings s;
        REQUIRE(format_for_reader(s, h, b.frame(), b.len, 2048, &out) == 70);
        REQUIRE(out == b.frame() - 10);
        const std::array<std::uint8_t, 10> want{0x01, 0x01, 0x36, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00};
        CHECK(std::memcmp(out, want.data(), 10) == 0);
    }
    SECTION("explicit little endian (TUNSETVNETLE)") {
        queue_settings s;
        s.vnet_le = true;
        REQUIRE(format_for_reader(s, h, b.frame(), b.len, 2048, &out) == 70);
        CHECK(out[2] == 0x36);
        CHECK(out[3] == 0x00);
    }
    SECTION("TUNSETVNETLE 0 is still little endian (no cross-endian support)") {
        queue_settings s;
        s.vnet_le = false;
        REQUIRE(format_for_reader(s, h, b.frame(), b.len, 2048, &out) == 70);
        CHECK(out[4] == 0xa8);
        CHECK(out[5] == 0x05);
    }
    // The frame follows untouched, and nothing before the header was written.
    CHECK(std::memcmp(b.frame(), f.data(), f.size()) == 0);
    for (std::size_t i = 0; i < frame_headroom - 10; ++i) REQUIRE(b.storage[i] == 0xcc);
}

TEST_CASE("format_for_reader with a 12-byte header pads with two zero bytes", "[queue][format]") {
    auto f = pattern(60, 1);
    headroom_buf b(f);
    queue_settings s;
    s.vnet_hdr_sz = 12;
    s.vnet_le = GENERATE(false, true);
    vnet_hdr h = hdr_with(0x0102);
    const std::uint8_t* out = nullptr;
    REQUIRE(format_for_reader(s, h, b.frame(), b.len, 2048, &out) == 72);
    REQUIRE(out == b.frame() - 12);
    std::array<std::uint8_t, 10> want{};
    vnet_hdr_encode(h, true, want.data());
    CHECK(std::memcmp(out, want.data(), 10) == 0);
    CHECK(out[0] == vnet_f_data_valid);
    CHECK(out[2] == 0x02);
    CHECK(out[3] == 0x01);
    CHECK(out[10] == 0);
    CHECK(out[11] == 0);
    CHECK(std::memcmp(out + 12, f.data(), f.size()) == 0);
    for (std::size_t i = 0; i < frame_headroom - 12; ++i) REQUIRE(b.storage[i] == 0xcc);
}

TEST_CASE("format_for_reader with a header filling the whole headroom", "[queue][format]") {
    auto f = pattern(60, 1);
    headroom_buf b(f);
    queue_settings s;
    s.vnet_hdr_sz = static_cast<int>(frame_headroom);
    const std::uint8_t* out = nullptr;
    REQUIRE(format_for_reader(s, hdr_with(7), b.frame(), b.len, 4096, &out) ==
            static_cast<long>(frame_headroom + 60));
    CHECK(out == b.storage.data());
    for (std::size_t i = 10; i < frame_headroom; ++i) REQUIRE(out[i] == 0);
    CHECK(std::memcmp(b.frame(), f.data(), f.size()) == 0);
}

TEST_CASE("format_for_reader truncates header + frame to the read size", "[queue][format]") {
    auto f = pattern(100, 1);
    headroom_buf b(f);
    queue_settings s;
    const std::uint8_t* out = nullptr;
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 50, &out) == 50);
    CHECK(out == b.frame() - 10);
    // Exactly the header: a valid read of just the header.
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 10, &out) == 10);
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 110, &out) == 110);
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 111, &out) == 110);
}

TEST_CASE("format_for_reader: a read smaller than the vnet header → -EINVAL", "[queue][format]") {
    auto f = pattern(100, 1);
    headroom_buf b(f);
    const std::uint8_t* out = nullptr;
    queue_settings s;
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 9, &out) == -EINVAL);
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 1, &out) == -EINVAL);
    s.vnet_hdr_sz = 12;
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 11, &out) == -EINVAL);
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 12, &out) == 12);
}

TEST_CASE("format_for_reader: a header larger than the headroom → -ENOBUFS, nothing written", "[queue][format]") {
    auto f = pattern(100, 1);
    headroom_buf b(f);
    const std::uint8_t* out = nullptr;
    queue_settings s;
    s.vnet_hdr_sz = static_cast<int>(frame_headroom + 1);
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 4096, &out) == -ENOBUFS);
    s.vnet_hdr_sz = 4096;
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 8192, &out) == -ENOBUFS);
    // A too-short read is still EINVAL first (tap_put_user checks the size before anything else).
    CHECK(format_for_reader(s, vnet_hdr{}, b.frame(), b.len, 100, &out) == -EINVAL);
    for (std::size_t i = 0; i < frame_headroom; ++i) REQUIRE(b.storage[i] == 0xcc);
}

TEST_CASE("format_for_reader works in place on a ring slot", "[queue][format]") {
    frame_ring r(1);
    auto f = pattern(1514, 4);
    vnet_hdr h = hdr_with(54);
    REQUIRE(r.push(h, f.data(), f.size()));
    frame_slot& sl = r.front();
    queue_settings s;
    s.vnet_hdr_sz = 12;
    const std::uint8_t* out = nullptr;
    REQUIRE(format_for_reader(s, sl.hdr, sl.data(), sl.len, 65536, &out) == 1526);
    vnet_hdr back = vnet_hdr_decode(out, true);
    CHECK(back.hdr_len == 54);
    CHECK(back.gso_size == 55);
    CHECK(back.gso_type == vnet_gso_tcpv6);
    CHECK(std::memcmp(out + 12, f.data(), f.size()) == 0);
}

// Regression: an empty frame pushed into a never-used slot left it without a buffer (data() was
// null + headroom), found by fuzz_vnet_hdr.
TEST_CASE("frame_ring: an empty frame gets a real slot with headroom (regression)", "[queue][ring]") {
    frame_ring r(2);
    const std::uint8_t nothing[1] = {0};
    REQUIRE(r.push(vnet_hdr{}, nothing, 0));
    frame_slot& s = r.front();
    CHECK(s.len == 0);
    REQUIRE(s.buf != nullptr);
    queue_settings qs;
    const std::uint8_t* out = nullptr;
    CHECK(format_for_reader(qs, s.hdr, s.data(), s.len, 100, &out) == 10);
}
