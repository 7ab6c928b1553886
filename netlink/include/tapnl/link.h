// link.h — tapd's view of kernel network links, and the changes it makes to them, through libnl-3 route.
//
// Every call here is a synchronous request/reply on a NETLINK_ROUTE socket to the local kernel: fast
// (microseconds) and used only on the control path (startup, ioctls such as SIOCSIFHWADDR, shutdown),
// never per frame. Nothing here shells out to `ip`. The one exception is read_state(), libtapcore's data-path
// re-read (link_control.h): a few SIOCGIF* ioctls on this socket's fd, which allocate nothing. The link
// types (link_info, mac_address, macvlan_mode) are libtapcore's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tapcore/link_control.h"
#include "tapcore/result.h"

struct nl_sock;

namespace tapd::nl {

struct link_stats {
    std::uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
    std::uint64_t rx_dropped = 0, tx_dropped = 0;
};

// Move-only owner of one NETLINK_ROUTE socket (nl_sock). Open it once at startup.
class route_socket final : public link_control {
public:
    static result<route_socket> open();
    route_socket(route_socket&& o) noexcept;
    route_socket& operator=(route_socket&& o) noexcept;
    route_socket(const route_socket&) = delete;
    route_socket& operator=(const route_socket&) = delete;
    ~route_socket();

    result<link_info> get_link(std::string_view name);
    result<link_info> get_link(int ifindex) override;
    int read_state(int ifindex, link_state& out) noexcept override;
    result<link_stats> get_stats(int ifindex);

    result<void> set_up(int ifindex, bool up);
    result<void> set_mtu(int ifindex, unsigned mtu);
    result<void> set_mac(int ifindex, const mac_address& mac) override;
    result<void> set_txqlen(int ifindex, unsigned txqlen);

    // Creates macvlan `name` on `lower` and returns its info; the caller owns its deletion.
    result<link_info> create_macvlan(std::string_view name, int lower_ifindex, macvlan_mode mode);
    result<void> delete_link(int ifindex);

private:
    explicit route_socket(nl_sock* sk) : sk_(sk) {}
    nl_sock* sk_ = nullptr;
};

}  // namespace tapd::nl
