// personality.h — how a tap device behaves towards programs: Linux macvtap's character device, or
// NetBSD's tap(4). A personality is a policy over the same device/queue machinery, not a second
// implementation: it decides who may open, what a new open file starts with, which ioctls exist and what
// they do, and how the link's state shows through reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "tapcore/queue.h"
#include "tapcore/tap_ioctl.h"

namespace tapd {

class device;

class personality {
public:
    virtual ~personality() = default;
    virtual const char* name() const noexcept = 0;
    // What a new open file starts with.
    virtual queue_settings initial_settings() const noexcept = 0;
    // 0, or a negative errno refusing the open (BSD: -EBUSY while another file has it open).
    virtual int check_open(const device& d) const noexcept = 0;
    virtual void opened(device& /*d*/) noexcept {}
    virtual void closed(device& /*d*/) noexcept {}
    // 0, or a negative errno every read gets in the link's current state (BSD: -EHOSTDOWN when down).
    virtual int read_status(device& /*d*/) noexcept { return 0; }
    // Whether readers blocked when the link goes administratively down are woken with read_status().
    virtual bool wakes_readers_on_down() const noexcept { return false; }
    // Whether a write to an interface that is down is accepted (and the frame dropped), as BSD does,
    // rather than failed with the backend's EIO.
    virtual bool accepts_writes_when_down() const noexcept { return false; }
    // What ioctl `cmd` carries; nullopt: not served (→ unknown_ioctl_errno()).
    virtual std::optional<ioctl_spec> spec(unsigned cmd, bool compat32) const noexcept = 0;
    virtual ioctl_result ioctl(queue& q, unsigned cmd, std::uint64_t arg, const std::uint8_t* in,
                               std::size_t in_len, std::uint8_t* out, std::size_t out_cap) noexcept = 0;
    virtual int unknown_ioctl_errno() const noexcept = 0;  // positive errno
};

std::unique_ptr<personality> make_linux_personality();
std::unique_ptr<personality> make_bsd_personality();

}  // namespace tapd
