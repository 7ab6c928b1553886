// queue.cc — bounded frame rings and the reader-side frame layout. See queue.h.
#include "tapcore/queue.h"

#include <cerrno>
#include <cstring>

namespace tapd {

frame_ring::frame_ring(std::size_t capacity) : slots_(capacity ? capacity : 1) {}

bool frame_ring::push(const vnet_hdr& h, const std::uint8_t* frame, std::size_t len) {
    if (full()) return false;
    frame_slot& s = slots_[(head_ + count_) % slots_.size()];
    if (!s.buf || s.cap < len) {  // an unused slot has no buffer even for an empty frame
        // Grow to at least a full Ethernet frame so MTU-sized traffic allocates once per slot, ever.
        std::size_t cap = len < 2048 ? 2048 : len;
        s.buf = std::make_unique_for_overwrite<std::uint8_t[]>(frame_headroom + cap);
        s.cap = cap;
    }
    std::memcpy(s.data(), frame, len);
    s.len = len;
    s.hdr = h;
    ++count_;
    return true;
}

void frame_ring::pop() {
    if (!count_) return;
    head_ = (head_ + 1) % slots_.size();
    --count_;
}

long format_for_reader(const queue_settings& s, const vnet_hdr& h, std::uint8_t* frame, std::size_t len,
                       std::size_t read_size, const std::uint8_t** out) {
    if (read_size == 0) return 0;  // tap_do_read: a zero-length read returns 0 and consumes nothing
    std::size_t hdr_sz = 0;
    if (s.has_vnet_hdr()) {
        hdr_sz = static_cast<std::size_t>(s.vnet_hdr_sz);
        if (read_size < hdr_sz) return -EINVAL;
        if (hdr_sz > frame_headroom) return -ENOBUFS;
        std::uint8_t* p = frame - hdr_sz;
        vnet_hdr_encode(h, s.little_endian(), p);
        std::memset(p + vnet_hdr_len, 0, hdr_sz - vnet_hdr_len);
    }
    std::size_t total = hdr_sz + len;
    *out = frame - hdr_sz;
    return static_cast<long>(total < read_size ? total : read_size);
}

}  // namespace tapd
