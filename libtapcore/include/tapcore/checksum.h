// checksum.h — the Internet checksum (RFC 1071), and completing a partial checksum the way
// skb_checksum_help does for a reader that did not accept checksum offload.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tapd {

// Ones' complement sum of `len` bytes starting at `p`, added to `sum` (not folded, not inverted).
std::uint32_t csum_partial(const std::uint8_t* p, std::size_t len, std::uint32_t sum);
// Folds a 32-bit sum to 16 bits and inverts it: the value to store in a header (host order).
std::uint16_t csum_fold(std::uint32_t sum);

// CHECKSUM_PARTIAL → complete: sums the frame from csum_start to its end (the checksum field holds the
// pseudo-header sum, as the kernel leaves it) and stores the result at csum_start + csum_offset. A result
// of 0 is stored as 0xffff (CSUM_MANGLED_0) so a UDP checksum never reads as "none". Returns 0, or
// -EINVAL when the field is not inside the frame.
int csum_complete(std::uint8_t* frame, std::size_t len, std::size_t csum_start, std::size_t csum_offset);

}  // namespace tapd
