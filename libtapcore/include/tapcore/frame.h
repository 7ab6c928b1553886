// frame.h — Ethernet frame limits shared by the device side and the network side.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "tapcore/ethernet.h"

namespace tapd {

// The largest frame a GSO super-frame may be: an IP datagram of 64 KiB plus its link header(s).
inline constexpr std::size_t max_gso_frame = 65535 + eth_hlen + vlan_hlen;
// Room reserved in front of every stored frame so a reader's vnet header can be written in place and the
// reply leaves as one contiguous buffer (no per-frame allocation, no iovec array).
inline constexpr std::size_t frame_headroom = 64;

// Checks one frame written by a program (vnet header already removed). `gso` says whether its vnet
// header announced segmentation offload (then the frame may exceed the MTU, up to max_gso_frame).
// Returns 0, -EINVAL (shorter than an Ethernet header) or -EMSGSIZE (longer than the link can carry).
inline int check_tx_frame(std::size_t len, unsigned mtu, bool gso) {
    if (len < eth_hlen) return -EINVAL;
    std::size_t limit = gso ? max_gso_frame : mtu + eth_hlen + vlan_hlen;
    if (len > limit) return -EMSGSIZE;
    return 0;
}

}  // namespace tapd
