// vnet_hdr.h — the virtio_net_hdr codec.
//
// A program that set IFF_VNET_HDR prefixes every frame with `vnet_hdr_sz` bytes (>= 10) whose first ten
// are a struct virtio_net_hdr in the byte order it chose (TUNSETVNETLE / TUNSETVNETBE); the rest is
// padding (e.g. num_buffers for 12-byte headers). tapd's backends always speak the 10-byte header in host
// order, so every frame crosses this codec once in each direction.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tapd {

// virtio_net_hdr flags / gso_type values (linux/virtio_net.h), restated so pure logic needs no kernel
// headers.
inline constexpr std::uint8_t vnet_f_needs_csum = 1;
inline constexpr std::uint8_t vnet_f_data_valid = 2;
inline constexpr std::uint8_t vnet_gso_none = 0;
inline constexpr std::uint8_t vnet_gso_tcpv4 = 1;
inline constexpr std::uint8_t vnet_gso_udp = 3;
inline constexpr std::uint8_t vnet_gso_tcpv6 = 4;
inline constexpr std::uint8_t vnet_gso_udp_l4 = 5;
inline constexpr std::uint8_t vnet_gso_ecn = 0x80;

inline constexpr std::size_t vnet_hdr_len = 10;  // sizeof(struct virtio_net_hdr)

// The header's fields in host order.
struct vnet_hdr {
    std::uint8_t flags = 0;
    std::uint8_t gso_type = vnet_gso_none;
    std::uint16_t hdr_len = 0;
    std::uint16_t gso_size = 0;
    std::uint16_t csum_start = 0;
    std::uint16_t csum_offset = 0;

    bool is_gso() const { return (gso_type & ~vnet_gso_ecn) != vnet_gso_none; }
};

// Reads 10 bytes in the given byte order.
vnet_hdr vnet_hdr_decode(const std::uint8_t* p, bool little_endian);
// Writes 10 bytes in the given byte order.
void vnet_hdr_encode(const vnet_hdr& h, bool little_endian, std::uint8_t* p);

// Validates a header written by a program, for a frame of `frame_len` bytes that follows it, the way the
// kernel's tap_get_user + virtio_net_hdr_to_skb do: fixes hdr_len up to cover the checksum field, then
// rejects what the kernel rejects. Returns 0 or -EINVAL. May modify h (the hdr_len fix-up).
int vnet_hdr_check_tx(vnet_hdr& h, std::size_t frame_len);

}  // namespace tapd
