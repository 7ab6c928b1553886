// bsd_personality.cc — the BSD personality: NetBSD tap(4) (seed 001, sys/net/if_tap.c) on a Linux tap
// device. One open at a time (EBUSY), carrier follows the open, reads fail with EHOSTDOWN while the
// interface is down, FIONREAD / SIGIO owner / TAPGIFNAME ioctls, ENOTTY for anything unknown. The Linux
// TUN* ioctls that make sense on a single-open device are answered too, so Linux programs work as well.
#include <asm/ioctls.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <signal.h>

#include <cerrno>
#include <cstring>

#include "tapcore/device.h"
#include "tapcore/personality.h"
#include "tapd/if_tap.h"

namespace tapd {
namespace {

constexpr unsigned tapgifname_32 = _IOC(_IOC_READ, 'e', 0, ifreq_size_32);

int load_int(const std::uint8_t* p) {
    int v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
ioctl_result out_int(std::uint8_t* out, int v) {
    std::memcpy(out, &v, sizeof v);
    return {0, sizeof v};
}

class bsd_personality final : public personality {
public:
    const char* name() const noexcept override { return "bsd"; }

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
        // kernel before refusing (only on this path, while the link looks down).
        (void)d.refresh_link();
        return d.link().admin_up ? 0 : -EHOSTDOWN;
    }
    bool wakes_readers_on_down() const noexcept override { return true; }
    bool accepts_writes_when_down() const noexcept override { return true; }

    std::optional<ioctl_spec> spec(unsigned cmd, bool compat32) const noexcept override {
        constexpr std::size_t i = sizeof(int);
        switch (cmd) {
            case FIONREAD:
            case TIOCGPGRP:
            case FIOGETOWN: return ioctl_spec{0, i};
            case TIOCSPGRP:
            case FIOSETOWN:
            case TAPD_FIOASYNC: return ioctl_spec{i, 0};
            case TAPGIFNAME: return ioctl_spec{0, ifreq_size};
            case tapgifname_32: return ioctl_spec{0, ifreq_size_32};
            case TUNGETIFF:
            case TUNSETIFF:
            case TUNGETFEATURES:
            case TUNGETVNETHDRSZ:
            case TUNSETVNETHDRSZ:
            case TUNSETOFFLOAD:
            case SIOCGIFHWADDR:
            case SIOCSIFHWADDR: return linux_ioctl_spec(cmd, compat32);
            default: return std::nullopt;
        }
    }

    ioctl_result ioctl(queue& q, unsigned cmd, std::uint64_t arg, const std::uint8_t* in, std::size_t in_len,
                       std::uint8_t* out, std::size_t out_cap) noexcept override {
        queue_settings& s = q.settings;
        switch (cmd) {
            case FIONREAD: {
                // The length the next read would return (0 when nothing waits).
                if (q.ring.empty()) return out_int(out, 0);
                std::size_t n = q.ring.front().len + (s.has_vnet_hdr() ? static_cast<std::size_t>(s.vnet_hdr_sz) : 0);
                return out_int(out, static_cast<int>(n));
            }
            case TIOCSPGRP:
            case FIOSETOWN: {
                if (in_len < sizeof(int)) return {-EFAULT, 0};
                // fsetown: TIOCSPGRP names a process group; FIOSETOWN a process (> 0) or group (< 0).
                int v = load_int(in);
                if (cmd == TIOCSPGRP && v < 0) return {-EINVAL, 0};  // fsetown: a group id is positive
                int owner = cmd == TIOCSPGRP ? -v : v;
                if (owner != 0 && ::kill(owner, 0) < 0 && errno == ESRCH) return {-ESRCH, 0};
                s.sigio_owner = owner;
                return {};
            }
            case TIOCGPGRP: return out_int(out, -s.sigio_owner);
            case FIOGETOWN: return out_int(out, s.sigio_owner);
            case TAPD_FIOASYNC:
                if (in_len < sizeof(int)) return {-EFAULT, 0};
                s.async = load_int(in) != 0;
                return {};
            case TAPGIFNAME:
            case tapgifname_32: {
                device* d = q.dev();
                if (!d) return {-ENXIO, 0};
                std::memset(out, 0, out_cap);
                const std::string& n = d->link().name;
                std::memcpy(out, n.data(), n.size() < 15 ? n.size() : 15);
                return {0, out_cap};
            }
            case TUNSETIFF: {
                // A single-open device has no queues to spread over.
                unsigned short flags;
                if (in_len < ifr_flags_offset + 2) return {-EFAULT, 0};
                std::memcpy(&flags, in + ifr_flags_offset, sizeof flags);
                if (flags & iff_multi_queue) return {-EINVAL, 0};
                return linux_ioctl(q, cmd, arg, in, in_len, out, out_cap);
            }
            default:
                return linux_ioctl(q, cmd, arg, in, in_len, out, out_cap);
        }
    }

    int unknown_ioctl_errno() const noexcept override { return ENOTTY; }
};

}  // namespace

std::unique_ptr<personality> make_bsd_personality() { return std::make_unique<bsd_personality>(); }

}  // namespace tapd
