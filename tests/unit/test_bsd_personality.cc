// test_bsd_personality.cc — the BSD personality (NetBSD tap(4), sys/net/if_tap.c) as a state machine
// over a real tapd::device with a fake backend and a fake link (fakes.h): no kernel tap, no CUSE, no
// netlink. The event loop is real but idle.
#include <catch2/catch.hpp>

#include <asm/ioctls.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tapcore/backend.h"
#include "tapcore/device.h"
#include "tapcore/event_loop.h"
#include "tapcore/personality.h"
#include "fakes.h"
#include "tapd/if_tap.h"

using namespace tapd;
using namespace tapd::test;

namespace {

// The front end's side of one open file: records what the device told it.
struct recording_observer final : queue_observer {
    bool accept_frames = false;  // a read is parked: take frames in try_deliver
    std::vector<std::size_t> delivered;
    int readable = 0;
    std::vector<int> link_down;
    std::vector<int> detached;
    bool try_deliver(queue&, const vnet_hdr&, std::uint8_t*, std::size_t len) noexcept override {
        if (!accept_frames) return false;
        delivered.push_back(len);
        return true;
    }
    void on_readable(queue&) noexcept override { ++readable; }
    void on_detached(queue&, int err) noexcept override { detached.push_back(err); }
    void on_link_down(queue&, int err) noexcept override { link_down.push_back(err); }
};

struct fixture {
    backend_log log;
    event_loop loop{8};
    fake_links links{made_up_link()};
    device dev{loop, links, std::make_unique<fake_backend>(log), made_up_link(), make_bsd_personality()};

    // `ip link set up/down`: the kernel changes, then the link monitor tells the device.
    void set_admin(bool up) {
        links.kernel.admin_up = up;
        dev.update_link(links.kernel);
    }

    std::unique_ptr<queue> open(recording_observer* obs) {
        auto r = dev.open_queue(obs);
        REQUIRE(r);
        return std::move(*r);
    }
};

struct ioctl_outcome {
    long rc;
    std::vector<std::uint8_t> out;
};

// What chr_file does: look the ioctl up in the table, then run its row with spec.in_size bytes in and
// spec.out_size out.
ioctl_outcome do_ioctl(queue& q, unsigned cmd, const void* in = nullptr, std::size_t in_len = 0, std::uint64_t arg = 0) {
    const personality& p = q.dev()->pers();
    const ioctl_row* row = p.find_ioctl(cmd);
    if (!row) return {p.unknown_ioctl(), {}};
    ioctl_spec spec = row->spec(false);
    REQUIRE(in_len >= spec.in_size);
    std::vector<std::uint8_t> out(ifreq_size, 0xee);
    ioctl_result r = call_ioctl(*row, q, {cmd, arg, static_cast<const std::uint8_t*>(in), in_len, out.data(), spec.out_size},
                                false);
    out.resize(r.out_len);
    return {r.rc, out};
}

int get_int(queue& q, unsigned cmd) {
    ioctl_outcome c = do_ioctl(q, cmd);
    REQUIRE(c.rc == 0);
    REQUIRE(c.out.size() == sizeof(int));
    int v;
    std::memcpy(&v, c.out.data(), sizeof v);
    return v;
}

long set_int(queue& q, unsigned cmd, int v) { return do_ioctl(q, cmd, &v, sizeof v).rc; }

std::vector<std::uint8_t> eth_frame(std::size_t len, std::uint8_t tag) {
    std::vector<std::uint8_t> f(len, tag);
    for (int i = 0; i < 6; ++i) f[static_cast<std::size_t>(i)] = 0xff;
    f[12] = 0x88;
    f[13] = 0xb5;
    return f;
}

// SIGIO blocked for the test's duration, so tapd's kill() leaves it pending instead of killing us.
struct sigio_blocked {
    sigset_t set{}, old{};
    sigio_blocked() {
        sigemptyset(&set);
        sigaddset(&set, SIGIO);
        sigprocmask(SIG_BLOCK, &set, &old);
        drain();
    }
    ~sigio_blocked() {
        drain();
        sigprocmask(SIG_SETMASK, &old, nullptr);
    }
    bool pending() const {
        sigset_t p;
        sigpending(&p);
        return sigismember(&p, SIGIO) == 1;
    }
    // Takes a pending SIGIO; returns whether there was one.
    bool take() const {
        timespec zero{0, 0};
        return sigtimedwait(&set, nullptr, &zero) == SIGIO;
    }
    void drain() const {
        while (take()) {
        }
    }
};

}  // namespace

