// kernel_abi.cc — every kernel constant libtapcore restates, checked against the kernel's own headers.
//
// The pure headers (queue.h, vnet_hdr.h, ethernet.h, ifname.h, tap_ioctl.h, link_control.h) restate
// values so that pure logic, its unit tests and its fuzzers need no kernel headers. This file is the one
// place that includes those kernel headers and holds every restated value to them: a mismatch is a
// compile error. It defines nothing; it is compiled into tapcore_pure so the check runs with every build.
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
// Older uapi headers (Debian 12's among them) name a field of struct virtio_net_ctrl_hdr `class`, which
// C++ cannot parse; nothing here uses that struct.
#define class class_
#include <linux/virtio_net.h>
#undef class
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

#include "tapcore/ethernet.h"
#include "tapcore/ifname.h"
#include "tapcore/link_control.h"
#include "tapcore/queue.h"
#include "tapcore/tap_ioctl.h"
#include "tapcore/vnet_hdr.h"

namespace tapd {

// linux/if_tun.h: TUNSETIFF flags and TUNSETOFFLOAD bits.
static_assert(iff_tap == IFF_TAP);
static_assert(iff_no_pi == IFF_NO_PI);
static_assert(iff_one_queue == IFF_ONE_QUEUE);
static_assert(iff_vnet_hdr == IFF_VNET_HDR);
static_assert(iff_multi_queue == IFF_MULTI_QUEUE);
static_assert(iff_attach_queue == IFF_ATTACH_QUEUE);
static_assert(iff_detach_queue == IFF_DETACH_QUEUE);
static_assert(tun_f_csum == TUN_F_CSUM);
static_assert(tun_f_tso4 == TUN_F_TSO4);
static_assert(tun_f_tso6 == TUN_F_TSO6);
static_assert(tun_f_tso_ecn == TUN_F_TSO_ECN);
static_assert(tun_f_ufo == TUN_F_UFO);

// linux/virtio_net.h: struct virtio_net_hdr (the legacy 10-byte form).
static_assert(vnet_f_needs_csum == VIRTIO_NET_HDR_F_NEEDS_CSUM);
static_assert(vnet_f_data_valid == VIRTIO_NET_HDR_F_DATA_VALID);
static_assert(vnet_gso_none == VIRTIO_NET_HDR_GSO_NONE);
static_assert(vnet_gso_tcpv4 == VIRTIO_NET_HDR_GSO_TCPV4);
static_assert(vnet_gso_udp == VIRTIO_NET_HDR_GSO_UDP);
static_assert(vnet_gso_tcpv6 == VIRTIO_NET_HDR_GSO_TCPV6);
#ifdef VIRTIO_NET_HDR_GSO_UDP_L4  // uapi since Linux 6.2; the value is older (SKB_GSO_UDP_L4, 4.18)
static_assert(vnet_gso_udp_l4 == VIRTIO_NET_HDR_GSO_UDP_L4);
#endif
static_assert(vnet_gso_ecn == VIRTIO_NET_HDR_GSO_ECN);
static_assert(vnet_hdr_len == sizeof(struct virtio_net_hdr));

// linux/if.h: interface names, flags, and struct ifreq's layout.
static_assert(ifnamsiz == IFNAMSIZ);
static_assert(iff_up == IFF_UP);
static_assert(ifreq_size == sizeof(struct ifreq));
static_assert(ifr_flags_offset == offsetof(struct ifreq, ifr_flags));
static_assert(ifr_flags_offset == offsetof(struct ifreq, ifr_hwaddr));
static_assert(ifr_flags_offset == IFNAMSIZ);
// A 32-bit caller's struct ifreq: the name, then a union whose largest member is 16 bytes there
// (struct sockaddr; struct ifmap shrinks to 16 with 32-bit longs). The kernel has it as compat_ifreq.
static_assert(ifreq_size_32 == IFNAMSIZ + sizeof(struct sockaddr));

// linux/if_ether.h and netinet/in.h: what the L2 parser and the L3 parsers after it look for.
static_assert(eth_alen == ETH_ALEN);
static_assert(eth_hlen == ETH_HLEN);
static_assert(eth_type_offset + 2 == ETH_HLEN);
static_assert(eth_p_ip == ETH_P_IP);
static_assert(eth_p_arp == ETH_P_ARP);
static_assert(eth_p_ipv6 == ETH_P_IPV6);
static_assert(eth_p_8021q == ETH_P_8021Q);
static_assert(eth_p_8021ad == ETH_P_8021AD);
static_assert(ipproto_tcp == IPPROTO_TCP);
static_assert(ipproto_udp == IPPROTO_UDP);
static_assert(ipproto_sctp == IPPROTO_SCTP);
static_assert(ipproto_udplite == IPPROTO_UDPLITE);

// linux/if_link.h: macvlan modes (netlink passes the enum's value as IFLA_MACVLAN_MODE).
static_assert(static_cast<unsigned>(macvlan_mode::private_) == MACVLAN_MODE_PRIVATE);
static_assert(static_cast<unsigned>(macvlan_mode::vepa) == MACVLAN_MODE_VEPA);
static_assert(static_cast<unsigned>(macvlan_mode::bridge) == MACVLAN_MODE_BRIDGE);
static_assert(static_cast<unsigned>(macvlan_mode::passthru) == MACVLAN_MODE_PASSTHRU);

}  // namespace tapd
