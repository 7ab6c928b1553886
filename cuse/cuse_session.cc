// cuse_session.cc — see cuse_session.h.
#include "cuse_session.h"

#include <cuse_lowlevel.h>

namespace tapd {

cuse_session::cuse_session(event_loop& loop, device* dev, std::string node_name, ready_fn on_ready)
    : frontend(loop, /*stream_opens=*/false), dev_(dev), node_name_(std::move(node_name)),
      on_ready_(std::move(on_ready)) {}

result<std::unique_ptr<cuse_session>> cuse_session::create(event_loop& loop, device& dev, std::string node_name,
                                                           ready_fn on_ready) {
    return start(std::unique_ptr<cuse_session>(new cuse_session(loop, &dev, std::move(node_name), std::move(on_ready))));
}

result<std::unique_ptr<cuse_session>> cuse_session::create_clone(event_loop& loop, std::string node_name,
                                                                 clone_open_fn open_fn, clone_closed_fn closed_fn,
                                                                 ready_fn on_ready) {
    std::unique_ptr<cuse_session> s(new cuse_session(loop, nullptr, std::move(node_name), std::move(on_ready)));
    s->clone_open_ = std::move(open_fn);
    s->clone_closed_ = std::move(closed_fn);
    return start(std::move(s));
}

result<std::unique_ptr<cuse_session>> cuse_session::start(std::unique_ptr<cuse_session> s) {
    static const cuse_lowlevel_ops ops = [] {
        cuse_lowlevel_ops o{};
        set_file_ops(o);
        o.init_done = ll_init_done;
        o.open = ll_open;
        return o;
    }();

    auto channel = open_channel("/dev/cuse");
    if (!channel) {
        int e = channel.err().code;
        if (e == ENOENT || e == ENODEV)
            return make_error(e, "/dev/cuse is missing: this kernel has no CUSE. Load it with `modprobe cuse`, "
                                 "or run tapd with --fuse-mount DIR to serve the devices as files in DIR");
        return channel.err();
    }

    std::string devname = "DEVNAME=" + s->node_name_;
    const char* dev_info_argv[] = {devname.c_str()};
    cuse_info ci{};
    ci.dev_info_argc = 1;
    ci.dev_info_argv = dev_info_argv;
    ci.flags = CUSE_UNRESTRICTED_IOCTL;

    session_args a;
    session_ptr se(cuse_lowlevel_new(&a.args, &ci, &ops, s->userdata()));
    if (!se) return make_error(EIO, "cuse_lowlevel_new for " + s->node_name_ + " failed");
    if (auto r = s->serve(std::move(se), std::move(*channel)); !r) return r.err();
    return s;
}

void cuse_session::ll_init_done(void* userdata) noexcept {
    // userdata is the frontend the session was created with.
    auto& s = static_cast<cuse_session&>(*static_cast<frontend*>(userdata));
    if (s.on_ready_) s.on_ready_(s);
}

void cuse_session::ll_open(fuse_req_t req, fuse_file_info* fi) noexcept {
    cuse_session& s = self(req);
    if (s.clone_open_) {
        auto d = s.clone_open_();
        if (!d) {
            fuse_reply_err(req, d.err().code);
            return;
        }
        if (!s.open_file(req, fi, *d)) s.clone_closed_(*d);
        return;
    }
    s.open_file(req, fi, s.dev_);
}

void cuse_session::detach_device(std::function<void()> on_idle) {
    dev_ = nullptr;
    on_idle_ = std::move(on_idle);
    if (open_files() == 0 && on_idle_) on_idle_();
}

void cuse_session::file_closed(device* dev) noexcept {
    if (clone_open_) {
        if (dev) clone_closed_(dev);
        return;
    }
    if (!dev_ && open_files() == 0 && on_idle_) on_idle_();
}

}  // namespace tapd
