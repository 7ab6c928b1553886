// bsd_personality.cc — the BSD personality: NetBSD tap(4) (sys/net/if_tap.c) on a Linux tap device. One
// open at a time (EBUSY), carrier follows the open, reads fail with EHOSTDOWN while the interface is
// down, FIONREAD / SIGIO owner / TAPGIFNAME ioctls, ENOTTY for anything unknown. The Linux TUN* ioctls
// that make sense on a single-open device are answered too (their rows are the Linux table's), so Linux
// programs work as well.
#include <asm/ioctls.h>
#include <signal.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "linux_ioctls.h"
#include "tapcore/device.h"
#include "tapcore/ifname.h"
#include "tapcore/personality.h"
#include "tapd/if_tap.h"

namespace tapd {
namespace {

// A 32-bit program's TAPGIFNAME: the same _IOR('e', 0, struct ifreq) with its 32-byte struct ifreq.
constexpr unsigned tapgifname_32 = _IOC(_IOC_READ, 'e', 0, ifreq_size_32);

int load_int(const std::uint8_t* p) {
    int v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
ioctl_result out_int(const ioctl_call& c, int v) {
    std::memcpy(c.out, &v, sizeof v);
    return {0, sizeof v};
}

// FIONREAD: the length the next read would return (0 when nothing waits).
ioctl_result fionread(queue& q, const ioctl_call& c) noexcept {
    if (q.ring.empty()) return out_int(c, 0);
    const queue_settings& s = q.settings;
    std::size_t n = q.ring.front().len + (s.has_vnet_hdr() ? static_cast<std::size_t>(s.vnet_hdr_sz) : 0);
    return out_int(c, static_cast<int>(n));
}

// fsetown: TIOCSPGRP names a process group; FIOSETOWN a process (> 0) or group (< 0).
ioctl_result set_owner(queue& q, const ioctl_call& c) noexcept {
    int v = load_int(c.in);
    if (c.cmd == TIOCSPGRP && v < 0) return {-EINVAL, 0};  // fsetown: a group id is positive
    int owner = c.cmd == TIOCSPGRP ? -v : v;
    if (owner != 0 && ::kill(owner, 0) < 0 && errno == ESRCH) return {-ESRCH, 0};
    q.settings.sigio_owner = owner;
    return {};
}

ioctl_result tiocgpgrp(queue& q, const ioctl_call& c) noexcept {
    return out_int(c, -q.settings.sigio_owner);
}
ioctl_result fiogetown(queue& q, const ioctl_call& c) noexcept {
    return out_int(c, q.settings.sigio_owner);
}

ioctl_result fioasync(queue& q, const ioctl_call& c) noexcept {
    q.settings.async = load_int(c.in) != 0;
    return {};
}

ioctl_result tapgifname(queue& q, const ioctl_call& c) noexcept {
    device* d = q.dev();
    if (!d) return {-ENXIO, 0};
    std::memset(c.out, 0, c.out_cap);
    store_ifname(c.out, d->link().name);
    return {0, c.out_cap};
}

// TUNSETIFF: as Linux, but a single-open device has no queues to spread over.
ioctl_result tunsetiff(queue& q, const ioctl_call& c) noexcept {
    unsigned short flags;
    std::memcpy(&flags, c.in + ifr_flags_offset, sizeof flags);
    if (flags & iff_multi_queue) return {-EINVAL, 0};
    return linux_tap::tunsetiff(q, c);
}

using enum ioctl_arg;
using linux_tap::row;

// clang-format off: one row per line, in columns
constexpr std::array<ioctl_row, 16> bsd_table{{
    // tap(4)'s own (tap_dev_ioctl)
    {FIONREAD, "FIONREAD", none, int_, fionread},
    {TIOCGPGRP, "TIOCGPGRP", none, int_, tiocgpgrp},
    {FIOGETOWN, "FIOGETOWN", none, int_, fiogetown},
    {TIOCSPGRP, "TIOCSPGRP", int_, none, set_owner},
    {FIOSETOWN, "FIOSETOWN", int_, none, set_owner},
    {TAPD_FIOASYNC, "TAPD_FIOASYNC", int_, none, fioasync},  // FIOASYNC never reaches CUSE: if_tap.h
    {TAPGIFNAME, "TAPGIFNAME", none, ifreq64, tapgifname},
    {tapgifname_32, "TAPGIFNAME", none, ifreq32, tapgifname},
    // Linux's, where they make sense on a single-open device
    row(TUNGETIFF),
    row(TUNSETIFF).with_handler(tunsetiff),
    row(TUNGETFEATURES),
    row(TUNGETVNETHDRSZ),
    row(TUNSETVNETHDRSZ),
    row(TUNSETOFFLOAD),
    row(SIOCGIFHWADDR),
    row(SIOCSIFHWADDR),
}};
// clang-format on
static_assert(ioctl_cmds_unique(bsd_table));

class bsd_personality final : public personality {
  public:
    personality_kind kind() const noexcept override { return personality_kind::bsd; }

    queue_settings initial_settings() const noexcept override {
        queue_settings s;
        s.flags = iff_tap | iff_no_pi;  // bare frames: tap(4) has no vnet header (so no offloads either)
        return s;
    }

    // tap_cdev_open: "The device can only be opened once".
    int check_open(const device& d) const noexcept override { return d.queue_count() ? -EBUSY : 0; }
    // if_link_state_change(LINK_STATE_UP / DOWN) in open and close.
    void opened(device& d) noexcept override { d.set_carrier(true); }
    void closed(device& d) noexcept override { d.set_carrier(false); }

    int read_status(device& d) noexcept override {
        if (d.link().admin_up) return 0;
        // The link monitor may not have told us about an `ip link set up` that just happened: ask the
        // kernel before refusing (only on this path, while the link looks down; without allocating). A
        // failed re-read leaves the link as the device knew it: down.
        (void)d.reread_link_state();
        return d.link().admin_up ? 0 : -EHOSTDOWN;
    }
    bool wakes_readers_on_down() const noexcept override { return true; }
    bool accepts_writes_when_down() const noexcept override { return true; }

    ioctl_table ioctls() const noexcept override { return bsd_table; }
    int unknown_ioctl() const noexcept override { return -ENOTTY; }  // tap_dev_ioctl's default
};

}  // namespace

std::unique_ptr<personality> make_bsd_personality() {
    return std::make_unique<bsd_personality>();
}

}  // namespace tapd