TEST_CASE("bsd: personality basics: name, bare frames, ENOTTY, read/write policy", "[bsd]") {
    auto p = make_bsd_personality();
    CHECK(p->kind() == personality_kind::bsd);
    queue_settings s = p->initial_settings();
    CHECK_FALSE(s.has_vnet_hdr());  // tap(4): bare Ethernet frames
    CHECK(s.flags == (iff_tap | iff_no_pi));
    CHECK(s.sigio_owner == 0);
    CHECK_FALSE(s.async);
    CHECK(p->unknown_ioctl() == -ENOTTY);  // tap_dev_ioctl default (0 or -errno, like everything else)
    CHECK(p->wakes_readers_on_down());          // tap_stop: cv_broadcast
    CHECK(p->accepts_writes_when_down());       // tap_dev_write ignores IFF_UP
}

TEST_CASE("bsd: ioctl table: what each ioctl carries, unknown ones not served", "[bsd]") {
    auto p = make_bsd_personality();
    auto chk = [&](unsigned cmd, std::size_t in, std::size_t out, bool compat = false) {
        INFO("cmd " << std::hex << cmd);
        const ioctl_row* r = p->find_ioctl(cmd);
        REQUIRE(r);
        CHECK(r->spec(compat).in_size == in);
        CHECK(r->spec(compat).out_size == out);
    };
    chk(FIONREAD, 0, sizeof(int));
    chk(TIOCGPGRP, 0, sizeof(int));
    chk(FIOGETOWN, 0, sizeof(int));
    chk(TIOCSPGRP, sizeof(int), 0);
    chk(FIOSETOWN, sizeof(int), 0);
    chk(TAPD_FIOASYNC, sizeof(int), 0);
    chk(TAPGIFNAME, 0, ifreq_size);
    // A 32-bit caller's TAPGIFNAME has its own number (struct ifreq is 32 bytes there).
    chk(_IOC(_IOC_READ, 'e', 0, ifreq_size_32), 0, ifreq_size_32, true);
    CHECK(TAPGIFNAME == _IOR('e', 0, struct ifreq));
    CHECK(TAPD_FIOASYNC == _IOW('e', 1, int));
    // Linux ioctls answered too.
    for (unsigned long cmd : std::vector<unsigned long>{TUNGETIFF, TUNSETIFF, TUNGETFEATURES, TUNGETVNETHDRSZ,
                                                        TUNSETVNETHDRSZ, TUNSETOFFLOAD, SIOCGIFHWADDR,
                                                        SIOCSIFHWADDR}) {
        INFO("cmd " << std::hex << cmd);
        CHECK(p->find_ioctl(static_cast<unsigned>(cmd)));
    }
    // Not tap(4) ioctls (nor single-open ones): ENOTTY.
    for (unsigned long cmd : std::vector<unsigned long>{FIOASYNC, TUNSETQUEUE, TUNSETSNDBUF, TUNSETPERSIST,
                                                        _IOR('e', 42, int), 0}) {
        INFO("cmd " << std::hex << cmd);
        CHECK_FALSE(p->find_ioctl(static_cast<unsigned>(cmd)));
    }
}

TEST_CASE("bsd: one open at a time; carrier follows the open (tap_cdev_open / tap_dev_close)", "[bsd]") {
    fixture f;
    recording_observer o1, o2;
    CHECK(f.log.carrier.empty());

    auto q1 = f.open(&o1);
    CHECK(f.log.carrier == std::vector<bool>{true});
    CHECK(f.dev.queue_count() == 1);
    CHECK_FALSE(q1->settings.has_vnet_hdr());

    auto r = f.dev.open_queue(&o2);
    REQUIRE_FALSE(r);
    CHECK(r.err().code == EBUSY);
    CHECK(f.dev.queue_count() == 1);
    CHECK(f.log.carrier == std::vector<bool>{true});  // a refused open changes nothing

    f.dev.close_queue(*q1);
    CHECK(f.log.carrier == (std::vector<bool>{true, false}));
    CHECK(f.dev.queue_count() == 0);
    CHECK(q1->dev() == nullptr);

    auto q2 = f.open(&o2);  // free again
    CHECK(f.log.carrier == (std::vector<bool>{true, false, true}));
    f.dev.close_queue(*q2);
    CHECK(f.log.carrier.back() == false);
}

