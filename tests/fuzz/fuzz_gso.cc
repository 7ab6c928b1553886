// fuzz_gso.cc — software segmentation and checksum completion on arbitrary frames.
//
// Input layout: [0..9] a virtio_net_hdr (little endian) as the kernel or a program might give it,
// [10] bit 0: partial checksums for the segments, [11..] the frame. Every offset gso.cc uses comes from
// these bytes; the frame is an exact-size heap copy so ASan reports any byte touched outside it.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "tapcore/checksum.h"
#include "tapcore/frame.h"
#include "tapcore/gso.h"
#include "tapcore/vnet_hdr.h"

using namespace tapd;

namespace {

void require(bool ok) {
    if (!ok) std::abort();
}

struct sink_state {
    std::size_t frame_len;
    std::size_t total_payload = 0;
    long segments = 0;
};

void sink(void* c, const vnet_hdr& h, std::uint8_t* seg, std::size_t len) {
    auto* s = static_cast<sink_state*>(c);
    require(len <= s->frame_len);  // a segment is never larger than the super-frame
    // The headroom in front of each segment must be writable (readers' headers go there).
    std::memset(seg - frame_headroom, 0xa5, frame_headroom);
    if (h.flags & vnet_f_needs_csum) require(csum_complete(seg, len, h.csum_start, h.csum_offset) == 0);
    ++s->segments;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 11) return 0;
    vnet_hdr h = vnet_hdr_decode(data, true);
    bool partial = data[10] & 1;
    std::size_t len = size - 11;
    if (len > max_gso_frame) return 0;
    auto frame = std::make_unique<std::uint8_t[]>(len ? len : 1);
    std::memcpy(frame.get(), data + 11, len);

    // The reader-side paths: segmentation into a buffer exactly as large as the frame, with headroom.
    if (h.is_gso()) {
        auto out = std::make_unique<std::uint8_t[]>(frame_headroom + (len ? len : 1));
        sink_state st{len};
        long n = gso_segment(h, frame.get(), len, out.get() + frame_headroom, partial, sink, &st);
        require(n == -EINVAL || (n >= 1 && n == st.segments));
        long payload = gso_payload_len(h, frame.get(), len);
        if (h.gso_size) require((payload < 0) == (n < 0));  // mss 0 is refused by segmentation alone
        if (n > 0 && h.gso_size) require(n == (payload + h.gso_size - 1) / h.gso_size || (payload == 0 && n == 1));
        // The write-side fix-up works in place.
        vnet_hdr w = h;
        w.flags &= static_cast<std::uint8_t>(~vnet_f_needs_csum);
        int r = gso_make_partial(w, frame.get(), len);
        if (r == 0) require((w.flags & vnet_f_needs_csum) && w.csum_start + w.csum_offset + 2u <= len);
    }
    // Checksum completion on whatever csum_start / csum_offset say.
    if (h.flags & vnet_f_needs_csum) (void)gso_complete_csum(h, frame.get(), len);
    return 0;
}
