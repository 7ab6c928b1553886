// flow_hash.cc — 5-tuple hash of an Ethernet frame (IPv4/IPv6, TCP/UDP/SCTP/UDPLITE ports, VLAN tags
// skipped). Pure logic, fuzzed: it reads outside input and must never look past `len`.
#include "tapcore/flow_hash.h"

#include <cstring>

#include "tapcore/ethernet.h"

namespace tapd {
namespace {

// A 32-bit mixing step (murmur3's finaliser); good spread, no table, no allocation.
std::uint32_t mix(std::uint32_t h, std::uint32_t k) {
    k *= 0xcc9e2d51u;
    k = (k << 15) | (k >> 17);
    k *= 0x1b873593u;
    h ^= k;
    h = (h << 13) | (h >> 19);
    return h * 5 + 0xe6546b64u;
}

std::uint32_t fmix(std::uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

std::uint32_t load32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

bool has_ports(std::uint8_t proto) {
    return proto == ipproto_tcp || proto == ipproto_udp || proto == ipproto_sctp || proto == ipproto_udplite;
}

}  // namespace

std::uint32_t flow_hash(const std::uint8_t* f, std::size_t len) {
    auto l2 = parse_l2(f, len);  // up to two VLAN tags (802.1Q, 802.1ad / QinQ) skipped
    if (!l2) return 0;
    const std::size_t off = l2->l3;
    std::uint32_t h = 0x9747b28cu;
    std::uint8_t proto = 0;
    std::size_t l4 = 0;
    if (l2->ethertype == eth_p_ip) {
        if (len < off + 20) return 0;
        unsigned ihl = (f[off] & 0x0f) * 4u;
        if (ihl < 20 || len < off + ihl) return 0;
        proto = f[off + 9];
        h = mix(h, load32(f + off + 12));
        h = mix(h, load32(f + off + 16));
        // Fragments after the first carry no ports: hash addresses only, so a flow's fragments stay together.
        bool fragment = ((f[off + 6] & 0x3f) | f[off + 7]) != 0;
        l4 = fragment ? 0 : off + ihl;
    } else if (l2->ethertype == eth_p_ipv6) {
        if (len < off + 40) return 0;
        proto = f[off + 6];
        for (std::size_t i = 8; i < 40; i += 4) h = mix(h, load32(f + off + i));
        l4 = off + 40;
    } else {
        return 0;
    }
    h = mix(h, proto);
    if (l4 && has_ports(proto) && len >= l4 + 4) h = mix(h, load32(f + l4));
    h = fmix(h);
    return h ? h : 1;  // 0 is reserved for "no flow"
}

}  // namespace tapd
