// test_ioctl_tables.cc — both personalities' ioctl tables against an independent list of what each ioctl
// carries (the kernel's drivers/net/tap.c and NetBSD's if_tap.c), every row run through the table lookup
// on a real device (fakes.h), and the rows the BSD table shares with the Linux one.
#include <catch2/catch.hpp>

#include <asm/ioctls.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if_arp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "fakes.h"
#include "tapcore/device.h"
#include "tapcore/event_loop.h"
#include "tapcore/personality.h"
#include "tapd/if_tap.h"

using namespace tapd;
using namespace tapd::test;

namespace {

struct expected_row {
    unsigned long cmd;
    const char* name;
    std::size_t in64, out64, in32, out32;
    bool by_value;
};

constexpr std::size_t i = sizeof(int);
const unsigned tapgifname_32 = _IOC(_IOC_READ, 'e', 0, 32);

const std::vector<expected_row> linux_expected = {
    {TUNSETIFF, "TUNSETIFF", 40, 40, 32, 32, false},  // the name is written back
    {TUNGETIFF, "TUNGETIFF", 0, 40, 0, 32, false},
    {TUNSETQUEUE, "TUNSETQUEUE", 40, 0, 32, 0, false},
    {SIOCGIFHWADDR, "SIOCGIFHWADDR", 0, 40, 0, 32, false},
    {SIOCSIFHWADDR, "SIOCSIFHWADDR", 40, 0, 32, 0, false},
    {TUNGETFEATURES, "TUNGETFEATURES", 0, i, 0, i, false},
    {TUNGETVNETHDRSZ, "TUNGETVNETHDRSZ", 0, i, 0, i, false},
    {TUNSETVNETHDRSZ, "TUNSETVNETHDRSZ", i, 0, i, 0, false},
    {TUNGETVNETLE, "TUNGETVNETLE", 0, i, 0, i, false},
    {TUNSETVNETLE, "TUNSETVNETLE", i, 0, i, 0, false},
    {TUNSETSNDBUF, "TUNSETSNDBUF", i, 0, i, 0, false},
    {TUNSETOFFLOAD, "TUNSETOFFLOAD", 0, 0, 0, 0, true},
    {TUNGETVNETBE, "TUNGETVNETBE", 0, 0, 0, 0, false},  // always EINVAL: nothing to copy
    {TUNSETVNETBE, "TUNSETVNETBE", 0, 0, 0, 0, false},
};

const std::vector<expected_row> bsd_expected = {
    {FIONREAD, "FIONREAD", 0, i, 0, i, false},
    {TIOCGPGRP, "TIOCGPGRP", 0, i, 0, i, false},
    {FIOGETOWN, "FIOGETOWN", 0, i, 0, i, false},
    {TIOCSPGRP, "TIOCSPGRP", i, 0, i, 0, false},
    {FIOSETOWN, "FIOSETOWN", i, 0, i, 0, false},
    {TAPD_FIOASYNC, "TAPD_FIOASYNC", i, 0, i, 0, false},
    {TAPGIFNAME, "TAPGIFNAME", 0, 40, 0, 40, false},  // the number says 40 bytes
    {tapgifname_32, "TAPGIFNAME", 0, 32, 0, 32, false},
    {TUNGETIFF, "TUNGETIFF", 0, 40, 0, 32, false},
    {TUNSETIFF, "TUNSETIFF", 40, 40, 32, 32, false},
    {TUNGETFEATURES, "TUNGETFEATURES", 0, i, 0, i, false},
    {TUNGETVNETHDRSZ, "TUNGETVNETHDRSZ", 0, i, 0, i, false},
    {TUNSETVNETHDRSZ, "TUNSETVNETHDRSZ", i, 0, i, 0, false},
    {TUNSETOFFLOAD, "TUNSETOFFLOAD", 0, 0, 0, 0, true},
    {SIOCGIFHWADDR, "SIOCGIFHWADDR", 0, 40, 0, 32, false},
    {SIOCSIFHWADDR, "SIOCSIFHWADDR", 40, 0, 32, 0, false},
};

void check_table(const personality& p, const std::vector<expected_row>& expected) {
    CHECK(p.ioctls().size() == expected.size());  // a new row needs its line above
    for (const expected_row& e : expected) {
        CAPTURE(e.name);
        const ioctl_row* row = p.find_ioctl(static_cast<unsigned>(e.cmd));
        REQUIRE(row);
        CHECK(std::string(row->name) == e.name);
        ioctl_spec s64 = row->spec(false), s32 = row->spec(true);
        CHECK(s64.in_size == e.in64);
        CHECK(s64.out_size == e.out64);
        CHECK(s32.in_size == e.in32);
        CHECK(s32.out_size == e.out32);
        CHECK(s64.by_value == e.by_value);
        CHECK(s32.by_value == e.by_value);
        CHECK(row->run != nullptr);
    }
    // The lookup finds each row by its own number, and every row is one of the expected.
    for (const ioctl_row& r : p.ioctls()) {
        CAPTURE(r.name);
        CHECK(p.find_ioctl(r.cmd) == &r);
        bool listed = false;
        for (const expected_row& e : expected) listed = listed || static_cast<unsigned>(e.cmd) == r.cmd;
        CHECK(listed);
    }
}

struct fixture {
    backend_log log;
    event_loop loop{8};
    fake_links links{made_up_link()};
    device dev;
    std::unique_ptr<queue> q;
    explicit fixture(personality_kind k)
        : dev(loop, links, std::make_unique<fake_backend>(log), made_up_link(), make_personality(k)) {
        auto r = dev.open_queue(nullptr);
        REQUIRE(r);
        q = std::move(*r);
    }
    ~fixture() { dev.close_queue(*q); }
    fixture(const fixture&) = delete;
    fixture& operator=(const fixture&) = delete;

