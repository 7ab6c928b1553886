// backend.h — the network side of a device: where written frames go and received frames come from.
//
// Every backend speaks one format in both directions: a 10-byte virtio_net_hdr in host order followed by
// the Ethernet frame. The device side (queues, readers' own header sizes and byte orders) is converted to
// and from it in device.cc, so backends stay thin wrappers over one kernel object each.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tapd {

class backend {
public:
    virtual ~backend() = default;
    // The fd that becomes readable when frames arrive. Non-blocking.
    virtual int fd() const = 0;
    // Reads one frame, header first, into buf. Returns its length, -EAGAIN when none is waiting, or
    // another negative errno. Never blocks.
    virtual long receive(std::uint8_t* buf, std::size_t cap) noexcept = 0;
    // Sends one frame with its 10-byte header. Returns the frame length or a negative errno.
    virtual long transmit(const std::uint8_t* hdr, const std::uint8_t* frame, std::size_t len) noexcept = 0;
};

}  // namespace tapd
