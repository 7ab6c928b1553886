// chr_file.h — one open file of a tap device (the kernel's tun_chr_* on one struct file): its queue and
// the handlers for the requests made on it. The front end that opened it (frontend.h) owns it and routes
// the file's requests here.
//
// Theory of operation
// -------------------
// Every request gets exactly one reply, and no exception leaves a handler.
// - open (frontend::open_file): a new queue on the device; fi->fh points at its chr_file.
// - read: answered at once from the queue's ring; with an empty ring, EAGAIN when that request carries
//   O_NONBLOCK (the flag is per request because programs set it with fcntl after open), otherwise the
//   request is *parked* on the file. A parked read is completed later by whichever comes first: a frame
//   steered to this queue (try_deliver replies straight from the receive buffer), a FUSE interrupt
//   (EINTR: the front end marks it with mark_interrupted and has flush_interrupted reply once libfuse
//   has let go of the request), or the device going away (on_detached).
// - write: one request is one frame, handed to device::transmit.
// - poll: the current mask; the latest poll handle is kept and notified when the ring becomes
//   non-empty, so poll/select/epoll wake without the daemon being polled again.
// - ioctl: the personality's table says what each ioctl carries; the first call of a pointer ioctl is
//   answered with fuse_reply_ioctl_retry naming the user memory, the second call does the work.
// - release: destroying the file answers what is still parked and closes its queue on the device.
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "tapcore/device.h"
#include "tapcore/queue.h"

namespace tapd::chr {

// A queue opened on a device: closed on that device (if it is still there) when destroyed, since the
// device keeps a pointer to every open queue.
struct queue_closer {
    void operator()(queue* q) const noexcept {
        if (device* d = q->dev()) d->close_queue(*q);
        delete q;
    }
};
using open_queue = std::unique_ptr<queue, queue_closer>;

class chr_file final : public queue_observer {
public:
    explicit chr_file(open_queue q) noexcept;
    // Answers every parked read (EBADF), closes the queue.
    ~chr_file();
    chr_file(const chr_file&) = delete;
    chr_file& operator=(const chr_file&) = delete;

    queue& q() { return *q_; }

    bool try_deliver(queue& q, const vnet_hdr& h, std::uint8_t* frame, std::size_t len) noexcept override;
    void on_readable(queue& q) noexcept override;
    void on_detached(queue& q, int err) noexcept override;
    void on_link_down(queue& q, int err) noexcept override;

    // Request handlers (called from the front end's libfuse callbacks).
    // Returns true when the read was parked (not answered yet): the caller registers its interrupt callback.
    [[nodiscard]] bool read(fuse_req_t req, std::size_t size, int open_flags) noexcept;
    void write(fuse_req_t req, const char* buf, std::size_t size, std::size_t max_write) noexcept;
    void poll(fuse_req_t req, fuse_pollhandle* ph) noexcept;
    void ioctl(fuse_req_t req, unsigned cmd, void* arg, unsigned flags, const void* in_buf, std::size_t in_bufsz,
               std::size_t out_bufsz) noexcept;

    // Interrupts (see the header comment): marks `req` if it is parked here, returning whether it was;
    // flush_interrupted() answers the marked ones with EINTR.
    bool mark_interrupted(fuse_req_t req) noexcept;
    void flush_interrupted() noexcept;

private:
    struct parked_read {
        fuse_req_t req;
        std::size_t size;
        bool interrupted;
    };

    // Replies to `req` with the frame (formatted for this reader), or with the error that prevented it.
    void reply_frame(fuse_req_t req, std::size_t size, const vnet_hdr& h, std::uint8_t* frame,
                     std::size_t len) noexcept;
    void fail_parked(int err) noexcept;
    unsigned poll_mask() const noexcept;

    open_queue q_;
    std::vector<parked_read> parked_;
    fuse_pollhandle* ph_ = nullptr;
    int detached_err_ = 0;  // negative errno once the device is gone
};

inline chr_file* file_of(const fuse_file_info* fi) { return reinterpret_cast<chr_file*>(fi->fh); }

}  // namespace tapd::chr
