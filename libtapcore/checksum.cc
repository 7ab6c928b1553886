// checksum.cc — RFC 1071 checksums. Pure logic, fuzzed.
#include "tapcore/checksum.h"

#include <cerrno>

namespace tapd {

std::uint32_t csum_partial(const std::uint8_t* p, std::size_t len, std::uint32_t sum) {
    std::uint64_t s = sum;
    std::size_t i = 0;
    // Big-endian 16-bit words; a 64-bit accumulator cannot overflow for any frame size tapd handles.
    for (; i + 1 < len; i += 2) s += static_cast<std::uint32_t>((p[i] << 8) | p[i + 1]);
    if (i < len) s += static_cast<std::uint32_t>(p[i] << 8);
    while (s >> 32) s = (s & 0xffffffffu) + (s >> 32);
    return static_cast<std::uint32_t>(s);
}

std::uint16_t csum_fold(std::uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum & 0xffff);
}

int csum_complete(std::uint8_t* frame, std::size_t len, std::size_t csum_start, std::size_t csum_offset) {
    std::size_t field = csum_start + csum_offset;
    if (csum_start > len || field + 2 > len) return -EINVAL;
    std::uint16_t c = csum_fold(csum_partial(frame + csum_start, len - csum_start, 0));
    if (c == 0) c = 0xffff;
    frame[field] = static_cast<std::uint8_t>(c >> 8);
    frame[field + 1] = static_cast<std::uint8_t>(c);
    return 0;
}

}  // namespace tapd
