// frontend.h — what both front ends share: one libfuse session served on the event loop, and the files
// open on it. cuse_session (a CUSE device node) and fuse_mount (FUSE-mount mode) derive from it and add
// only how their session is made and how an open finds its device.
//
// Theory of operation
// -------------------
// Channel: the front end opens its channel (/dev/cuse or /dev/fuse) non-blocking and hands it to libfuse
// with fuse_session_custom_io(), so libfuse reads every request and writes every reply through io_read
// and io_writev here — the one place where the session's bytes pass (FOPEN_STREAM is added there, and
// a session resumed on an inherited channel would plug in there too). The session owns the channel from
// then on and closes it in fuse_session_destroy().
//
// Pump: the event loop watches the channel; on_ready() takes up to request_batch requests
// (fuse_session_receive_buf, which returns -EAGAIN when the channel is empty) and hands each to
// fuse_session_process_buf, whose callbacks run here with this front end as userdata. When the batch
// runs out first it asks the loop to call again before sleeping (defer), so other fds get their turn and
// no readiness is lost. When the kernel drops the channel the watch ends.
//
// Files: every OPEN makes a chr_file (chr_file.h) owned here; fi->fh points at it, and the per-file
// requests (read, write, poll, ioctl, release) go straight to it through the same callbacks in both
// front ends' ops tables (set_file_ops). When a session ends, the kernel sends no RELEASE for files still
// open, so the destructor closes what is left.
//
// Interrupts: libfuse may call a request's interrupt callback while it holds the request's lock, where
// replying would free the request under it. So the callback only marks the parked read on its file;
// the EINTR replies go out once fuse_session_process_buf (or fuse_req_interrupt_func) has returned.
// The bookkeeping is this front end's own: nothing about interrupts is process-wide.
//
// Teardown (destructor): stop watching → close the files (their parked reads are answered while the
// session can still reply) → destroy the session, which closes the channel (the kernel removes a CUSE
// node, or aborts the FUSE connection).
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>

#include "chr_file.h"
#include "tapcore/event_loop.h"
#include "tapcore/result.h"
#include "tapcore/unique_fd.h"

struct cuse_lowlevel_ops;

namespace tapd {

class frontend : public io_watcher {
public:
    frontend(const frontend&) = delete;
    frontend& operator=(const frontend&) = delete;

    // The pump (see the header comment).
    void on_ready(unsigned events) noexcept final;
    std::size_t open_files() const noexcept { return files_.size(); }

protected:
    struct session_deleter {
        void operator()(fuse_session* se) const noexcept { fuse_session_destroy(se); }
    };
    using session_ptr = std::unique_ptr<fuse_session, session_deleter>;

    // libfuse's argument vector for a new session: only the program name, tapd sets no libfuse option.
    struct session_args {
        session_args() = default;
        ~session_args() { fuse_opt_free_args(&args); }  // libfuse may have added to them
        session_args(const session_args&) = delete;
        session_args& operator=(const session_args&) = delete;
        char arg0[5] = "tapd";
        char* argv[2] = {arg0, nullptr};
        fuse_args args = FUSE_ARGS_INIT(1, argv);
    };

    // stream_opens: every successful OPEN reply of this session carries FOPEN_STREAM (FUSE mount).
    frontend(event_loop& loop, bool stream_opens) noexcept : loop_(loop), stream_opens_(stream_opens) {}
    ~frontend();

    // What the session must be created with as its userdata, so that callbacks and io find this object.
    void* userdata() noexcept { return static_cast<frontend*>(this); }
    static frontend& of(fuse_req_t req) noexcept { return *static_cast<frontend*>(fuse_req_userdata(req)); }

    // Opens a FUSE channel device (/dev/cuse, /dev/fuse) the way the pump needs it: non-blocking.
    static result<unique_fd> open_channel(const char* path);
    // Serves `se` (created with userdata()) on `channel` (from open_channel): libfuse does its I/O through
    // this front end, the session owns the channel from now on, and the loop watches it. On failure
    // nothing is left open: the session and the channel are closed when this front end is destroyed.
    result<void> serve(session_ptr se, unique_fd channel);
    int channel_fd() const noexcept { return channel_fd_; }

    // Opens a file on `dev` (nullptr: the device is gone) and replies to the OPEN. Returns whether the
    // file now exists (false: the open was answered with an error, or the opener went away).
    bool open_file(fuse_req_t req, fuse_file_info* fi, device* dev) noexcept;
    // A file was released (its RELEASE answered); `dev` is the device it was open on, if still there.
    virtual void file_closed(device* dev) noexcept { (void)dev; }

    // Fills in the callbacks both front ends serve the same way (init, read, write, release, ioctl, poll)
    // for fuse_lowlevel_ops or cuse_lowlevel_ops; the caller adds open and what else its table needs.
    static void set_file_ops(fuse_lowlevel_ops& ops) noexcept;
    static void set_file_ops(cuse_lowlevel_ops& ops) noexcept;

    // What INIT negotiated: a write request of this size may be the first piece of a larger write.
    std::size_t max_write() const noexcept { return max_write_; }

private:
    // How many requests one readiness event may process before other fds get a turn.
    static constexpr int request_batch = 64;

    // The file callbacks, in CUSE's argument order (FUSE's have the inode after the request; set_file_ops
    // drops it).
    static void on_init(void* userdata, fuse_conn_info* conn) noexcept;
    static void on_read(fuse_req_t req, std::size_t size, off_t off, fuse_file_info* fi) noexcept;
    static void on_write(fuse_req_t req, const char* buf, std::size_t size, off_t off, fuse_file_info* fi) noexcept;
    static void on_release(fuse_req_t req, fuse_file_info* fi) noexcept;
    static void on_ioctl(fuse_req_t req, int cmd, void* arg, fuse_file_info* fi, unsigned flags, const void* in_buf,
                         std::size_t in_bufsz, std::size_t out_bufsz) noexcept;
    static void on_poll(fuse_req_t req, fuse_file_info* fi, fuse_pollhandle* ph) noexcept;
    static void on_interrupt(fuse_req_t req, void* data) noexcept;

    // The session's I/O (fuse_custom_io): see the header comment.
    static ssize_t io_read(int fd, void* buf, std::size_t len, void* userdata) noexcept;
    static ssize_t io_writev(int fd, iovec* iov, int count, void* userdata) noexcept;

    void close_file(chr::chr_file* f) noexcept;
    // Sends the EINTR replies that interrupt callbacks marked.
    void flush_interrupts() noexcept;

    event_loop& loop_;
    const bool stream_opens_;
    session_ptr se_;  // destroyed last (members go in reverse order; the destructor empties files_ first)
    int channel_fd_ = -1;
    event_loop::watch* watch_ = nullptr;
    fuse_buf buf_{};
    std::list<chr::chr_file> files_;
    std::size_t max_write_ = 0;
    bool interrupted_ = false;     // some file holds a parked read marked by an interrupt callback
    std::uint64_t open_unique_ = 0;  // the OPEN being processed (stream_opens_ only); 0: none
};

}  // namespace tapd
