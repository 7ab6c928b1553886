// tap_ioctl.cc — macvtap's ioctl set (tap_ioctl in drivers/net/tap.c) with its argument checks and
// errnos, plus the deliberate differences listed in tap_ioctl.h. Never throws.
#include "tapcore/tap_ioctl.h"

#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if_arp.h>

#include <cerrno>
#include <cstring>

#include "tapcore/device.h"
#include "tapcore/queue.h"

namespace tapd {
namespace {

constexpr std::size_t ifnamsiz = 16;
constexpr unsigned tap_iff_features = iff_vnet_hdr | iff_multi_queue;
constexpr unsigned tun_f_known = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO;

int load_int(const std::uint8_t* p) {
    int v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

void store_int(std::uint8_t* p, int v) { std::memcpy(p, &v, sizeof v); }

unsigned short load_ifr_flags(const std::uint8_t* ifr) {
    unsigned short v;
    std::memcpy(&v, ifr + ifr_flags_offset, sizeof v);
    return v;
}

void store_ifr_name(std::uint8_t* ifr, const std::string& name) {
    std::memset(ifr, 0, ifnamsiz);
    std::memcpy(ifr, name.data(), name.size() < ifnamsiz - 1 ? name.size() : ifnamsiz - 1);
}

// An ioctl that returns no data: just its status.
ioctl_result status(long err) { return {err, 0}; }

}  // namespace

std::optional<unsigned> tunsetiff_flags(unsigned current, unsigned requested) {
    unsigned u = requested & ~iff_one_queue;
    if ((u & ~tap_iff_features) != (iff_no_pi | iff_tap)) return std::nullopt;
    return (current & ~tap_iff_features) | u;
}

std::optional<ioctl_spec> linux_ioctl_spec(unsigned cmd, bool compat32) {
    const std::size_t ifr = compat32 ? ifreq_size_32 : ifreq_size;
    constexpr std::size_t i = sizeof(int);
    switch (cmd) {
        case TUNSETIFF: return ioctl_spec{ifr, ifr};  // name written back
        case TUNGETIFF: return ioctl_spec{0, ifr};
        case TUNSETQUEUE: return ioctl_spec{ifr, 0};
        case SIOCGIFHWADDR: return ioctl_spec{0, ifr};
        case SIOCSIFHWADDR: return ioctl_spec{ifr, 0};
        case TUNGETFEATURES:
        case TUNGETVNETHDRSZ:
        case TUNGETVNETLE: return ioctl_spec{0, i};
        case TUNSETSNDBUF:
        case TUNSETVNETHDRSZ:
        case TUNSETVNETLE: return ioctl_spec{i, 0};
        // Served, but always EINVAL (no big-endian headers): nothing to copy either way.
        case TUNGETVNETBE:
        case TUNSETVNETBE: return ioctl_spec{0, 0};
        case TUNSETOFFLOAD: return ioctl_spec{0, 0, true};
        default: return std::nullopt;
    }
}

ioctl_result linux_ioctl(queue& q, unsigned cmd, std::uint64_t arg, const std::uint8_t* in, std::size_t in_len,
                         std::uint8_t* out, std::size_t out_cap) noexcept {
    queue_settings& s = q.settings;
    device* dev = q.dev();
    auto need_in = [&](std::size_t n) { return in_len >= n; };
    auto need_out = [&](std::size_t n) { return out_cap >= n; };

    switch (cmd) {
        case TUNSETIFF: {
            if (!need_in(ifr_flags_offset + 2) || !need_out(in_len)) return status(-EFAULT);
            auto flags = tunsetiff_flags(s.flags, load_ifr_flags(in));
            if (!flags) return status(-EINVAL);
            s.flags = *flags;
            // Deliberate difference from macvtap (which ignores the name): write the real interface name
            // back, as tun does, because socat and OpenVPN configure the interface by that name.
            std::memcpy(out, in, in_len);
            if (dev) store_ifr_name(out, dev->link().name);
            return {0, in_len};
        }
        case TUNGETIFF: {
            if (!dev) return status(-ENOLINK);
            if (!need_out(ifr_flags_offset + 2)) return status(-EFAULT);
            std::memset(out, 0, out_cap);
            store_ifr_name(out, dev->link().name);
            auto flags = static_cast<unsigned short>(s.flags);
            std::memcpy(out + ifr_flags_offset, &flags, sizeof flags);
            return {0, out_cap};
        }
        case TUNSETQUEUE: {
            if (!need_in(ifr_flags_offset + 2)) return status(-EFAULT);
            if (!dev) return status(-EINVAL);
            unsigned u = load_ifr_flags(in);
            if (u & iff_attach_queue) return status(dev->enable_queue(q));
            if (u & iff_detach_queue) return status(dev->disable_queue(q));
            return status(-EINVAL);
        }
        case TUNGETFEATURES:
            if (!need_out(sizeof(int))) return status(-EFAULT);
            store_int(out, static_cast<int>(iff_tap | iff_no_pi | tap_iff_features));
            return {0, sizeof(int)};
        case TUNSETSNDBUF: {
            if (!need_in(sizeof(int))) return status(-EFAULT);
            int v = load_int(in);
            if (v <= 0) return status(-EINVAL);
            s.sndbuf = v;
            return {};
        }
        case TUNGETVNETHDRSZ:
            if (!need_out(sizeof(int))) return status(-EFAULT);
            store_int(out, s.vnet_hdr_sz);
            return {0, sizeof(int)};
        case TUNSETVNETHDRSZ: {
            if (!need_in(sizeof(int))) return status(-EFAULT);
            int v = load_int(in);
            if (v < static_cast<int>(vnet_hdr_len)) return status(-EINVAL);
            s.vnet_hdr_sz = v;
            return {};
        }
        case TUNGETVNETLE:
            if (!need_out(sizeof(int))) return status(-EFAULT);
            store_int(out, s.vnet_le ? 1 : 0);
            return {0, sizeof(int)};
        case TUNSETVNETLE:
            if (!need_in(sizeof(int))) return status(-EFAULT);
            s.vnet_le = load_int(in) != 0;
            return {};
        case TUNGETVNETBE:
        case TUNSETVNETBE:
            // As the kernel without CONFIG_TUN_VNET_CROSS_LE (Debian's, and UML's): no big-endian headers.
            return status(-EINVAL);
        case TUNSETOFFLOAD:
            // "let the user check for future flags"
            if (arg & ~std::uint64_t{tun_f_known}) return status(-EINVAL);
            if (!dev) return status(-ENOLINK);
            s.offloads = static_cast<unsigned>(arg);
            return {};
        case SIOCGIFHWADDR: {
            if (!dev) return status(-ENOLINK);
            if (!need_out(ifr_flags_offset + 2 + 6)) return status(-EFAULT);
            (void)dev->refresh_link();  // the MAC may have been changed with `ip link`; fall back to ours
            std::memset(out, 0, out_cap);
            store_ifr_name(out, dev->link().name);
            unsigned short family = ARPHRD_ETHER;
            std::memcpy(out + ifr_flags_offset, &family, sizeof family);
            std::memcpy(out + ifr_flags_offset + 2, dev->link().mac.data(), 6);
            return {0, out_cap};
        }
        case SIOCSIFHWADDR: {
            if (!need_in(ifr_flags_offset + 2 + 6)) return status(-EFAULT);
            if (!dev) return status(-ENOLINK);
            unsigned short family;
            std::memcpy(&family, in + ifr_flags_offset, sizeof family);
            if (family != ARPHRD_ETHER) return status(-EINVAL);  // dev_set_mac_address: sa_family != dev->type
            nl::mac_address mac;
            std::memcpy(mac.data(), in + ifr_flags_offset + 2, 6);
            auto r = dev->set_mac(mac);
            return status(r ? 0 : -r.err().code);
        }
        default:
            return status(-EINVAL);
    }
}

}  // namespace tapd
