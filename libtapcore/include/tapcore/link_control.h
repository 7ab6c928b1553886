// link_control.h — what a device needs from the network link under it, and nothing about how.
//
// libtapcore sits below netlink/ (the layers go netlink and libtapcore, then cuse/, then daemon/), so
// the device speaks to its link through this interface: netlink's route_socket implements it over
// NETLINK_ROUTE, unit tests implement it with a fake. The link's description (link_info, mac_address)
// lives here for the same reason: both sides use it, and the lower one owns it.
//
// Two kinds of call, two error forms (result.h states the convention):
// - control path (startup, ioctls, the link monitor's resync): result<T>, may allocate, messages name
//   the link;
// - data path (a write that failed on a stale MTU, a BSD read while the link looks down): read_state(),
//   0 or -errno, fixed-size output, allocates nothing.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "tapcore/names.h"
#include "tapcore/result.h"

namespace tapd {

using mac_address = std::array<std::uint8_t, 6>;

inline constexpr unsigned iff_up = 0x1;  // IFF_UP (static_asserted in kernel_abi.cc)

struct link_info {
    int ifindex = 0;
    std::string name;
    unsigned mtu = 0;
    unsigned txqlen = 0;
    mac_address mac{};
    bool admin_up = false;  // IFF_UP
    bool carrier = false;   // IFF_LOWER_UP / IFF_RUNNING
    unsigned flags = 0;     // IFF_* as the kernel reports them
    std::string kind;       // "tun", "macvlan", "veth", ... (empty when the kernel gives none)
};

// The parts of a link that change under a running device and that its data path re-reads.
struct link_state {
    unsigned mtu = 0;
    bool admin_up = false;
    mac_address mac{};
};

// How a macvlan forwards between its siblings. The values are the kernel's MACVLAN_MODE_* (static_asserted
// in kernel_abi.cc), so netlink hands them over as they are.
enum class macvlan_mode : std::uint32_t { private_ = 1, vepa = 2, bridge = 4, passthru = 8 };
inline constexpr std::array<named<macvlan_mode>, 4> macvlan_mode_names{{
    {macvlan_mode::bridge, "bridge"},
    {macvlan_mode::vepa, "vepa"},
    {macvlan_mode::private_, "private"},
    {macvlan_mode::passthru, "passthru"},
}};
static_assert(names_unique(macvlan_mode_names));

class link_control {
  public:
    // Control path. The link as the kernel has it now.
    virtual result<link_info> get_link(int ifindex) = 0;
    // Control path. Sets the link's hardware address (SIOCSIFHWADDR on the device).
    virtual result<void> set_mac(int ifindex, const mac_address& mac) = 0;
    // Data path: MTU, IFF_UP and MAC of link `ifindex` into `out`. 0 or -errno; allocates nothing and
    // waits for nothing but the local kernel's answer.
    virtual int read_state(int ifindex, link_state& out) noexcept = 0;

  protected:
    ~link_control() = default;
};

}  // namespace tapd
