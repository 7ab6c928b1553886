// test_tap_ioctl.cc — the Linux personality's ioctl table (what CUSE must copy in/out) and TUNSETIFF's
// flag rule (tap_ioctl in drivers/net/tap.c), plus the ioctls that work on a queue with no device. Every
// call goes through the table, as the front end's does: find_ioctl, then call_ioctl.
#include <catch2/catch.hpp>

#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>

#include "tapcore/device.h"
#include "tapcore/personality.h"
#include "tapcore/queue.h"
#include "tapcore/tap_ioctl.h"

using namespace tapd;

namespace {

// A queue whose device is gone (after device::shutdown / close_queue): the control-path ioctls that need
// no device still work on it. The queue only remembers the device's address, so it is given raw storage
// and detached before anything could look at it.
struct detached_queue {
    alignas(device) unsigned char no_device[sizeof(device)];
    queue q{*reinterpret_cast<device*>(no_device), 4, nullptr};
    detached_queue() { q.detach_device(); }
};

// The row's sizes for `cmd`, or nullopt when the Linux table does not serve it.
std::optional<ioctl_spec> linux_ioctl_spec(unsigned cmd, bool compat32) {
    const ioctl_row* row = find_ioctl(linux_ioctls(), cmd);
    if (!row) return std::nullopt;
    return row->spec(compat32);
}

// What the front end does with one ioctl: look it up (unknown: the personality's -errno), run its row.
ioctl_result linux_ioctl(queue& q, unsigned cmd, std::uint64_t arg, const std::uint8_t* in, std::size_t in_len,
                         std::uint8_t* out, std::size_t out_cap, bool compat32 = false) {
    static const auto pers = make_linux_personality();
    const ioctl_row* row = pers->find_ioctl(cmd);
    if (!row) return {pers->unknown_ioctl(), 0};
    return call_ioctl(*row, q, {cmd, arg, in, in_len, out, out_cap}, compat32);
}

std::array<std::uint8_t, ifreq_size> ifreq_with_flags(unsigned short flags, const char* name = "") {
    std::array<std::uint8_t, ifreq_size> r{};
    std::memcpy(r.data(), name, std::strlen(name));
    std::memcpy(r.data() + ifr_flags_offset, &flags, sizeof flags);
    return r;
}

std::array<std::uint8_t, sizeof(int)> int_bytes(int v) {
    std::array<std::uint8_t, sizeof(int)> b{};
    std::memcpy(b.data(), &v, sizeof v);
    return b;
}

int as_int(const std::uint8_t* p) {
    int v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

}  // namespace

TEST_CASE("linux_ioctl_spec: struct ifreq ioctls", "[tap_ioctl][spec]") {
    const bool compat = GENERATE(false, true);
    const std::size_t ifr = compat ? 32 : 40;
    CAPTURE(compat);
    struct row {
        unsigned cmd;
        const char* name;
        std::size_t in, out;
    };
    const row rows[] = {
        {TUNSETIFF, "TUNSETIFF", ifr, ifr},  // the name is written back
        {TUNGETIFF, "TUNGETIFF", 0, ifr},
        {TUNSETQUEUE, "TUNSETQUEUE", ifr, 0},
        {SIOCGIFHWADDR, "SIOCGIFHWADDR", 0, ifr},
        {SIOCSIFHWADDR, "SIOCSIFHWADDR", ifr, 0},
    };
    for (const row& r : rows) {
        CAPTURE(r.name);
        auto s = linux_ioctl_spec(r.cmd, compat);
        REQUIRE(s.has_value());
        CHECK(s->in_size == r.in);
        CHECK(s->out_size == r.out);
        CHECK_FALSE(s->by_value);
    }
}

TEST_CASE("linux_ioctl_spec: int ioctls via pointer are the same for 32- and 64-bit callers", "[tap_ioctl][spec]") {
    const bool compat = GENERATE(false, true);
    CAPTURE(compat);
    struct row {
        unsigned cmd;
        const char* name;
        std::size_t in, out;
    };
    const row rows[] = {
        {TUNGETFEATURES, "TUNGETFEATURES", 0, 4}, {TUNGETVNETHDRSZ, "TUNGETVNETHDRSZ", 0, 4},
        {TUNGETVNETLE, "TUNGETVNETLE", 0, 4},
        {TUNSETSNDBUF, "TUNSETSNDBUF", 4, 0},     {TUNSETVNETHDRSZ, "TUNSETVNETHDRSZ", 4, 0},
        {TUNSETVNETLE, "TUNSETVNETLE", 4, 0},
    };
    for (const row& r : rows) {
        CAPTURE(r.name);
        auto s = linux_ioctl_spec(r.cmd, compat);
        REQUIRE(s.has_value());
        CHECK(s->in_size == r.in);
        CHECK(s->out_size == r.out);
        CHECK_FALSE(s->by_value);
    }
}

TEST_CASE("linux_ioctl_spec: TUN[GS]ETVNETBE are served but carry nothing (always EINVAL)", "[tap_ioctl][spec]") {
    const bool compat = GENERATE(false, true);
    for (unsigned cmd : {TUNGETVNETBE, TUNSETVNETBE}) {
        CAPTURE(cmd);
        auto s = linux_ioctl_spec(cmd, compat);
        REQUIRE(s.has_value());
        CHECK(s->in_size == 0);
        CHECK(s->out_size == 0);
        CHECK_FALSE(s->by_value);
    }
}

TEST_CASE("linux_ioctl_spec: TUNSETOFFLOAD is the only by-value ioctl", "[tap_ioctl][spec]") {
    const bool compat = GENERATE(false, true);
    auto s = linux_ioctl_spec(TUNSETOFFLOAD, compat);
    REQUIRE(s.has_value());
    CHECK(s->by_value);
    CHECK(s->in_size == 0);
    CHECK(s->out_size == 0);
}

TEST_CASE("linux_ioctl_spec: ioctls macvtap does not serve → nullopt", "[tap_ioctl][spec]") {
    const bool compat = GENERATE(false, true);
    const unsigned unserved[] = {
        TUNSETPERSIST, TUNSETOWNER,   TUNSETGROUP,   TUNSETLINK, TUNSETDEBUG,      TUNGETSNDBUF, TUNATTACHFILTER,
        TUNDETACHFILTER, TUNSETTXFILTER, TUNSETCARRIER, SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFMTU,
        FIONREAD,      FIONBIO,       TIOCGPGRP,     TIOCSPGRP,  0u,               0xffffffffu,
    };
    for (unsigned cmd : unserved) {
        CAPTURE(cmd);
        CHECK_FALSE(linux_ioctl_spec(cmd, compat).has_value());
    }
}

TEST_CASE("linux_ioctl_spec: 64-bit ifreq sizes never exceed struct ifreq, 32-bit never exceed 32", "[tap_ioctl][spec]") {
    const unsigned cmds[] = {TUNSETIFF, TUNGETIFF, TUNSETQUEUE, SIOCGIFHWADDR, SIOCSIFHWADDR};
    for (unsigned cmd : cmds) {
        auto s64 = linux_ioctl_spec(cmd, false);
        auto s32 = linux_ioctl_spec(cmd, true);
        REQUIRE(s64);
        REQUIRE(s32);
        CHECK(s64->in_size <= sizeof(struct ifreq));
        CHECK(s64->out_size <= sizeof(struct ifreq));
        CHECK(s32->in_size <= 32);
        CHECK(s32->out_size <= 32);
        // Everything the handlers touch (ifr_flags, or sa_family + 6 MAC bytes) fits in 32 bytes.
        CHECK(ifr_flags_offset + 2 + 6 <= 32);
    }
}

// ---- tunsetiff_flags ----

TEST_CASE("tunsetiff_flags: IFF_TAP|IFF_NO_PI alone is accepted and clears the features", "[tap_ioctl][tunsetiff]") {
    const unsigned current = iff_tap | iff_no_pi | iff_vnet_hdr;
    auto r = tunsetiff_flags(current, iff_tap | iff_no_pi);
    REQUIRE(r.has_value());
    CHECK(*r == (iff_tap | iff_no_pi));  // IFF_VNET_HDR turned off, as tap_ioctl does
}

TEST_CASE("tunsetiff_flags: feature bits are accepted", "[tap_ioctl][tunsetiff]") {
    const unsigned current = iff_tap | iff_no_pi;
    const unsigned extra = GENERATE(as<unsigned>{}, iff_vnet_hdr, iff_multi_queue, iff_vnet_hdr | iff_multi_queue);
    CAPTURE(extra);
    auto r = tunsetiff_flags(current, iff_tap | iff_no_pi | extra);
    REQUIRE(r.has_value());
    CHECK(*r == (iff_tap | iff_no_pi | extra));
}

TEST_CASE("tunsetiff_flags: IFF_ONE_QUEUE is accepted and dropped", "[tap_ioctl][tunsetiff]") {
    auto r = tunsetiff_flags(iff_tap | iff_no_pi, iff_tap | iff_no_pi | iff_one_queue);
    REQUIRE(r.has_value());
    CHECK(*r == (iff_tap | iff_no_pi));
    CHECK((*r & iff_one_queue) == 0);
    auto v = tunsetiff_flags(iff_tap | iff_no_pi, iff_tap | iff_no_pi | iff_one_queue | iff_vnet_hdr);
    REQUIRE(v.has_value());
    CHECK(*v == (iff_tap | iff_no_pi | iff_vnet_hdr));
}

TEST_CASE("tunsetiff_flags: wrong mode or missing IFF_NO_PI → nullopt", "[tap_ioctl][tunsetiff]") {
    const unsigned current = iff_tap | iff_no_pi | iff_vnet_hdr;
    CHECK_FALSE(tunsetiff_flags(current, IFF_TUN | iff_no_pi));
    CHECK_FALSE(tunsetiff_flags(current, IFF_TUN | iff_tap | iff_no_pi));
    CHECK_FALSE(tunsetiff_flags(current, iff_tap));
    CHECK_FALSE(tunsetiff_flags(current, iff_tap | iff_vnet_hdr));
    CHECK_FALSE(tunsetiff_flags(current, iff_no_pi));
    CHECK_FALSE(tunsetiff_flags(current, 0));
    CHECK_FALSE(tunsetiff_flags(current, iff_one_queue));
    // Queue-control and other flags are not TUNSETIFF flags for macvtap.
    CHECK_FALSE(tunsetiff_flags(current, iff_tap | iff_no_pi | iff_attach_queue));
    CHECK_FALSE(tunsetiff_flags(current, iff_tap | iff_no_pi | iff_detach_queue));
    CHECK_FALSE(tunsetiff_flags(current, iff_tap | iff_no_pi | IFF_PERSIST));
    CHECK_FALSE(tunsetiff_flags(current, iff_tap | iff_no_pi | IFF_NAPI));
    CHECK_FALSE(tunsetiff_flags(current, iff_tap | iff_no_pi | IFF_NAPI_FRAGS));
    CHECK_FALSE(tunsetiff_flags(current, iff_tap | iff_no_pi | IFF_TUN_EXCL));
}

TEST_CASE("tunsetiff_flags preserves bits of current outside the feature set", "[tap_ioctl][tunsetiff]") {
    // tap_ioctl: q->flags = (q->flags & ~TAP_IFFEATURES) | u. Private bits (TAP_VNET_LE/BE live above 16
    // bits in the kernel) survive; the features are replaced.
    const unsigned priv = 0x80000000u | 0x40000000u;
    const unsigned current = iff_tap | iff_no_pi | iff_vnet_hdr | iff_multi_queue | priv;
    auto r = tunsetiff_flags(current, iff_tap | iff_no_pi | iff_multi_queue);
    REQUIRE(r.has_value());
    CHECK(*r == (iff_tap | iff_no_pi | iff_multi_queue | priv));
    auto r2 = tunsetiff_flags(current, iff_tap | iff_no_pi);
    REQUIRE(r2.has_value());
    CHECK(*r2 == (iff_tap | iff_no_pi | priv));
}

// ---- linux_ioctl on a queue without a device ----

TEST_CASE("linux_ioctl TUNSETIFF sets the flags and copies the ifreq back", "[tap_ioctl][linux_ioctl]") {
    detached_queue dq;
    auto in = ifreq_with_flags(static_cast<unsigned short>(iff_tap | iff_no_pi | iff_one_queue), "whatever");
    std::array<std::uint8_t, ifreq_size> out{};
    out.fill(0xee);
    auto r = linux_ioctl(dq.q, TUNSETIFF, 0, in.data(), in.size(), out.data(), out.size());
    CHECK(r.rc == 0);
    CHECK(r.out_len == ifreq_size);
    CHECK(dq.q.settings.flags == (iff_tap | iff_no_pi));
    CHECK(out == in);  // no device: the name is left as given
    CHECK_FALSE(dq.q.settings.has_vnet_hdr());

    auto bad = ifreq_with_flags(static_cast<unsigned short>(IFF_TUN | iff_no_pi));
    r = linux_ioctl(dq.q, TUNSETIFF, 0, bad.data(), bad.size(), out.data(), out.size());
    CHECK(r.rc == -EINVAL);
    CHECK(dq.q.settings.flags == (iff_tap | iff_no_pi));  // unchanged
}

TEST_CASE("linux_ioctl TUNSETIFF from a 32-bit caller uses 32 bytes", "[tap_ioctl][linux_ioctl]") {
    detached_queue dq;
    auto full = ifreq_with_flags(static_cast<unsigned short>(iff_tap | iff_no_pi | iff_vnet_hdr), "tap0");
    std::array<std::uint8_t, 32> out{};
    auto r = linux_ioctl(dq.q, TUNSETIFF, 0, full.data(), 32, out.data(), out.size(), /*compat32=*/true);
    CHECK(r.rc == 0);
    CHECK(r.out_len == 32);
    CHECK(std::memcmp(out.data(), full.data(), 32) == 0);
    // Too little input to hold ifr_flags → EFAULT.
    r = linux_ioctl(dq.q, TUNSETIFF, 0, full.data(), ifr_flags_offset + 1, out.data(), out.size(), true);
    CHECK(r.rc == -EFAULT);
    // A 64-bit caller's ifreq is 40 bytes: 32 are too few.
    r = linux_ioctl(dq.q, TUNSETIFF, 0, full.data(), 32, out.data(), out.size(), false);
    CHECK(r.rc == -EFAULT);
}

TEST_CASE("linux_ioctl TUNGETFEATURES reports TAP|NO_PI|VNET_HDR|MULTI_QUEUE", "[tap_ioctl][linux_ioctl]") {
    detached_queue dq;
    std::array<std::uint8_t, 4> out{};
    auto r = linux_ioctl(dq.q, TUNGETFEATURES, 0, nullptr, 0, out.data(), out.size());
    CHECK(r.rc == 0);
    CHECK(r.out_len == 4);
    CHECK(as_int(out.data()) == (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE));
}

TEST_CASE("linux_ioctl TUNSETVNETHDRSZ / TUNGETVNETHDRSZ", "[tap_ioctl][linux_ioctl]") {
    detached_queue dq;
    std::array<std::uint8_t, 4> out{};
    auto r = linux_ioctl(dq.q, TUNGETVNETHDRSZ, 0, nullptr, 0, out.data(), out.size());
    CHECK(r.rc == 0);
    CHECK(as_int(out.data()) == 10);
    auto twelve = int_bytes(12);
    CHECK(linux_ioctl(dq.q, TUNSETVNETHDRSZ, 0, twelve.data(), 4, nullptr, 0).rc == 0);
    CHECK(dq.q.settings.vnet_hdr_sz == 12);
    for (int bad : {9, 0, -1, -100000}) {
        CAPTURE(bad);
        auto b = int_bytes(bad);
        CHECK(linux_ioctl(dq.q, TUNSETVNETHDRSZ, 0, b.data(), 4, nullptr, 0).rc == -EINVAL);
        CHECK(dq.q.settings.vnet_hdr_sz == 12);
    }
    auto ten = int_bytes(10);
    CHECK(linux_ioctl(dq.q, TUNSETVNETHDRSZ, 0, ten.data(), 4, nullptr, 0).rc == 0);
    CHECK(dq.q.settings.vnet_hdr_sz == 10);
    CHECK(linux_ioctl(dq.q, TUNSETVNETHDRSZ, 0, ten.data(), 3, nullptr, 0).rc == -EFAULT);
}

TEST_CASE("linux_ioctl TUNSETVNETLE/TUNGETVNETLE; TUN[GS]ETVNETBE → EINVAL", "[tap_ioctl][linux_ioctl]") {
    detached_queue dq;
    std::array<std::uint8_t, 4> out{};
    auto one = int_bytes(1), zero = int_bytes(0), other = int_bytes(42);
    CHECK(linux_ioctl(dq.q, TUNGETVNETLE, 0, nullptr, 0, out.data(), 4).rc == 0);
    CHECK(as_int(out.data()) == 0);
    CHECK(linux_ioctl(dq.q, TUNSETVNETLE, 0, other.data(), 4, nullptr, 0).rc == 0);  // any non-zero
    CHECK(dq.q.settings.vnet_le);
    auto r = linux_ioctl(dq.q, TUNGETVNETLE, 0, nullptr, 0, out.data(), 4);
    CHECK(r.rc == 0);
    CHECK(r.out_len == 4);
    CHECK(as_int(out.data()) == 1);
    CHECK(linux_ioctl(dq.q, TUNSETVNETLE, 0, zero.data(), 4, nullptr, 0).rc == 0);
    CHECK_FALSE(dq.q.settings.vnet_le);
    CHECK(linux_ioctl(dq.q, TUNGETVNETLE, 0, nullptr, 0, out.data(), 4).rc == 0);
    CHECK(as_int(out.data()) == 0);
    CHECK(linux_ioctl(dq.q, TUNSETVNETLE, 0, one.data(), 3, nullptr, 0).rc == -EFAULT);
    CHECK(linux_ioctl(dq.q, TUNGETVNETLE, 0, nullptr, 0, out.data(), 3).rc == -EFAULT);
    // No big-endian headers (kernel without CONFIG_TUN_VNET_CROSS_LE).
    CHECK(linux_ioctl(dq.q, TUNSETVNETBE, 0, nullptr, 0, nullptr, 0).rc == -EINVAL);
    CHECK(linux_ioctl(dq.q, TUNSETVNETBE, 0, one.data(), 4, nullptr, 0).rc == -EINVAL);
    r = linux_ioctl(dq.q, TUNGETVNETBE, 0, nullptr, 0, nullptr, 0);
    CHECK(r.rc == -EINVAL);
    CHECK(r.out_len == 0);
    CHECK(dq.q.settings.little_endian());
}

TEST_CASE("linux_ioctl TUNSETSNDBUF rejects non-positive sizes", "[tap_ioctl][linux_ioctl]") {
    detached_queue dq;
    auto ok = int_bytes(65536), zero = int_bytes(0), neg = int_bytes(-5);
    CHECK(linux_ioctl(dq.q, TUNSETSNDBUF, 0, ok.data(), 4, nullptr, 0).rc == 0);
    CHECK(dq.q.settings.sndbuf == 65536);
    CHECK(linux_ioctl(dq.q, TUNSETSNDBUF, 0, zero.data(), 4, nullptr, 0).rc == -EINVAL);
    CHECK(linux_ioctl(dq.q, TUNSETSNDBUF, 0, neg.data(), 4, nullptr, 0).rc == -EINVAL);
    CHECK(dq.q.settings.sndbuf == 65536);
}

TEST_CASE("linux_ioctl without a device: ENOLINK / EINVAL like macvtap", "[tap_ioctl][linux_ioctl]") {
    detached_queue dq;
    std::array<std::uint8_t, ifreq_size> out{};
    CHECK(linux_ioctl(dq.q, TUNGETIFF, 0, nullptr, 0, out.data(), out.size()).rc == -ENOLINK);
    CHECK(linux_ioctl(dq.q, SIOCGIFHWADDR, 0, nullptr, 0, out.data(), out.size()).rc == -ENOLINK);
    auto attach = ifreq_with_flags(static_cast<unsigned short>(iff_attach_queue));
    CHECK(linux_ioctl(dq.q, TUNSETQUEUE, 0, attach.data(), attach.size(), nullptr, 0).rc == -EINVAL);
    // TUNSETOFFLOAD checks unknown flags before the device.
    CHECK(linux_ioctl(dq.q, TUNSETOFFLOAD, 0x1000, nullptr, 0, nullptr, 0).rc == -EINVAL);
    CHECK(linux_ioctl(dq.q, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4, nullptr, 0, nullptr, 0).rc == -ENOLINK);
    CHECK(linux_ioctl(dq.q, TUNSETPERSIST, 1, nullptr, 0, nullptr, 0).rc == -EINVAL);
}
