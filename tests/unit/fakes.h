// fakes.h — the network side of a tapd::device without a kernel: a backend that records what the device
// sends and hands out frames the test queued, and a link_control that plays the kernel's view of the
// link. Unit tests of pure logic build real devices (and real, idle event loops) on these; nothing here
// opens a netlink socket or a tap interface (test_unit does not link netlink at all).
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tapcore/backend.h"
#include "tapcore/frame.h"
#include "tapcore/link_control.h"
#include "tapcore/vnet_hdr.h"

namespace tapd::test {

inline constexpr int fake_ifindex = 7;

// What the device asked of its network side.
struct backend_log {
    std::vector<bool> carrier;  // set_carrier calls, in order
    std::vector<std::vector<std::uint8_t>> sent;
    long transmit_rc = 0;  // 0: accept (return len); else this negative errno
    bool record = true;    // keep copies of sent frames (allocates: off to count allocations)
    std::vector<std::vector<std::uint8_t>> to_receive;  // frames (without header) receive() hands out
};

class fake_backend final : public backend {
  public:
    explicit fake_backend(backend_log& log) : log_(log), fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
    ~fake_backend() override { ::close(fd_); }
    fake_backend(const fake_backend&) = delete;
    fake_backend& operator=(const fake_backend&) = delete;
    int fd() const override { return fd_; }
    long receive(std::uint8_t** frame) noexcept override {
        if (log_.to_receive.empty()) return -EAGAIN;
        std::vector<std::uint8_t> f = std::move(log_.to_receive.front());
        log_.to_receive.erase(log_.to_receive.begin());
        // frame_headroom bytes in front, then a zero (plain) 10-byte vnet header, then the frame.
        std::memset(buf_, 0, sizeof buf_);
        std::memcpy(buf_ + frame_headroom, f.data(), f.size());
        *frame = buf_ + frame_headroom - vnet_hdr_len;
        return static_cast<long>(vnet_hdr_len + f.size());
    }
    long transmit(const std::uint8_t* /*hdr*/, const std::uint8_t* frame, std::size_t len) noexcept override {
        if (log_.transmit_rc) return log_.transmit_rc;
        if (log_.record) log_.sent.emplace_back(frame, frame + len);
        return static_cast<long>(len);
    }
    bool link_gone() noexcept override { return false; }
    void set_carrier(bool on) noexcept override { log_.carrier.push_back(on); }

  private:
    backend_log& log_;
    int fd_;
    std::uint8_t buf_[frame_headroom + 2048];
};

// The kernel's side of one link, as link_control reports and changes it. `kernel` is what the kernel
// has; the device's own copy (device::link()) may lag behind it, as it does behind a real link.
class fake_links final : public link_control {
  public:
    link_info kernel;
    int fail = 0;   // non-zero: every call fails with this (positive) errno
    int reads = 0;  // read_state calls (the data-path re-read)
    int gets = 0;   // get_link calls
    std::vector<mac_address> macs_set;

    explicit fake_links(link_info k) : kernel(std::move(k)) {}

    result<link_info> get_link(int ifindex) override {
        ++gets;
        if (fail || ifindex != kernel.ifindex) return make_error(fail ? fail : ENODEV, "fake get_link");
        return kernel;
    }
    result<void> set_mac(int ifindex, const mac_address& mac) override {
        if (fail || ifindex != kernel.ifindex) return make_error(fail ? fail : ENODEV, "fake set_mac");
        macs_set.push_back(mac);
        kernel.mac = mac;
        return ok();
    }
    int read_state(int ifindex, link_state& out) noexcept override {
        ++reads;
        if (fail || ifindex != kernel.ifindex) return -(fail ? fail : ENODEV);
        out.mtu = kernel.mtu;
        out.admin_up = kernel.admin_up;
        out.mac = kernel.mac;
        return 0;
    }
};

inline link_info made_up_link(bool up = true) {
    link_info l;
    l.ifindex = fake_ifindex;
    l.name = "tap7";
    l.mtu = 1500;
    l.txqlen = 8;
    l.mac = {0xf2, 0x0b, 0xa4, 1, 2, 3};
    l.admin_up = up;
    l.flags = up ? iff_up : 0;
    l.carrier = false;
    l.kind = "tun";
    return l;
}

}  // namespace tapd::test