TEST_CASE("bsd: admin down: EHOSTDOWN for readers, parked readers woken, SIGIO (tap_stop)", "[bsd]") {
    fixture f;
    sigio_blocked sig;
    recording_observer o;
    auto q = f.open(&o);
    personality& p = f.dev.pers();
    CHECK(p.read_status(f.dev) == 0);

    REQUIRE(set_int(*q, FIOSETOWN, static_cast<int>(::getpid())) == 0);
    REQUIRE(set_int(*q, TAPD_FIOASYNC, 1) == 0);

    f.set_admin(false);
    CHECK(o.link_down == std::vector<int>{-EHOSTDOWN});
    CHECK(o.detached.empty());  // the open file stays usable
    CHECK(sig.take());          // tap_softintr: POLL_HUP to the async owner
    // The re-read finds the link still down.
    CHECK(p.read_status(f.dev) == -EHOSTDOWN);
    CHECK(p.read_status(f.dev) == -EHOSTDOWN);

    // Still down: no second wake-up for an update that changes nothing.
    f.set_admin(false);
    CHECK(o.link_down.size() == 1);
    CHECK_FALSE(sig.take());

    f.set_admin(true);
    CHECK(p.read_status(f.dev) == 0);
    CHECK(o.link_down.size() == 1);
    CHECK_FALSE(sig.take());

    // Down again, async off: readers are still woken, but no signal.
    REQUIRE(set_int(*q, TAPD_FIOASYNC, 0) == 0);
    f.set_admin(false);
    CHECK(o.link_down.size() == 2);
    CHECK_FALSE(sig.take());
    f.dev.close_queue(*q);
}

TEST_CASE("bsd: a read while the link looks down asks the kernel first, without allocating", "[bsd]") {
    fixture f;
    recording_observer o;
    auto q = f.open(&o);
    f.set_admin(false);
    personality& p = f.dev.pers();
    const int reads = f.links.reads;
    CHECK(p.read_status(f.dev) == -EHOSTDOWN);
    CHECK(f.links.reads == reads + 1);

    f.links.kernel.admin_up = true;  // `ip link set up`, not yet reported by the link monitor
    CHECK(p.read_status(f.dev) == 0);
    CHECK(f.dev.link().admin_up);
    CHECK(f.links.reads == reads + 2);
    CHECK(p.read_status(f.dev) == 0);  // up: nothing to ask
    CHECK(f.links.reads == reads + 2);
    CHECK(f.links.gets == 0);  // the data path never takes the allocating control-path read
    f.dev.close_queue(*q);
}

TEST_CASE("bsd: writes are accepted while the interface is down (tap_dev_write)", "[bsd]") {
    fixture f;
    recording_observer o;
    auto q = f.open(&o);
    auto frame = eth_frame(60, 1);

    CHECK(f.dev.transmit(*q, frame.data(), frame.size()) == 60);
    CHECK(f.log.sent.size() == 1);

    f.set_admin(false);
    f.log.transmit_rc = -EIO;  // what TUN answers for a down interface
    CHECK(f.dev.transmit(*q, frame.data(), frame.size()) == 60);
    CHECK(f.dev.stats().tx_dropped == 1);
    CHECK(f.dev.stats().tx_frames == 1);

    // Only EIO is "down": other backend errors still reach the writer.
    f.log.transmit_rc = -ENOBUFS;
    CHECK(f.dev.transmit(*q, frame.data(), frame.size()) == -ENOBUFS);
    // And what tap(4) itself would refuse is refused: a runt.
    f.log.transmit_rc = 0;
    CHECK(f.dev.transmit(*q, frame.data(), 10) == -EINVAL);
    f.dev.close_queue(*q);
}

