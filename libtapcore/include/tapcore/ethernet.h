// ethernet.h — Ethernet framing as tapd reads it: the sizes, the EtherTypes and IP protocol numbers its
// parsers look for, and the one L2 parser (Ethernet header and up to two VLAN tags) that flow_hash and
// gso share. Pure: the values restate <linux/if_ether.h> and <netinet/in.h> and are static_asserted
// against them in kernel_abi.cc.
//
// The parser reads outside input (frames written by programs, frames the kernel hands over) and never
// looks at a byte at or past `len`; tests/fuzz/fuzz_l2.cc holds it to that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace tapd {

inline constexpr std::size_t eth_alen = 6;                    // ETH_ALEN
inline constexpr std::size_t eth_type_offset = 2 * eth_alen;  // after destination and source addresses
inline constexpr std::size_t eth_hlen = 14;                   // ETH_HLEN
inline constexpr std::size_t vlan_hlen = 4;                   // one 802.1Q/802.1ad tag: TPID + TCI
inline constexpr unsigned max_vlan_tags = 2;                  // 802.1ad (QinQ): outer and inner

inline constexpr std::uint16_t eth_p_ip = 0x0800;      // ETH_P_IP
inline constexpr std::uint16_t eth_p_arp = 0x0806;     // ETH_P_ARP
inline constexpr std::uint16_t eth_p_ipv6 = 0x86dd;    // ETH_P_IPV6
inline constexpr std::uint16_t eth_p_8021q = 0x8100;   // ETH_P_8021Q: a VLAN tag
inline constexpr std::uint16_t eth_p_8021ad = 0x88a8;  // ETH_P_8021AD: a service (outer) VLAN tag

inline constexpr std::uint8_t ipproto_tcp = 6;        // IPPROTO_TCP
inline constexpr std::uint8_t ipproto_udp = 17;       // IPPROTO_UDP
inline constexpr std::uint8_t ipproto_sctp = 132;     // IPPROTO_SCTP
inline constexpr std::uint8_t ipproto_udplite = 136;  // IPPROTO_UDPLITE

constexpr bool is_vlan_tpid(std::uint16_t type) {
    return type == eth_p_8021q || type == eth_p_8021ad;
}

struct l2_header {
    std::uint16_t ethertype = 0;  // what follows the tags (a third tag's TPID when there are more than two)
    std::size_t l3 = 0;           // offset of the L3 header: eth_hlen + vlans * vlan_hlen
    unsigned vlans = 0;           // tags skipped, 0 to max_vlan_tags
};

// Parses the Ethernet header and up to max_vlan_tags VLAN tags of `f` (`len` bytes). nullopt when the
// frame ends inside them. Allocates nothing; reads only f[0, len).
constexpr std::optional<l2_header> parse_l2(const std::uint8_t* f, std::size_t len) noexcept {
    if (len < eth_hlen) return std::nullopt;
    auto be16 = [f](std::size_t off) { return static_cast<std::uint16_t>((f[off] << 8) | f[off + 1]); };
    l2_header h;
    h.ethertype = be16(eth_type_offset);
    h.l3 = eth_hlen;
    while (h.vlans < max_vlan_tags && is_vlan_tpid(h.ethertype)) {
        // A tag is TPID (already read as the EtherType) + TCI; the encapsulated type follows it.
        if (len < h.l3 + vlan_hlen) return std::nullopt;
        h.ethertype = be16(h.l3 + 2);
        h.l3 += vlan_hlen;
        ++h.vlans;
    }
    return h;
}

}  // namespace tapd
