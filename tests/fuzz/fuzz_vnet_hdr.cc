// fuzz_vnet_hdr.cc — the vnet header codec, tap_get_user's checks and the reader-side layout.
//
// Input layout (everything past the first 14 bytes is the frame):
//   [0]     bit 0: reader has IFF_VNET_HDR, bit 1: TUNSETVNETLE
//   [1]     reader's vnet_hdr_sz = 10 + (byte % 64)   (10..73: also past frame_headroom → -ENOBUFS)
//   [2..3]  read size, little endian
//   [4..13] the 10-byte virtio_net_hdr a program wrote
//   [14..]  the frame
// Buffers are exact-size heap copies so ASan reports any byte read or written outside them.
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "tapcore/frame.h"
#include "tapcore/queue.h"
#include "tapcore/vnet_hdr.h"

using namespace tapd;

namespace {

void require(bool ok) {
    if (!ok) std::abort();
}

bool same(const vnet_hdr& a, const vnet_hdr& b) {
    return a.flags == b.flags && a.gso_type == b.gso_type && a.hdr_len == b.hdr_len && a.gso_size == b.gso_size &&
           a.csum_start == b.csum_start && a.csum_offset == b.csum_offset;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 14) return 0;
    queue_settings s;
    s.flags = iff_tap | iff_no_pi | ((data[0] & 1) ? iff_vnet_hdr : 0u);
    s.vnet_le = (data[0] & 2) != 0;
    s.vnet_hdr_sz = 10 + data[1] % 64;  // TUNSETVNETHDRSZ refuses < 10
    const std::size_t read_size = data[2] | (std::size_t{data[3]} << 8);

    // Decode from an exact 10-byte copy.
    auto raw = std::make_unique<std::uint8_t[]>(vnet_hdr_len);
    std::memcpy(raw.get(), data + 4, vnet_hdr_len);
    const bool le = s.little_endian();
    vnet_hdr h = vnet_hdr_decode(raw.get(), le);

    // Encode/decode round-trip in both byte orders reproduces the bytes.
    for (bool order : {true, false}) {
        auto enc = std::make_unique<std::uint8_t[]>(vnet_hdr_len);
        vnet_hdr x = vnet_hdr_decode(raw.get(), order);
        vnet_hdr_encode(x, order, enc.get());
        require(std::memcmp(enc.get(), raw.get(), vnet_hdr_len) == 0);
        require(same(vnet_hdr_decode(enc.get(), order), x));
    }

    const std::size_t frame_len = size - 14;

    // tap_get_user's checks; on success the header must describe something inside the frame.
    vnet_hdr checked = h;
    int rc = vnet_hdr_check_tx(checked, frame_len);
    require(rc == 0 || rc == -EINVAL);
    if (rc == 0) {
        require(checked.hdr_len <= frame_len);
        require(checked.hdr_len >= h.hdr_len);
        if (checked.flags & vnet_f_needs_csum)
            require(std::size_t{checked.csum_start} + checked.csum_offset + 2 <= frame_len &&
                    std::size_t{checked.csum_start} + checked.csum_offset + 2 <= checked.hdr_len);
        else
            require(checked.hdr_len == h.hdr_len);
        if (checked.is_gso()) require(checked.gso_size != 0);
        if (checked.gso_type == vnet_gso_ecn) std::abort();
        require(checked.flags == h.flags && checked.gso_type == h.gso_type && checked.gso_size == h.gso_size &&
                checked.csum_start == h.csum_start && checked.csum_offset == h.csum_offset);
        int f = check_tx_frame(frame_len, 1500, checked.is_gso());
        require(f == 0 || f == -EINVAL || f == -EMSGSIZE);
    }

    // The read side: the frame in an exact buffer with frame_headroom in front, as in a ring slot.
    auto buf = std::make_unique<std::uint8_t[]>(frame_headroom + frame_len);
    std::uint8_t* frame = buf.get() + frame_headroom;
    std::memcpy(frame, data + 14, frame_len);
    const std::uint8_t* out = nullptr;
    long n = format_for_reader(s, h, frame, frame_len, read_size, &out);
    const std::size_t hdr_sz = s.has_vnet_hdr() ? static_cast<std::size_t>(s.vnet_hdr_sz) : 0;
    if (read_size == 0) {
        require(n == 0);
    } else if (s.has_vnet_hdr() && read_size < hdr_sz) {
        require(n == -EINVAL);
    } else if (hdr_sz > frame_headroom) {
        require(n == -ENOBUFS);
    } else {
        require(n >= 0);  // 0 only for an empty frame without a header
        std::size_t want = hdr_sz + frame_len < read_size ? hdr_sz + frame_len : read_size;
        require(static_cast<std::size_t>(n) == want);
        require(out == frame - hdr_sz);
        require(out >= buf.get() && out + n <= buf.get() + frame_headroom + frame_len);
        volatile std::uint8_t sink = 0;
        for (long i = 0; i < n; ++i) sink = sink ^ out[i];  // ASan checks every byte of the reply
        if (hdr_sz) {
            require(same(vnet_hdr_decode(out, le), h));
            for (std::size_t i = vnet_hdr_len; i < hdr_sz; ++i) require(out[i] == 0);
        }
        require(std::memcmp(frame, data + 14, frame_len) == 0);  // the frame itself is untouched
    }

    // Through a ring slot too (slot growth, exact copy), empty frames included: this is where the
    // null-slot bug of an empty frame was found (regression case in tests/unit/test_queue.cc).
    frame_ring ring(2);
    require(ring.push(h, data + 14, frame_len));
    require(ring.front().len == frame_len && ring.front().cap >= frame_len);
    require(std::memcmp(ring.front().data(), data + 14, frame_len) == 0);
    if (read_size >= hdr_sz && hdr_sz <= frame_headroom && read_size) {
        frame_slot& sl = ring.front();
        n = format_for_reader(s, sl.hdr, sl.data(), sl.len, read_size, &out);
        require(n >= 0 && (n > 0 || frame_len == 0) && out >= sl.buf.get() && out + n <= sl.data() + sl.cap);
    }
    ring.pop();
    require(ring.empty());
    return 0;
}