TEST_CASE("bsd: frames: FIONREAD, SIGIO per frame, drops while closed (tap_start, tap_dev_ioctl)", "[bsd]") {
    fixture f;
    sigio_blocked sig;

    // Nobody has it open: tap_start drops (and tapd counts).
    f.log.to_receive.push_back(eth_frame(60, 1));
    f.dev.on_ready(POLLIN);
    CHECK(f.dev.stats().rx_dropped_no_queue == 1);

    recording_observer o;
    auto q = f.open(&o);
    CHECK(get_int(*q, FIONREAD) == 0);

    f.log.to_receive.push_back(eth_frame(98, 2));
    f.log.to_receive.push_back(eth_frame(60, 3));
    f.dev.on_ready(POLLIN);
    CHECK(o.readable == 1);
    CHECK(q->ring.size() == 2);
    CHECK(get_int(*q, FIONREAD) == 98);  // the next frame's length, bare (no vnet header)
    CHECK_FALSE(sig.pending());           // not async: no signal

    q->ring.pop();
    CHECK(get_int(*q, FIONREAD) == 60);
    q->ring.pop();
    CHECK(get_int(*q, FIONREAD) == 0);

    // Async with an owner: SIGIO for a frame, whether queued or handed to a parked read.
    REQUIRE(set_int(*q, FIOSETOWN, static_cast<int>(::getpid())) == 0);
    REQUIRE(set_int(*q, TAPD_FIOASYNC, 1) == 0);
    f.log.to_receive.push_back(eth_frame(60, 4));
    f.dev.on_ready(POLLIN);
    CHECK(sig.take());
    q->ring.pop();
    o.accept_frames = true;
    f.log.to_receive.push_back(eth_frame(70, 5));
    f.dev.on_ready(POLLIN);
    CHECK(o.delivered == std::vector<std::size_t>{70});
    CHECK(sig.take());

    // Async without an owner: nothing to signal.
    REQUIRE(set_int(*q, FIOSETOWN, 0) == 0);
    f.log.to_receive.push_back(eth_frame(60, 6));
    f.dev.on_ready(POLLIN);
    CHECK_FALSE(sig.take());

    // Close purges; a frame after close is dropped and counted, the next open starts clean.
    o.accept_frames = false;
    f.log.to_receive.push_back(eth_frame(60, 7));
    f.dev.on_ready(POLLIN);
    CHECK(q->ring.size() == 1);
    f.dev.close_queue(*q);
    q.reset();
    f.log.to_receive.push_back(eth_frame(60, 8));
    f.dev.on_ready(POLLIN);
    CHECK(f.dev.stats().rx_dropped_no_queue == 2);
    recording_observer o2;
    auto q2 = f.open(&o2);
    CHECK(q2->ring.empty());
    CHECK(get_int(*q2, FIONREAD) == 0);
    CHECK(q2->settings.sigio_owner == 0);  // tap_dev_close clears TAP_ASYNCIO
    CHECK_FALSE(q2->settings.async);
    f.dev.close_queue(*q2);
}

TEST_CASE("bsd: SIGIO owner ioctls (fsetown / fgetown)", "[bsd]") {
    fixture f;
    recording_observer o;
    auto q = f.open(&o);
    const int pid = static_cast<int>(::getpid());
    const int pgrp = static_cast<int>(::getpgrp());

    CHECK(get_int(*q, FIOGETOWN) == 0);
    CHECK(get_int(*q, TIOCGPGRP) == 0);

    CHECK(set_int(*q, FIOSETOWN, pid) == 0);  // a process
    CHECK(get_int(*q, FIOGETOWN) == pid);
    CHECK(get_int(*q, TIOCGPGRP) == -pid);

    CHECK(set_int(*q, TIOCSPGRP, pgrp) == 0);  // a process group, stored negated
    CHECK(q->settings.sigio_owner == -pgrp);
    CHECK(get_int(*q, TIOCGPGRP) == pgrp);
    CHECK(get_int(*q, FIOGETOWN) == -pgrp);

    CHECK(set_int(*q, FIOSETOWN, -pgrp) == 0);  // FIOSETOWN with a negative id: a group too
    CHECK(get_int(*q, TIOCGPGRP) == pgrp);

    CHECK(set_int(*q, FIOSETOWN, 0) == 0);  // no owner
    CHECK(get_int(*q, FIOGETOWN) == 0);

    // No such process: ESRCH, owner unchanged.
    CHECK(set_int(*q, FIOSETOWN, pid) == 0);
    CHECK(set_int(*q, FIOSETOWN, 0x3ffffff0) == -ESRCH);
    CHECK(get_int(*q, FIOGETOWN) == pid);

    CHECK(set_int(*q, TAPD_FIOASYNC, 1) == 0);
    CHECK(q->settings.async);
    CHECK(set_int(*q, TAPD_FIOASYNC, 0) == 0);
    CHECK_FALSE(q->settings.async);
    f.dev.close_queue(*q);
}

