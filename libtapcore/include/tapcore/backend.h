// backend.h — the network side of a device: where written frames go and received frames come from.
//
// Every backend speaks one format in both directions: a 10-byte virtio_net_hdr in host order followed by
// the Ethernet frame. The device side (queues, readers' own header sizes and byte orders) is converted to
// and from it in device.cc, so backends stay thin wrappers over one kernel object each.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace tapd {

class backend {
public:
    virtual ~backend() = default;
    // The fd that becomes readable when frames arrive. Non-blocking.
    virtual int fd() const = 0;
    // Takes the next received frame, header first. Sets *frame to it and returns its length (header
    // included); -EAGAIN when none is waiting, or another negative errno. Never blocks. The bytes stay
    // valid, and writable, until the next call, and frame_headroom - vnet_hdr_len bytes in front of
    // *frame are writable too (so a reader's header can be laid out in place). Backends receive in
    // batches behind this call where their kernel object allows it.
    virtual long receive(std::uint8_t** frame) noexcept = 0;
    // Sends one frame with its 10-byte header. Returns the frame length or a negative errno.
    virtual long transmit(const std::uint8_t* hdr, const std::uint8_t* frame, std::size_t len) noexcept = 0;
    // Asked when the kernel reports the link deleted from tapd's namespace: is the kernel object really
    // gone (true), or was the link only moved to another namespace while the backend still works?
    virtual bool link_gone() noexcept { return true; }
    // Carrier on or off (the BSD personality: carrier follows the open). Backends that cannot control
    // their link's carrier ignore it.
    virtual void set_carrier(bool /*on*/) noexcept {}
};

// A receive/transmit error that means the backend's kernel object is gone for good.
inline bool backend_gone_errno(long err) { return err == -EBADFD || err == -ENETDOWN || err == -ENXIO || err == -ENODEV; }

}  // namespace tapd
