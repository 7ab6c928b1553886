// vnet_hdr.cc — virtio_net_hdr decode/encode/validate. Pure logic, no kernel headers, fuzzed.
#include "tapcore/vnet_hdr.h"

#include <cerrno>

#include "tapcore/frame.h"

namespace tapd {
namespace {

std::uint16_t load16(const std::uint8_t* p, bool le) {
    return le ? static_cast<std::uint16_t>(p[0] | (p[1] << 8)) : static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

void store16(std::uint16_t v, bool le, std::uint8_t* p) {
    if (le) {
        p[0] = static_cast<std::uint8_t>(v);
        p[1] = static_cast<std::uint8_t>(v >> 8);
    } else {
        p[0] = static_cast<std::uint8_t>(v >> 8);
        p[1] = static_cast<std::uint8_t>(v);
    }
}

}  // namespace

vnet_hdr vnet_hdr_decode(const std::uint8_t* p, bool le) {
    vnet_hdr h;
    h.flags = p[0];
    h.gso_type = p[1];
    h.hdr_len = load16(p + 2, le);
    h.gso_size = load16(p + 4, le);
    h.csum_start = load16(p + 6, le);
    h.csum_offset = load16(p + 8, le);
    return h;
}

void vnet_hdr_encode(const vnet_hdr& h, bool le, std::uint8_t* p) {
    p[0] = h.flags;
    p[1] = h.gso_type;
    store16(h.hdr_len, le, p + 2);
    store16(h.gso_size, le, p + 4);
    store16(h.csum_start, le, p + 6);
    store16(h.csum_offset, le, p + 8);
}

int vnet_hdr_check_tx(vnet_hdr& h, std::size_t frame_len) {
    // tap_get_user: a checksum request implies the header covers the checksum field.
    if (h.flags & vnet_f_needs_csum) {
        unsigned need = unsigned{h.csum_start} + h.csum_offset + 2;
        if (need > h.hdr_len) h.hdr_len = static_cast<std::uint16_t>(need > 0xffff ? 0xffff : need);
        // skb_partial_csum_set: the checksum field must lie inside the frame.
        if (need > frame_len) return -EINVAL;
    }
    if (h.hdr_len > frame_len) return -EINVAL;

    // virtio_net_hdr_to_skb: only the GSO types the kernel knows, ECN only on TCP.
    switch (h.gso_type & ~vnet_gso_ecn) {
        case vnet_gso_none:
            if (h.gso_type & vnet_gso_ecn) return -EINVAL;
            return 0;
        case vnet_gso_tcpv4:
        case vnet_gso_tcpv6:
            break;
        case vnet_gso_udp:
        case vnet_gso_udp_l4:
            if (h.gso_type & vnet_gso_ecn) return -EINVAL;
            break;
        default:
            return -EINVAL;
    }
    // A segmentation request with no segment size cannot be carried out.
    if (h.gso_size == 0) return -EINVAL;
    // A GSO frame has at least its link header.
    if (frame_len < eth_hlen) return -EINVAL;
    return 0;
}

}  // namespace tapd
