// packet_backend.h — the network side over an AF_PACKET socket bound to one link: a macvlan tapd made
// (macvtap in userspace) or an existing link it attaches to.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>

#include "tapcore/backend.h"
#include "tapcore/result.h"
#include "tapcore/unique_fd.h"

namespace tapd {

class packet_backend final : public backend {
public:
    // Binds to link `ifindex`. `promisc`: also receive frames not addressed to the link (for attaching to
    // an existing link as a bridge port would; a macvlan filters by its own MAC and needs none).
    static result<std::unique_ptr<packet_backend>> create(int ifindex, bool promisc);

    int fd() const override { return fd_.get(); }
    long receive(std::uint8_t** frame) noexcept override;
    long transmit(const std::uint8_t* hdr, const std::uint8_t* frame, std::size_t len) noexcept override;
    // The bound link no longer exists in this namespace (an admin-down link also reports ENETDOWN).
    bool link_gone() noexcept override;

    static constexpr unsigned batch = 32;

private:
    packet_backend(unique_fd fd, int ifindex);
    long refill() noexcept;

    unique_fd fd_;
    int ifindex_;
    std::unique_ptr<std::uint8_t[]> bufs_;  // batch × slot, each with headroom
    std::array<mmsghdr, batch> msgs_{};
    std::array<iovec, batch> iovs_{};
    // PACKET_AUXDATA per slot: where the kernel reports the VLAN tag it took out of the frame.
    static constexpr std::size_t cmsg_space = 64;
    std::array<std::array<std::uint8_t, cmsg_space>, batch> cmsgs_{};
    unsigned got_ = 0;   // frames in the current batch
    unsigned next_ = 0;  // next one to hand out
};

}  // namespace tapd
