// personality.h — how a tap device behaves towards programs: Linux macvtap's character device, or
// NetBSD's tap(4). A personality is a policy over the same device/queue machinery, not a second
// implementation: it decides who may open, what a new open file starts with, which ioctls exist and what
// they do (its ioctl table, tap_ioctl.h), and how the link's state shows through reads.
//
// Errors: every int here is 0 or -errno (result.h states the convention).
#pragma once

#include <array>
#include <memory>

#include "tapcore/names.h"
#include "tapcore/queue.h"
#include "tapcore/tap_ioctl.h"

namespace tapd {

class device;

// `linux_` because `linux` is a predefined macro under GNU extensions.
enum class personality_kind { linux_, bsd };
inline constexpr std::array<named<personality_kind>, 2> personality_names{{
    {personality_kind::linux_, "linux"},  // macvtap's character device (drivers/net/tap.c)
    {personality_kind::bsd, "bsd"},       // NetBSD tap(4) (sys/net/if_tap.c)
}};
static_assert(names_unique(personality_names));

class personality {
  public:
    virtual ~personality() = default;
    virtual personality_kind kind() const noexcept = 0;
    // What a new open file starts with.
    virtual queue_settings initial_settings() const noexcept = 0;
    // 0, or -errno refusing the open (BSD: -EBUSY while another file has it open).
    virtual int check_open(const device& d) const noexcept = 0;
    virtual void opened(device& /*d*/) noexcept {}
    virtual void closed(device& /*d*/) noexcept {}
    // 0, or the -errno every read gets in the link's current state (BSD: -EHOSTDOWN when down).
    virtual int read_status(device& /*d*/) noexcept { return 0; }
    // Whether readers blocked when the link goes administratively down are woken with read_status().
    virtual bool wakes_readers_on_down() const noexcept { return false; }
    // Whether a write to an interface that is down is accepted (and the frame dropped), as BSD does,
    // rather than failed with the backend's EIO.
    virtual bool accepts_writes_when_down() const noexcept { return false; }
    // The ioctls served: one row per command (tap_ioctl.h).
    virtual ioctl_table ioctls() const noexcept = 0;
    // The -errno for a command that is not in the table (Linux: -EINVAL, BSD: -ENOTTY).
    virtual int unknown_ioctl() const noexcept = 0;

    const ioctl_row* find_ioctl(unsigned cmd) const noexcept { return tapd::find_ioctl(ioctls(), cmd); }
};

std::unique_ptr<personality> make_personality(personality_kind kind);
std::unique_ptr<personality> make_linux_personality();
std::unique_ptr<personality> make_bsd_personality();

}  // namespace tapd
