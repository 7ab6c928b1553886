// linux_personality.cc — the Linux personality: macvtap's character device (drivers/net/tap.c).
// Many opens are many queues; every new open starts IFF_TAP|IFF_NO_PI|IFF_VNET_HDR; the ioctls are
// macvtap's table (linux_ioctls.h); anything else is EINVAL.
#include <cerrno>

#include "tapcore/personality.h"

namespace tapd {
namespace {

class linux_personality final : public personality {
public:
    personality_kind kind() const noexcept override { return personality_kind::linux_; }
    queue_settings initial_settings() const noexcept override { return queue_settings{}; }
    int check_open(const device&) const noexcept override { return 0; }
    ioctl_table ioctls() const noexcept override { return linux_ioctls(); }
    int unknown_ioctl() const noexcept override { return -EINVAL; }  // tap_ioctl's default
};

}  // namespace

std::unique_ptr<personality> make_linux_personality() { return std::make_unique<linux_personality>(); }

std::unique_ptr<personality> make_personality(personality_kind kind) {
    switch (kind) {
        case personality_kind::linux_: return make_linux_personality();
        case personality_kind::bsd: return make_bsd_personality();
    }
    return make_linux_personality();  // unreachable: -Wswitch checks the cases above
}

}  // namespace tapd
