// event_loop.h — one io_uring-driven loop per thread.
//
// Theory of operation
// -------------------
// The loop owns one io_uring. Everything tapd waits on is a file descriptor: the CUSE (or FUSE) channel
// of each device, each backend's TUN or packet socket, a signalfd, a timerfd. Each is watched with a
// multishot IORING_OP_POLL_ADD whose user_data points at a `watch` record; a completion calls the
// watcher's on_ready(), which drains its fd with plain non-blocking read()/write() calls until EAGAIN.
// Readiness rather than io_uring reads is deliberate: /dev/cuse and /dev/net/tun reads would otherwise be
// punted to io-wq worker threads (an extra wake-up per request), and draining in batches keeps one
// submission per burst, not per frame.
//
// Ownership: the loop never owns the watchers. A watcher calls unwatch() before it dies; the `watch`
// record (allocated once per registration, never per event) is freed only when the kernel reports the
// poll's final completion, so a late completion never touches a dead watcher.
//
// Fairness: a watcher that stops draining before EAGAIN (a batch limit) asks for defer(); deferred
// watchers are called again before the loop next sleeps, so no readiness edge is ever lost.
//
// Who owns what: daemon/device_manager owns the devices and their front ends; a device (device.h) owns
// its backend and watches the backend's fd; each front end (cuse/cuse_session, cuse/fuse_mount) watches
// its FUSE channel; the daemon watches a signalfd; netlink's link_monitor watches its socket.
//
// How a parked read is completed: a FUSE_READ on an empty queue is not answered but parked on its open
// file (cuse/chr_file.h). Later, in this same thread, the backend's fd becomes readable → device::
// on_ready reads the frame and steers it to that queue → the file's try_deliver answers the parked
// request straight from the receive buffer (fuse_reply_buf). An interrupt, a detach or a link going
// down answers it with an error instead. Nothing waits anywhere but in io_uring_enter.
//
// The loop is single-threaded by design: one thread owns its devices, so the data path takes no locks.
#pragma once

#include <liburing.h>
#include <poll.h>

#include <cstdint>
#include <vector>


namespace tapd {

class io_watcher {
public:
    // `events` is the poll mask reported (POLLIN, POLLERR, ...). Never throws.
    virtual void on_ready(unsigned events) noexcept = 0;

protected:
    ~io_watcher() = default;
};

class event_loop {
public:
    struct watch;

    // Startup only: throws std::runtime_error when io_uring is unavailable.
    explicit event_loop(unsigned entries = 256);
    ~event_loop();
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    // Starts watching fd for `events` (POLLIN by default); returns a handle for unwatch().
    watch* watch_fd(int fd, io_watcher* w, unsigned events = POLLIN);
    // Stops delivering events to the watcher at once; the record is reclaimed after the kernel confirms.
    void unwatch(watch* h);
    // Calls w->on_ready(POLLIN) again before the loop next sleeps (for watchers that stopped mid-batch).
    void defer(io_watcher* w);

    // Runs until stop(); returns 0 or a negative errno from io_uring itself.
    int run();
    void stop() { stopping_ = true; }
    bool stopping() const { return stopping_; }

private:
    io_uring_sqe* get_sqe();
    void arm(watch* h);
    void handle_cqe(io_uring_cqe* cqe);
    void release(watch* h);

    io_uring ring_{};
    bool ring_ok_ = false;
    bool stopping_ = false;
    std::vector<io_watcher*> deferred_;
    std::vector<io_watcher*> deferred_running_;
    std::vector<watch*> dead_;     // unwatched with no poll in flight: freed after the completion batch
    std::vector<watch*> records_;  // every live record (registration-time bookkeeping, not per event)
};

}  // namespace tapd
