// linux_personality.cc — the Linux personality: macvtap's character device (seed 000, drivers/net/tap.c).
// Many opens are many queues; every new open starts IFF_TAP|IFF_NO_PI|IFF_VNET_HDR; the ioctls are
// tap_ioctl.cc's; anything else is EINVAL.
#include "tapcore/personality.h"

namespace tapd {
namespace {

class linux_personality final : public personality {
public:
    const char* name() const noexcept override { return "linux"; }
    queue_settings initial_settings() const noexcept override { return queue_settings{}; }
    int check_open(const device&) const noexcept override { return 0; }
    std::optional<ioctl_spec> spec(unsigned cmd, bool compat32) const noexcept override {
        return linux_ioctl_spec(cmd, compat32);
    }
    ioctl_result ioctl(queue& q, unsigned cmd, std::uint64_t arg, const std::uint8_t* in, std::size_t in_len,
                       std::uint8_t* out, std::size_t out_cap) noexcept override {
        return linux_ioctl(q, cmd, arg, in, in_len, out, out_cap);
    }
    int unknown_ioctl_errno() const noexcept override { return EINVAL; }
};

}  // namespace

std::unique_ptr<personality> make_linux_personality() { return std::make_unique<linux_personality>(); }

}  // namespace tapd
