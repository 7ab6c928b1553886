// cuse_session.h — one CUSE character device (/dev/<name>) served for one tap device.
//
// Each device node is its own CUSE session with its own /dev/cuse fd: the kernel creates the node when
// the session's CUSE_INIT is answered and removes it when the fd closes. The event loop watches the fd;
// on_ready() drains requests with fuse_session_receive_buf (the fd is non-blocking) and hands each to
// fuse_session_process_buf, whose callbacks land in chr_file. libfuse writes the replies.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "chr_file.h"
#include "tapcore/event_loop.h"
#include "tapcore/result.h"

namespace tapd {

class cuse_session final : public io_watcher {
public:
    // Called once the kernel has accepted CUSE_INIT (the node is being created).
    using ready_fn = std::function<void(cuse_session&)>;

    // Startup/control path. Fails with ENOENT/ENODEV and a message naming the fix when /dev/cuse is
    // missing.
    static result<std::unique_ptr<cuse_session>> create(event_loop& loop, device& dev, std::string node_name,
                                                        ready_fn on_ready);
    // A cloning node (NetBSD's /dev/tap): each open asks `open_fn` for a new device of its own, and
    // `closed_fn` hears when that file is closed (the device is then destroyed by its owner).
    using clone_open_fn = std::function<result<device*>()>;
    using clone_closed_fn = std::function<void(device*)>;
    static result<std::unique_ptr<cuse_session>> create_clone(event_loop& loop, std::string node_name,
                                                              clone_open_fn open_fn, clone_closed_fn closed_fn,
                                                              ready_fn on_ready);
    ~cuse_session();
    cuse_session(const cuse_session&) = delete;
    cuse_session& operator=(const cuse_session&) = delete;

    const std::string& node_name() const { return node_name_; }
    device* dev() const { return dev_; }
    // The device was removed: new opens get ENODEV. `on_idle` runs (from the loop) once no file is open,
    // when the session may be destroyed.
    void detach_device(std::function<void()> on_idle);

    void on_ready(unsigned events) noexcept override;

private:
    cuse_session(event_loop& loop, device* dev, std::string node_name, ready_fn on_ready);
    static result<std::unique_ptr<cuse_session>> start(std::unique_ptr<cuse_session> s);

    static void ll_init(void* userdata, fuse_conn_info* conn);
    static void ll_init_done(void* userdata);
    static void ll_open(fuse_req_t req, fuse_file_info* fi);
    static void ll_read(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi);
    static void ll_write(fuse_req_t req, const char* buf, size_t size, off_t off, fuse_file_info* fi);
    static void ll_release(fuse_req_t req, fuse_file_info* fi);
    static void ll_ioctl(fuse_req_t req, int cmd, void* arg, fuse_file_info* fi, unsigned flags,
                         const void* in_buf, size_t in_bufsz, size_t out_bufsz);
    static void ll_poll(fuse_req_t req, fuse_file_info* fi, fuse_pollhandle* ph);

    event_loop& loop_;
    device* dev_;
    std::string node_name_;
    ready_fn on_ready_;
    fuse_session* se_ = nullptr;
    event_loop::watch* watch_ = nullptr;
    fuse_buf buf_{};
    chr::file_registry open_files_;  // destroyed before se_ is: see the destructor
    std::size_t max_write_ = 0;
    std::function<void()> on_idle_;
    clone_open_fn clone_open_;
    clone_closed_fn clone_closed_;
};

}  // namespace tapd
