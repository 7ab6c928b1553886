// cuse_session.h — one CUSE character device (/dev/<name>) served for one tap device, or the cloning
// node (NetBSD's /dev/tap).
//
// Each device node is its own CUSE session with its own /dev/cuse channel: the kernel creates the node
// when the session's CUSE_INIT is answered and removes it when the channel closes. The session plumbing
// (channel, pump, open files) is frontend.h's; this adds the CUSE_INIT device info and what an open means.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "frontend.h"

namespace tapd {

class cuse_session final : public frontend {
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

    const std::string& node_name() const { return node_name_; }
    device* dev() const { return dev_; }
    // The device was removed: new opens get ENODEV. `on_idle` runs (from the loop) once no file is open,
    // when the session may be destroyed.
    void detach_device(std::function<void()> on_idle);

private:
    cuse_session(event_loop& loop, device* dev, std::string node_name, ready_fn on_ready);
    static result<std::unique_ptr<cuse_session>> start(std::unique_ptr<cuse_session> s);
    static cuse_session& self(fuse_req_t req) { return static_cast<cuse_session&>(of(req)); }

    void file_closed(device* dev) noexcept override;
    static void ll_init_done(void* userdata) noexcept;
    static void ll_open(fuse_req_t req, fuse_file_info* fi) noexcept;

    device* dev_;
    std::string node_name_;
    ready_fn on_ready_;
    std::function<void()> on_idle_;
    clone_open_fn clone_open_;
    clone_closed_fn clone_closed_;
};

}  // namespace tapd
