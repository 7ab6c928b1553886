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

// Called once per segment with the segment's own vnet header; `seg` has frame_headroom writable bytes
// in front of it.
using segment_sink = void (*)(void* ctx, const vnet_hdr& seg_hdr, std::uint8_t* seg, std::size_t len);

// Segments `frame` (described by `h`, which must be a GSO header) into segments written at `out`, which
// must have room for `len` bytes. Returns the number of segments emitted, or -EINVAL for a frame whose
// headers do not parse or do not match h (nothing emitted then).
// partial_csum: the reader accepts checksum offload (but not this segmentation): segments keep a partial
// checksum (the pseudo-header sum in the field, NEEDS_CSUM in their header) as __skb_gso_segment does
// with NETIF_F_HW_CSUM. Otherwise every checksum is complete and the segments' headers are empty.
// Handles TCPV4, TCPV6 (with or without ECN) and UDP_L4 (USO), over Ethernet with up to two VLAN tags.
long gso_segment(const vnet_hdr& h, const std::uint8_t* frame, std::size_t len, std::uint8_t* out,
                 bool partial_csum, segment_sink sink, void* ctx);

// The transport payload of a GSO frame (bytes after its TCP/UDP header), or -EINVAL if the headers do not
// parse. A GSO frame whose payload fits in one segment is no GSO frame at all to the kernel.
long gso_payload_len(const vnet_hdr& h, const std::uint8_t* frame, std::size_t len);

// A GSO frame written without NEEDS_CSUM: the kernel's tcp4_gso_segment makes its checksum partial
// before segmenting; this does the same in place (pseudo-header sum in the field, h gets NEEDS_CSUM), so
// the TUN backend's receive path sees a consistent frame. Returns 0 or -EINVAL.
int gso_make_partial(vnet_hdr& h, std::uint8_t* frame, std::size_t len);

// Makes a frame with NEEDS_CSUM complete (its checksum computed). Returns 0 or -EINVAL.
int gso_complete_csum(const vnet_hdr& h, std::uint8_t* frame, std::size_t len);

}  // namespace tapd
