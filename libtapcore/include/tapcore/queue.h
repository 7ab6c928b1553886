// queue.h — one open file of a device: its bounded frame ring and its per-open settings.
//
// Theory of operation
// -------------------
// Every open() of a tap device is a queue (as in macvtap). Frames the network side receives are steered
// to one enabled queue and stored in its ring; a reader takes them out one per read(). The ring is bounded
// by the interface's txqueuelen and never blocks the daemon: a frame that does not fit is dropped and
// counted. Slots are allocated when the queue opens and grow only when a larger frame than ever before
// arrives, so the steady state allocates nothing per frame.
//
// Each slot keeps frame_headroom free bytes in front of the frame, so a reader's vnet header can be
// written in place and the reply sent as one contiguous buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tapcore/frame.h"
#include "tapcore/vnet_hdr.h"

namespace tapd {

class queue;

// The device side's hooks for one queue (implemented by the CUSE/FUSE front end's open file).
class queue_observer {
public:
    // A frame arrived. If a read is parked on this queue the observer answers it from `frame` (which has
    // frame_headroom writable bytes in front) and returns true; otherwise returns false and the frame is
    // queued.
    virtual bool try_deliver(queue& q, const vnet_hdr& h, std::uint8_t* frame, std::size_t len) noexcept = 0;
    // The ring went from empty to non-empty (poll mask changed).
    virtual void on_readable(queue& q) noexcept = 0;
    // The device is going away (or its link did): fail parked reads with `err` (negative errno).
    virtual void on_detached(queue& q, int err) noexcept = 0;
    // The link went down under a personality that fails readers then (BSD): wake parked reads with
    // `err` (negative errno); the queue stays usable.
    virtual void on_link_down(queue& q, int err) noexcept = 0;

protected:
    ~queue_observer() = default;
};

struct frame_slot {
    std::unique_ptr<std::uint8_t[]> buf;
    std::size_t cap = 0;  // bytes usable after the headroom
    std::size_t len = 0;
    vnet_hdr hdr;

    std::uint8_t* data() { return buf.get() + frame_headroom; }
};

class frame_ring {
public:
    explicit frame_ring(std::size_t capacity);
    // Copies a frame in; false (nothing stored) when full. Grows the slot if the frame is larger than it.
    bool push(const vnet_hdr& h, const std::uint8_t* frame, std::size_t len);
    frame_slot& front() { return slots_[head_]; }
    void pop();
    void clear() { head_ = count_ = 0; }
    std::size_t size() const { return count_; }
    std::size_t capacity() const { return slots_.size(); }
    bool empty() const { return count_ == 0; }
    bool full() const { return count_ == slots_.size(); }

private:
    std::vector<frame_slot> slots_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};

// IFF_* flag values (linux/if_tun.h), restated for pure logic.
inline constexpr unsigned iff_tap = 0x0002;
inline constexpr unsigned iff_no_pi = 0x1000;
inline constexpr unsigned iff_one_queue = 0x2000;
inline constexpr unsigned iff_vnet_hdr = 0x4000;
inline constexpr unsigned iff_multi_queue = 0x0100;
inline constexpr unsigned iff_attach_queue = 0x0200;
inline constexpr unsigned iff_detach_queue = 0x0400;

// TUN_F_* offload bits (linux/if_tun.h), restated for pure logic.
inline constexpr unsigned tun_f_csum = 0x01;
inline constexpr unsigned tun_f_tso4 = 0x02;
inline constexpr unsigned tun_f_tso6 = 0x04;
inline constexpr unsigned tun_f_tso_ecn = 0x08;
inline constexpr unsigned tun_f_ufo = 0x10;

// What a reader of this queue has asked for (TUNSETIFF, TUNSETVNETHDRSZ, TUNSETVNETLE/BE,
// TUNSETOFFLOAD). Defaults are macvtap's: IFF_TAP|IFF_NO_PI|IFF_VNET_HDR with a 10-byte header.
struct queue_settings {
    unsigned flags = iff_tap | iff_no_pi | iff_vnet_hdr;
    int vnet_hdr_sz = static_cast<int>(vnet_hdr_len);
    bool vnet_le = false;
    // TUN_F_* accepted by the reader. macvtap starts every device with TUN_OFFLOADS (csum, TSO4, TSO6,
    // ECN; macvtap_newlink), so a vnet-header reader that never calls TUNSETOFFLOAD gets super-frames.
    unsigned offloads = tun_f_csum | tun_f_tso4 | tun_f_tso6 | tun_f_tso_ecn;
    int sndbuf = 0x7fffffff;
    int sigio_owner = 0;    // BSD: SIGIO goes to this pid (> 0) or process group (< 0)
    bool async = false;     // BSD: TAPD_FIOASYNC on

    bool has_vnet_hdr() const { return flags & iff_vnet_hdr; }
    // virtio "legacy" headers are host-order, and big-endian headers exist only in kernels built with
    // CONFIG_TUN_VNET_CROSS_LE (TUNSETVNETBE is EINVAL otherwise, and in tapd): on the little-endian
    // hosts tapd targets every header is little endian, whatever TUNSETVNETLE says.
    bool little_endian() const { return true; }
    // Whether this reader takes the frame's checksum offload (partial checksum) as is.
    bool accepts_csum() const { return has_vnet_hdr() && (offloads & tun_f_csum); }
    // Whether this reader takes the frame's segmentation offload as is (set_offload's feature mapping).
    bool accepts_gso(const vnet_hdr& h) const {
        if (!accepts_csum()) return false;
        if ((h.gso_type & vnet_gso_ecn) && !(offloads & tun_f_tso_ecn)) return false;
        switch (h.gso_type & ~vnet_gso_ecn) {
            case vnet_gso_tcpv4: return offloads & tun_f_tso4;
            case vnet_gso_tcpv6: return offloads & tun_f_tso6;
            default: return false;  // UDP_L4 (USO) is not an offload macvtap readers can accept
        }
    }
};

// Lays out one frame for a reader: writes the reader's vnet header (if any) into the headroom before
// `frame` and truncates to `read_size`, as tap_put_user does. Sets *out to the first byte to send.
// Returns the byte count to reply, 0 for a zero-length read, or -EINVAL when the buffer cannot hold the
// vnet header. When the reader's header is larger than the headroom, returns -ENOBUFS (caller copies).
long format_for_reader(const queue_settings& s, const vnet_hdr& h, std::uint8_t* frame, std::size_t len,
                       std::size_t read_size, const std::uint8_t** out);

class device;

class queue {
public:
    queue(device& dev, std::size_t capacity, queue_observer* obs) : ring(capacity), observer(obs), dev_(&dev) {}

    device* dev() const { return dev_; }
    void detach_device() { dev_ = nullptr; }

    queue_settings settings;
    frame_ring ring;
    queue_observer* observer;
    bool enabled = true;          // receives frames (TUNSETQUEUE IFF_ATTACH_QUEUE / IFF_DETACH_QUEUE)
    std::uint64_t rx_frames = 0;  // frames stored or delivered to this queue
    std::uint64_t rx_dropped = 0; // frames dropped because the ring was full
    std::uint64_t tx_frames = 0;
    std::uint64_t tx_dropped = 0; // writes refused (bad header, bad size, backend error)

private:
    device* dev_;
};

}  // namespace tapd
