// gso.h — software segmentation for readers that did not accept segmentation offload.
//
// The TUN backend runs with offloads on, so the kernel hands tapd TCP super-frames (up to 64 KiB) with
// partial checksums: the cheapest form for readers that accept them (TUNSETOFFLOAD with TSO, and a vnet
// header). Every other reader must get what a NIC would have put on the wire: MSS-sized segments with
// complete checksums. gso_segment() produces those one at a time into a caller's scratch buffer, as the
// kernel's tcp_gso_segment / udp4_ufo_fragment family would: IPv4 id incremented per segment, lengths and
// checksums rewritten, TCP sequence advanced, FIN/PSH kept for the last segment and CWR for the first.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tapcore/vnet_hdr.h"

namespace tapd {

// Called once per segment; `seg` has frame_headroom writable bytes in front of it.
using segment_sink = void (*)(void* ctx, std::uint8_t* seg, std::size_t len);

// Segments `frame` (described by `h`, which must be a GSO header) into segments written at `out`, which
// must have room for max_segment_len(h, frame, len) bytes. Returns the number of segments emitted, or
// -EINVAL for a frame whose headers do not parse or do not match h (nothing emitted then).
// Handles TCPV4, TCPV6 (with or without ECN) and UDP_L4 (USO), over Ethernet with up to two VLAN tags.
long gso_segment(const vnet_hdr& h, const std::uint8_t* frame, std::size_t len, std::uint8_t* out,
                 segment_sink sink, void* ctx);

// Makes a frame with NEEDS_CSUM complete (its checksum computed). Returns 0 or -EINVAL.
int gso_complete_csum(const vnet_hdr& h, std::uint8_t* frame, std::size_t len);

}  // namespace tapd
