// tap_ioctl.cc — the table machinery (find_ioctl, call_ioctl) and macvtap's ioctl handlers (tap_ioctl in
// drivers/net/tap.c) with their argument checks and errnos, plus tapd's deliberate differences (noted
// where they are). The rows are in linux_ioctls.h. Never throws.
#include "tapcore/tap_ioctl.h"

#include <net/if_arp.h>

#include <cerrno>
#include <cstring>

#include "linux_ioctls.h"
#include "tapcore/device.h"
#include "tapcore/ifname.h"
#include "tapcore/log.h"
#include "tapcore/queue.h"

namespace tapd {

const ioctl_row* find_ioctl(ioctl_table table, unsigned cmd) noexcept {
    for (const ioctl_row& r : table)
        if (r.cmd == cmd) return &r;
    return nullptr;
}

ioctl_result call_ioctl(const ioctl_row& row, queue& q, const ioctl_call& c, bool compat32) noexcept {
    const ioctl_spec s = row.spec(compat32);
    if (c.in_len < s.in_size || c.out_cap < s.out_size) return {-EFAULT, 0};
    return row.run(q, c);
}

ioctl_table linux_ioctls() noexcept {
    return linux_tap::table;
}

std::optional<unsigned> tunsetiff_flags(unsigned current, unsigned requested) {
    constexpr unsigned tap_iff_features = iff_vnet_hdr | iff_multi_queue;
    unsigned u = requested & ~iff_one_queue;
    if ((u & ~tap_iff_features) != (iff_no_pi | iff_tap)) return std::nullopt;
    return (current & ~tap_iff_features) | u;
}

namespace linux_tap {
namespace {

constexpr unsigned tun_f_known = tun_f_csum | tun_f_tso4 | tun_f_tso6 | tun_f_tso_ecn | tun_f_ufo;
constexpr std::size_t hwaddr_len = 6;  // ifr_hwaddr.sa_data bytes that hold an Ethernet address

int load_int(const std::uint8_t* p) {
    int v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

ioctl_result out_int(const ioctl_call& c, int v) {
    std::memcpy(c.out, &v, sizeof v);
    return {0, sizeof v};
}

unsigned short load_ifr_flags(const std::uint8_t* ifr) {
    unsigned short v;
    std::memcpy(&v, ifr + ifr_flags_offset, sizeof v);
    return v;
}

// An ioctl that returns no data: just its status.
ioctl_result status(long err) {
    return {err, 0};
}

}  // namespace

ioctl_result tunsetiff(queue& q, const ioctl_call& c) noexcept {
    if (c.out_cap < c.in_len) return status(-EFAULT);
    auto flags = tunsetiff_flags(q.settings.flags, load_ifr_flags(c.in));
    if (!flags) return status(-EINVAL);
    q.settings.flags = *flags;
    // Deliberate difference from macvtap (which ignores the name): write the real interface name back,
    // as tun does, because socat and OpenVPN configure the interface by that name.
    std::memcpy(c.out, c.in, c.in_len);
    if (device* dev = q.dev()) store_ifname(c.out, dev->link().name);
    return {0, c.in_len};
}

ioctl_result tungetiff(queue& q, const ioctl_call& c) noexcept {
    device* dev = q.dev();
    if (!dev) return status(-ENOLINK);
    std::memset(c.out, 0, c.out_cap);
    store_ifname(c.out, dev->link().name);
    auto flags = static_cast<unsigned short>(q.settings.flags);
    std::memcpy(c.out + ifr_flags_offset, &flags, sizeof flags);
    return {0, c.out_cap};
}

ioctl_result tunsetqueue(queue& q, const ioctl_call& c) noexcept {
    device* dev = q.dev();
    if (!dev) return status(-EINVAL);
    unsigned u = load_ifr_flags(c.in);
    if (u & iff_attach_queue) return status(dev->enable_queue(q));
    if (u & iff_detach_queue) return status(dev->disable_queue(q));
    return status(-EINVAL);
}

ioctl_result siocgifhwaddr(queue& q, const ioctl_call& c) noexcept {
    device* dev = q.dev();
    if (!dev) return status(-ENOLINK);
    // The MAC may have been changed with `ip link`: ask the kernel, and answer with tapd's copy if that
    // fails (the link is going away; the monitor will say so).
    if (int e = dev->reread_link_state())
        log::writef(log::level::debug, "SIOCGIFHWADDR %s: re-read failed (%s), answering from tapd's copy",
                    dev->link().name.c_str(), std::strerror(-e));
    std::memset(c.out, 0, c.out_cap);
    store_ifname(c.out, dev->link().name);
    unsigned short family = ARPHRD_ETHER;
    std::memcpy(c.out + ifr_flags_offset, &family, sizeof family);
    std::memcpy(c.out + ifr_flags_offset + 2, dev->link().mac.data(), hwaddr_len);
    return {0, c.out_cap};
}

ioctl_result siocsifhwaddr(queue& q, const ioctl_call& c) noexcept {
    device* dev = q.dev();
    if (!dev) return status(-ENOLINK);
    unsigned short family;
    std::memcpy(&family, c.in + ifr_flags_offset, sizeof family);
    if (family != ARPHRD_ETHER) return status(-EINVAL);  // dev_set_mac_address: sa_family != dev->type
    mac_address mac;
    std::memcpy(mac.data(), c.in + ifr_flags_offset + 2, hwaddr_len);
    return status(dev->set_mac(mac));
}

ioctl_result tungetfeatures(queue&, const ioctl_call& c) noexcept {
    return out_int(c, static_cast<int>(iff_tap | iff_no_pi | iff_vnet_hdr | iff_multi_queue));
}

ioctl_result tungetvnethdrsz(queue& q, const ioctl_call& c) noexcept {
    return out_int(c, q.settings.vnet_hdr_sz);
}

ioctl_result tunsetvnethdrsz(queue& q, const ioctl_call& c) noexcept {
    int v = load_int(c.in);
    if (v < static_cast<int>(vnet_hdr_len)) return status(-EINVAL);
    q.settings.vnet_hdr_sz = v;
    return {};
}

ioctl_result tungetvnetle(queue& q, const ioctl_call& c) noexcept {
    return out_int(c, q.settings.vnet_le ? 1 : 0);
}

ioctl_result tunsetvnetle(queue& q, const ioctl_call& c) noexcept {
    q.settings.vnet_le = load_int(c.in) != 0;
    return {};
}

ioctl_result tunsetsndbuf(queue& q, const ioctl_call& c) noexcept {
    int v = load_int(c.in);
    if (v <= 0) return status(-EINVAL);
    q.settings.sndbuf = v;
    return {};
}

ioctl_result tunsetoffload(queue& q, const ioctl_call& c) noexcept {
    // "let the user check for future flags"
    if (c.arg & ~std::uint64_t{tun_f_known}) return status(-EINVAL);
    if (!q.dev()) return status(-ENOLINK);
    q.settings.offloads = static_cast<unsigned>(c.arg);
    return {};
}

ioctl_result vnet_be(queue&, const ioctl_call&) noexcept {
    // As the kernel without CONFIG_TUN_VNET_CROSS_LE (Debian's, and UML's): no big-endian headers.
    return status(-EINVAL);
}

}  // namespace linux_tap
}  // namespace tapd