TEST_CASE("bsd: TAPGIFNAME and the Linux ioctls a single-open device answers", "[bsd]") {
    fixture f;
    recording_observer o;
    auto q = f.open(&o);

    ioctl_outcome c = do_ioctl(*q, TAPGIFNAME);
    REQUIRE(c.rc == 0);
    REQUIRE(c.out.size() == ifreq_size);
    CHECK(std::string(reinterpret_cast<const char*>(c.out.data())) == "tap7");
    for (std::size_t i = 4; i < ifreq_size; ++i) CHECK(c.out[i] == 0);

    // A 32-bit caller gets exactly its 32-byte ifreq.
    {
        const personality& p = f.dev.pers();
        unsigned cmd32 = _IOC(_IOC_READ, 'e', 0, ifreq_size_32);
        const ioctl_row* row = p.find_ioctl(cmd32);
        REQUIRE(row);
        std::vector<std::uint8_t> out(ifreq_size, 0xee);
        ioctl_result r = call_ioctl(*row, *q, {cmd32, 0, nullptr, 0, out.data(), row->spec(true).out_size}, true);
        CHECK(r.rc == 0);
        CHECK(r.out_len == ifreq_size_32);
        CHECK(out[ifreq_size_32] == 0xee);  // nothing written past it
    }

    // Unknown: not served, ENOTTY.
    CHECK(do_ioctl(*q, _IOR('e', 42, int)).rc == -ENOTTY);
    CHECK(do_ioctl(*q, TUNSETQUEUE).rc == -ENOTTY);

    // TUNGETIFF: bare frames by default.
    c = do_ioctl(*q, TUNGETIFF);
    REQUIRE(c.rc == 0);
    unsigned short flags;
    std::memcpy(&flags, c.out.data() + ifr_flags_offset, sizeof flags);
    CHECK(flags == (IFF_TAP | IFF_NO_PI));

    // TUNSETIFF: no queues to spread over on a single-open device.
    std::uint8_t ifr[ifreq_size] = {};
    unsigned short want = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    std::memcpy(ifr + ifr_flags_offset, &want, sizeof want);
    CHECK(do_ioctl(*q, TUNSETIFF, ifr, sizeof ifr).rc == -EINVAL);
    CHECK_FALSE(q->settings.has_vnet_hdr());
    want = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    std::memcpy(ifr + ifr_flags_offset, &want, sizeof want);
    c = do_ioctl(*q, TUNSETIFF, ifr, sizeof ifr);
    CHECK(c.rc == 0);
    CHECK(q->settings.has_vnet_hdr());
    CHECK(std::string(reinterpret_cast<const char*>(c.out.data())) == "tap7");

    // TUN[GS]ETVNETHDRSZ, TUNSETOFFLOAD (by value).
    CHECK(set_int(*q, TUNSETVNETHDRSZ, 12) == 0);
    CHECK(get_int(*q, TUNGETVNETHDRSZ) == 12);
    CHECK(do_ioctl(*q, TUNSETOFFLOAD, nullptr, 0, TUN_F_CSUM).rc == 0);
    CHECK(q->settings.offloads == tun_f_csum);

    // SIOCGIFHWADDR: the kernel's MAC, re-read; tapd's copy when the re-read fails.
    c = do_ioctl(*q, SIOCGIFHWADDR);
    REQUIRE(c.rc == 0);
    const std::uint8_t want_mac[6] = {0xf2, 0x0b, 0xa4, 1, 2, 3};
    CHECK(std::memcmp(c.out.data() + ifr_flags_offset + 2, want_mac, 6) == 0);
    f.links.fail = ENODEV;
    c = do_ioctl(*q, SIOCGIFHWADDR);
    REQUIRE(c.rc == 0);
    CHECK(std::memcmp(c.out.data() + ifr_flags_offset + 2, want_mac, 6) == 0);
    f.dev.close_queue(*q);
}

TEST_CASE("bsd: shutdown detaches the open file, later ioctls have no device", "[bsd]") {
    fixture f;
    recording_observer o;
    auto q = f.open(&o);
    f.dev.shutdown(-ENODEV);
    CHECK(o.detached == std::vector<int>{-ENODEV});
    CHECK(q->dev() == nullptr);
    CHECK(f.dev.queue_count() == 0);
}
