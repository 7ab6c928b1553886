// linux_ioctls.h — macvtap's ioctl table (tap_ioctl in drivers/net/tap.c), inside libtapcore only: the
// Linux personality serves it whole, the BSD personality picks the rows it serves by number (row()), so
// each of these ioctls is described once. The handlers are in tap_ioctl.cc.
#pragma once

#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <array>

#include "tapcore/tap_ioctl.h"

namespace tapd::linux_tap {

ioctl_result tunsetiff(queue& q, const ioctl_call& c) noexcept;
ioctl_result tungetiff(queue& q, const ioctl_call& c) noexcept;
ioctl_result tunsetqueue(queue& q, const ioctl_call& c) noexcept;
ioctl_result siocgifhwaddr(queue& q, const ioctl_call& c) noexcept;
ioctl_result siocsifhwaddr(queue& q, const ioctl_call& c) noexcept;
ioctl_result tungetfeatures(queue& q, const ioctl_call& c) noexcept;
ioctl_result tungetvnethdrsz(queue& q, const ioctl_call& c) noexcept;
ioctl_result tunsetvnethdrsz(queue& q, const ioctl_call& c) noexcept;
ioctl_result tungetvnetle(queue& q, const ioctl_call& c) noexcept;
ioctl_result tunsetvnetle(queue& q, const ioctl_call& c) noexcept;
ioctl_result tunsetsndbuf(queue& q, const ioctl_call& c) noexcept;
ioctl_result tunsetoffload(queue& q, const ioctl_call& c) noexcept;
ioctl_result vnet_be(queue& q, const ioctl_call& c) noexcept;

using enum ioctl_arg;

// clang-format off: one row per line, in columns
inline constexpr std::array<ioctl_row, 14> table{{
    // cmd              name               in      out     handler
    {TUNSETIFF, "TUNSETIFF", ifreq, ifreq, tunsetiff},  // the real name is written back
    {TUNGETIFF, "TUNGETIFF", none, ifreq, tungetiff},
    {TUNSETQUEUE, "TUNSETQUEUE", ifreq, none, tunsetqueue},
    {SIOCGIFHWADDR, "SIOCGIFHWADDR", none, ifreq, siocgifhwaddr},
    {SIOCSIFHWADDR, "SIOCSIFHWADDR", ifreq, none, siocsifhwaddr},
    {TUNGETFEATURES, "TUNGETFEATURES", none, int_, tungetfeatures},
    {TUNGETVNETHDRSZ, "TUNGETVNETHDRSZ", none, int_, tungetvnethdrsz},
    {TUNSETVNETHDRSZ, "TUNSETVNETHDRSZ", int_, none, tunsetvnethdrsz},
    {TUNGETVNETLE, "TUNGETVNETLE", none, int_, tungetvnetle},
    {TUNSETVNETLE, "TUNSETVNETLE", int_, none, tunsetvnetle},
    {TUNSETSNDBUF, "TUNSETSNDBUF", int_, none, tunsetsndbuf},
    {TUNSETOFFLOAD, "TUNSETOFFLOAD", value, none, tunsetoffload},
    // Served, but always EINVAL (no big-endian headers): nothing to copy either way.
    {TUNGETVNETBE, "TUNGETVNETBE", none, none, vnet_be},
    {TUNSETVNETBE, "TUNSETVNETBE", none, none, vnet_be},
}};
// clang-format on
static_assert(ioctl_cmds_unique(table));

// The row for `cmd`; not a Linux tap ioctl → a compile error where it is used.
consteval ioctl_row row(unsigned long cmd) {
    for (const ioctl_row& r : table)
        if (r.cmd == cmd) return r;
    throw "not an ioctl of the Linux tap table";
}

}  // namespace tapd::linux_tap
