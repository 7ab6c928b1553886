// device.h — one tap device: a network-side backend and the queues (open files) that share it.
//
// Theory of operation
// -------------------
// Network side (the kernel's tun_net_*): the backend's fd is watched by the event loop; when readable,
// on_ready() takes up to a batch of frames from the backend (each in the backend's buffer, with
// headroom), picks a queue by flow
// hash over the *enabled* queues (macvtap's tap_get_queue), segments or checksums it in software if that
// queue's reader did not accept the offload the kernel used, and hands it to that queue's observer:
// a parked read is answered straight from the scratch buffer, otherwise the frame is copied into the
// queue's ring (or dropped and counted when the ring is full). Nothing here blocks or allocates.
//
// Device side (the kernel's tun_chr_*): transmit() takes one frame written by a program with that
// queue's vnet header conventions, validates it like tap_get_user, converts the header to the backend's
// host-order 10-byte form and sends it. Writes are never queued: the backend's own queue absorbs bursts.
// A frame refused for the MTU costs one re-read of the link (reread_link_state: a few ioctls, no
// allocation), because an MTU change may still be queued in the link monitor's socket.
//
// The link: the device knows it through link_control (link_control.h), never through netlink itself.
//
// Ownership: the device is owned by the daemon; each queue is owned by its open file and registered here
// between open_queue() and close_queue(). shutdown() detaches every queue (readers get an error) before the
// device dies, so an open file never points at a dead device.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tapcore/backend.h"
#include "tapcore/event_loop.h"
#include "tapcore/link_control.h"
#include "tapcore/personality.h"
#include "tapcore/queue.h"
#include "tapcore/result.h"

namespace tapd {

inline constexpr std::size_t max_queues = 256;  // MAX_TAP_QUEUES

struct device_stats {
    std::uint64_t rx_frames = 0;          // frames read from the backend
    std::uint64_t rx_dropped_full = 0;    // a queue's ring was full
    std::uint64_t rx_dropped_no_queue = 0;// no enabled queue (nobody has the device open)
    std::uint64_t rx_errors = 0;          // malformed frames from the backend
    std::uint64_t tx_frames = 0;
    std::uint64_t tx_dropped = 0;         // refused writes
};

class device final : public io_watcher {
public:
    // `links` (netlink's route_socket in tapd, a fake in unit tests) must outlive the device.
    device(event_loop& loop, link_control& links, std::unique_ptr<backend> be, link_info link,
           std::unique_ptr<personality> pers = make_linux_personality());
    ~device();
    device(const device&) = delete;
    device& operator=(const device&) = delete;

    const link_info& link() const { return link_; }
    personality& pers() const { return *pers_; }
    void set_carrier(bool on) noexcept { backend_->set_carrier(on); }
    const device_stats& stats() const { return stats_; }
    std::size_t queue_count() const { return queues_.size(); }

    // Control path: re-reads the whole link from the kernel (name, MTU, MAC, state), applies it as
    // update_link() does, and returns it.
    result<link_info> refresh_link();
    // Data path: re-reads MTU, admin state and MAC (link_control::read_state: no allocation) and applies
    // them as update_link() would. Returns 0, or -errno with the device's view unchanged.
    int reread_link_state() noexcept;
    // The link monitor saw the link change (renamed, MTU, MAC, admin state, carrier).
    void update_link(const link_info& link) noexcept;
    // Whether the backend's kernel object is gone (see backend::link_gone).
    bool backend_gone() noexcept { return backend_->link_gone(); }
    // Called (once) when the backend fails for good: the owner removes the device.
    void set_on_gone(std::function<void(device&)> fn) { on_gone_ = std::move(fn); }
    bool gone() const { return gone_; }
    // SIOCSIFHWADDR. 0 or -errno; the reason is logged (the ioctl has only the errno to give back).
    int set_mac(const mac_address& mac) noexcept;

    // A new open file: a queue bounded by the link's txqueuelen, enabled, with the personality's initial
    // settings. Fails with EBUSY past max_queues or when the personality refuses (BSD: already open).
    result<std::unique_ptr<queue>> open_queue(queue_observer* obs);
    void close_queue(queue& q) noexcept;
    // TUNSETQUEUE: returns 0 or -EINVAL when the queue is already in that state.
    int enable_queue(queue& q) noexcept;
    int disable_queue(queue& q) noexcept;

    // One frame written by a program on queue q (with q's vnet header, if any). Returns len or -errno.
    long transmit(queue& q, const std::uint8_t* data, std::size_t len) noexcept;

    // Detaches every queue (their observers fail parked reads with `err`) and stops watching the backend.
    void shutdown(int err) noexcept;

    void on_ready(unsigned events) noexcept override;

private:
    queue* pick_queue(const std::uint8_t* frame, std::size_t len) const noexcept;
    void deliver(const vnet_hdr& h, std::uint8_t* frame, std::size_t len) noexcept;
    void enqueue(queue& q, const vnet_hdr& h, std::uint8_t* frame, std::size_t len) noexcept;
    long refuse(queue& q, long err) noexcept;
    void signal_owner(const queue& q) noexcept;
    void apply_admin_state(bool up) noexcept;

    event_loop& loop_;
    link_control& links_;
    std::unique_ptr<backend> backend_;
    link_info link_;
    std::unique_ptr<personality> pers_;
    event_loop::watch* watch_ = nullptr;
    std::vector<queue*> queues_;  // every open queue
    std::vector<queue*> taps_;    // enabled queues, in macvtap's order (steering indexes this)
    std::unique_ptr<std::uint8_t[]> seg_buf_;  // one software-GSO segment at a time, with headroom
    device_stats stats_;
    std::function<void(device&)> on_gone_;
    bool gone_ = false;
};

}  // namespace tapd