    // What the front end does: look up, then run the row with exactly the bytes it names.
    ioctl_result call(unsigned cmd, std::vector<std::uint8_t> in, std::vector<std::uint8_t>& out,
                      std::uint64_t arg = 0, bool compat = false) {
        const ioctl_row* row = dev.pers().find_ioctl(cmd);
        if (!row) return {dev.pers().unknown_ioctl(), 0};
        out.assign(row->spec(compat).out_size, 0xee);
        return call_ioctl(*row, *q, {cmd, arg, in.data(), in.size(), out.data(), out.size()}, compat);
    }
};

std::vector<std::uint8_t> ifreq_with(unsigned short at16, const std::uint8_t* after = nullptr,
                                     std::size_t n = 0) {
    std::vector<std::uint8_t> r(ifreq_size, 0);
    std::memcpy(r.data() + ifr_flags_offset, &at16, sizeof at16);
    if (after) std::memcpy(r.data() + ifr_flags_offset + 2, after, n);
    return r;
}

}  // namespace

TEST_CASE("ioctl tables: the Linux table, row by row", "[ioctl_table]") {
    auto p = make_linux_personality();
    check_table(*p, linux_expected);
    CHECK(p->unknown_ioctl() == -EINVAL);
    for (unsigned long cmd : std::vector<unsigned long>{FIONREAD, TUNSETPERSIST, TAPGIFNAME, 0}) {
        CAPTURE(cmd);
        CHECK_FALSE(p->find_ioctl(static_cast<unsigned>(cmd)));
    }
}

TEST_CASE("ioctl tables: the BSD table, row by row", "[ioctl_table]") {
    auto p = make_bsd_personality();
    check_table(*p, bsd_expected);
    CHECK(p->unknown_ioctl() == -ENOTTY);
    for (unsigned long cmd : std::vector<unsigned long>{TUNSETQUEUE, TUNSETSNDBUF, FIOASYNC}) {
        CAPTURE(cmd);
        CHECK_FALSE(p->find_ioctl(static_cast<unsigned>(cmd)));
    }
}

TEST_CASE("ioctl tables: the BSD table reuses the Linux rows it serves", "[ioctl_table]") {
    auto lp = make_linux_personality();
    auto bp = make_bsd_personality();
    int shared = 0;
    for (const ioctl_row& b : bp->ioctls()) {
        const ioctl_row* l = lp->find_ioctl(b.cmd);
        if (!l) continue;
        CAPTURE(b.name);
        ++shared;
        CHECK(std::string(b.name) == l->name);
        CHECK(b.in == l->in);
        CHECK(b.out == l->out);
        // Only TUNSETIFF is narrowed (no IFF_MULTI_QUEUE on a single-open device).
        if (b.cmd == TUNSETIFF)
            CHECK(b.run != l->run);
        else
            CHECK(b.run == l->run);
    }
    CHECK(shared == 8);
}

