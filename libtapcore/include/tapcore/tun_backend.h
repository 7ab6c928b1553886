// tun_backend.h — a kernel TAP interface made through /dev/net/tun (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tapcore/backend.h"
#include "tapcore/result.h"
#include "tapcore/unique_fd.h"

namespace tapd {

class tun_backend final : public backend {
public:
    // Creates (or, if it exists and is persistent, attaches to) TAP interface `name` ("tap%d" picks the
    // lowest free number). The interface exists for as long as this object: it is not made persistent, so
    // the kernel deletes it when the fd closes — also when tapd is killed.
    static result<std::unique_ptr<tun_backend>> create(const std::string& name);

    int fd() const override { return fd_.get(); }
    long receive(std::uint8_t** frame) noexcept override;
    long transmit(const std::uint8_t* hdr, const std::uint8_t* frame, std::size_t len) noexcept override;
    bool link_gone() noexcept override;
    void set_carrier(bool on) noexcept override;

    // The name the kernel gave the interface.
    const std::string& ifname() const { return ifname_; }

private:
    tun_backend(unique_fd fd, std::string ifname);
    unique_fd fd_;
    std::string ifname_;
    std::unique_ptr<std::uint8_t[]> rx_buf_;  // one frame at a time: a TUN fd has no batch read
};

}  // namespace tapd
