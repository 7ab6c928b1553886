// chr_file.h — the device side of tapd (the kernel's tun_chr_*): one open file of a tap device, and the
// request handlers that the CUSE and FUSE-mount front ends share.
//
// Theory of operation
// -------------------
// Every request gets exactly one reply, and no exception leaves a handler.
// - open: a new queue on the device; fi->fh points at its chr_file.
// - read: answered at once from the queue's ring; with an empty ring, EAGAIN when that request carries
//   O_NONBLOCK (the flag is per request because programs set it with fcntl after open), otherwise the
//   request is *parked* on the file. A parked read is completed later by whichever comes first: a frame
//   steered to this queue (try_deliver replies straight from the receive buffer), a FUSE interrupt
//   (EINTR), or the device going away (on_detached).
// - write: one request is one frame, handed to device::transmit.
// - poll: the current mask; the latest poll handle is kept and notified when the ring becomes
//   non-empty, so poll/select/epoll wake without the daemon being polled again.
// - ioctl: the personality's table says what each ioctl carries; the first call of a pointer ioctl is
//   answered with fuse_reply_ioctl_retry naming the user memory, the second call does the work.
//
// Interrupts: libfuse may call the interrupt callback while it holds the request's lock, where replying
// would free the request under it. So the callback only records the request; flush_interrupts() sends
// the EINTR replies once libfuse has let go (the front ends call it after every request they process).
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "tapcore/device.h"
#include "tapcore/queue.h"

namespace tapd::chr {

class chr_file;

// The open files of one front end (a CUSE session or the FUSE mount). When a session ends, the kernel
// never sends RELEASE for files still open on it, so the front end frees what is left here.
class file_registry {
public:
    file_registry() = default;
    ~file_registry();
    file_registry(const file_registry&) = delete;
    file_registry& operator=(const file_registry&) = delete;
    void add(chr_file* f) { files_.push_back(f); }
    void remove(chr_file* f) { std::erase(files_, f); }
    std::size_t size() const { return files_.size(); }
    // Closes and frees every file still registered (their parked reads are failed first).
    void clear() noexcept;

private:
    std::vector<chr_file*> files_;
};

class chr_file final : public queue_observer {
public:
    chr_file(std::unique_ptr<queue> q, file_registry& reg) : q_(std::move(q)), reg_(&reg) {
        parked_.reserve(4);
        reg_->add(this);
    }
    ~chr_file();
    chr_file(const chr_file&) = delete;
    chr_file& operator=(const chr_file&) = delete;

    queue& q() { return *q_; }

    bool try_deliver(queue& q, const vnet_hdr& h, std::uint8_t* frame, std::size_t len) noexcept override;
    void on_readable(queue& q) noexcept override;
    void on_detached(queue& q, int err) noexcept override;
    void on_link_down(queue& q, int err) noexcept override;

    // Request handlers (called from the front ends' libfuse callbacks).
    void read(fuse_req_t req, std::size_t size, int open_flags) noexcept;
    void write(fuse_req_t req, const char* buf, std::size_t size, std::size_t max_write) noexcept;
    void poll(fuse_req_t req, fuse_pollhandle* ph) noexcept;
    void ioctl(fuse_req_t req, unsigned cmd, void* arg, unsigned flags, const void* in_buf, std::size_t in_bufsz,
               std::size_t out_bufsz) noexcept;
    // Release: fails anything still parked, closes the queue.
    void release() noexcept;

    // Interrupt bookkeeping (see the header comment).
    void mark_interrupted(fuse_req_t req) noexcept;
    void flush_interrupted() noexcept;

private:
    struct parked_read {
        fuse_req_t req;
        std::size_t size;
        bool interrupted;
    };

    // Replies to `req` with the frame (formatted for this reader). Returns false only if it could not.
    void reply_frame(fuse_req_t req, std::size_t size, const vnet_hdr& h, std::uint8_t* frame,
                     std::size_t len) noexcept;
    void fail_parked(int err) noexcept;
    unsigned poll_mask() const noexcept;

    std::unique_ptr<queue> q_;
    file_registry* reg_;
    std::vector<parked_read> parked_;
    fuse_pollhandle* ph_ = nullptr;
    int detached_err_ = 0;  // negative errno once the device is gone
};

// Opens a new file on `dev` and replies to the open request. direct_io and nonseekable: one read or
// write is one frame, with no page cache and no file position.
// Returns whether the file now exists (false: the open was answered with an error).
// `stream`: answer with FOPEN_STREAM (FUSE-mount mode; see stream_open.h).
bool open(fuse_req_t req, fuse_file_info* fi, device* dev, file_registry& reg, bool stream = false) noexcept;
inline chr_file* file_of(const fuse_file_info* fi) { return reinterpret_cast<chr_file*>(fi->fh); }
// Release: replies to the request and destroys the file.
void release(fuse_req_t req, fuse_file_info* fi) noexcept;
// Sends the EINTR replies recorded by interrupt callbacks. Call after each processed request.
void flush_interrupts() noexcept;

enum class pump_result { drained, more, ended };
// Reads and processes up to `batch` requests from a session's (non-blocking) channel, as both front ends
// do on readiness: `drained` at EAGAIN, `more` when the batch ran out first (come back before sleeping),
// `ended` when the kernel dropped the channel.
pump_result pump(fuse_session* se, fuse_buf& buf, int batch) noexcept;

}  // namespace tapd::chr