TEST_CASE("ioctl tables: every row, through the lookup, checks its sizes and answers 0 or -errno",
          "[ioctl_table]") {
    for (personality_kind k : {personality_kind::linux_, personality_kind::bsd}) {
        CAPTURE(to_name(personality_names, k));
        fixture f(k);
        for (const ioctl_row& r : f.dev.pers().ioctls()) {
            for (bool compat : {false, true}) {
                CAPTURE(r.name, compat);
                const ioctl_spec s = r.spec(compat);
                std::vector<std::uint8_t> in(s.in_size, 0), out(s.out_size, 0xee);
                // One byte short in either direction: the kernel's copy would fault.
                if (s.in_size) {
                    ioctl_result e = call_ioctl(
                        r, *f.q, {r.cmd, 0, in.data(), s.in_size - 1, out.data(), out.size()}, compat);
                    CHECK(e.rc == -EFAULT);
                }
                if (s.out_size) {
                    ioctl_result e = call_ioctl(
                        r, *f.q, {r.cmd, 0, in.data(), in.size(), out.data(), s.out_size - 1}, compat);
                    CHECK(e.rc == -EFAULT);
                }
                // Exactly the row's bytes (all zero): an answer, never a fault, never more than asked.
                ioctl_result ok =
                    call_ioctl(r, *f.q, {r.cmd, 0, in.data(), in.size(), out.data(), out.size()}, compat);
                CHECK(ok.rc <= 0);
                CHECK(ok.rc != -EFAULT);
                CHECK(ok.out_len <= s.out_size);
            }
        }
    }
}

TEST_CASE("ioctl rows with a device: TUNGETIFF, TUNSETQUEUE, TUNSETOFFLOAD", "[ioctl_table]") {
    fixture f(personality_kind::linux_);
    std::vector<std::uint8_t> out;
    auto r = f.call(TUNGETIFF, {}, out);
    REQUIRE(r.rc == 0);
    CHECK(std::string(reinterpret_cast<const char*>(out.data())) == "tap7");
    unsigned short flags;
    std::memcpy(&flags, out.data() + ifr_flags_offset, sizeof flags);
    CHECK(flags == (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));

    CHECK(f.call(TUNSETQUEUE, ifreq_with(IFF_DETACH_QUEUE), out).rc == 0);
    CHECK_FALSE(f.q->enabled);
    CHECK(f.call(TUNSETQUEUE, ifreq_with(IFF_DETACH_QUEUE), out).rc == -EINVAL);  // already detached
    CHECK(f.call(TUNSETQUEUE, ifreq_with(IFF_ATTACH_QUEUE), out).rc == 0);
    CHECK(f.q->enabled);
    CHECK(f.call(TUNSETQUEUE, ifreq_with(0), out).rc == -EINVAL);

    CHECK(f.call(TUNSETOFFLOAD, {}, out, TUN_F_CSUM | TUN_F_TSO4).rc == 0);
    CHECK(f.q->settings.offloads == (tun_f_csum | tun_f_tso4));
    CHECK(f.call(TUNSETOFFLOAD, {}, out, 0x10000).rc == -EINVAL);
}

TEST_CASE("ioctl rows with a device: SIOCGIFHWADDR re-reads, SIOCSIFHWADDR goes through link_control",
          "[ioctl_table]") {
    for (personality_kind k : {personality_kind::linux_, personality_kind::bsd}) {
        CAPTURE(to_name(personality_names, k));
        fixture f(k);
        std::vector<std::uint8_t> out;
        f.links.kernel.mac = {0x02, 9, 8, 7, 6, 5};  // `ip link set address`, not yet reported
        auto r = f.call(SIOCGIFHWADDR, {}, out);
        REQUIRE(r.rc == 0);
        unsigned short family;
        std::memcpy(&family, out.data() + ifr_flags_offset, sizeof family);
        CHECK(family == ARPHRD_ETHER);
        CHECK(std::memcmp(out.data() + ifr_flags_offset + 2, f.links.kernel.mac.data(), 6) == 0);
        CHECK(f.links.gets == 0);  // the non-allocating re-read

        const std::uint8_t mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
        CHECK(f.call(SIOCSIFHWADDR, ifreq_with(ARPHRD_ETHER, mac, 6), out).rc == 0);
        REQUIRE(f.links.macs_set.size() == 1);
        CHECK(std::memcmp(f.links.macs_set[0].data(), mac, 6) == 0);
        CHECK(f.call(SIOCSIFHWADDR, ifreq_with(ARPHRD_IEEE802, mac, 6), out).rc == -EINVAL);
        f.links.fail = EADDRNOTAVAIL;  // the kernel refused: its errno, negative, reaches the program
        CHECK(f.call(SIOCSIFHWADDR, ifreq_with(ARPHRD_ETHER, mac, 6), out).rc == -EADDRNOTAVAIL);
        CHECK(f.links.macs_set.size() == 1);
    }
}
