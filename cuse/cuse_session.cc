// cuse_session.cc — see cuse_session.h.
#include "cuse_session.h"

#include <cuse_lowlevel.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace tapd {
namespace {
// How many requests one readiness event may process before other fds get a turn.
constexpr int request_batch = 64;
}  // namespace

cuse_session::cuse_session(event_loop& loop, device* dev, std::string node_name, ready_fn on_ready)
    : loop_(loop), dev_(dev), node_name_(std::move(node_name)), on_ready_(std::move(on_ready)) {}

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
    event_loop& loop = s->loop_;
    static const cuse_lowlevel_ops ops = [] {
        cuse_lowlevel_ops o{};
        o.init = ll_init;
        o.init_done = ll_init_done;
        o.open = ll_open;
        o.read = ll_read;
        o.write = ll_write;
        o.release = ll_release;
        o.ioctl = ll_ioctl;
        o.poll = ll_poll;
        return o;
    }();

    int fd = ::open("/dev/cuse", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENODEV)
            return make_error(e, "/dev/cuse is missing: this kernel has no CUSE. Load it with `modprobe cuse`, "
                                 "or run tapd with --fuse-mount DIR to serve the devices as files in DIR");
        return errno_error("open /dev/cuse", e);
    }

    std::string devname = "DEVNAME=" + s->node_name_;
    const char* dev_info_argv[] = {devname.c_str()};
    cuse_info ci{};
    ci.dev_info_argc = 1;
    ci.dev_info_argv = dev_info_argv;
    ci.flags = CUSE_UNRESTRICTED_IOCTL;

    char arg0[] = "tapd";
    char* argv[] = {arg0, nullptr};
    fuse_args args = FUSE_ARGS_INIT(1, argv);
    s->se_ = cuse_lowlevel_new(&args, &ci, &ops, s.get());
    fuse_opt_free_args(&args);  // libfuse may have added to them
    if (!s->se_) {
        ::close(fd);
        return make_error(EIO, "cuse_lowlevel_new for " + s->node_name_ + " failed");
    }
    // libfuse takes an already open channel as the "mountpoint" /dev/fd/N; it closes it on destroy.
    std::string fdpath = "/dev/fd/" + std::to_string(fd);
    if (fuse_session_mount(s->se_, fdpath.c_str()) != 0) {
        ::close(fd);
        return make_error(EIO, "attaching /dev/cuse to the session for " + s->node_name_ + " failed");
    }
    s->watch_ = loop.watch_fd(fd, s.get());
    return s;
}

cuse_session::~cuse_session() {
    if (watch_) loop_.unwatch(watch_);
    // Parked reads must be answered while the session still exists.
    open_files_.clear();
    // Destroying the session closes /dev/cuse: the kernel removes the node and fails the open files' next
    // operations with ENODEV.
    if (se_) fuse_session_destroy(se_);
    std::free(buf_.mem);
}

void cuse_session::on_ready(unsigned /*events*/) noexcept {
    switch (chr::pump(se_, buf_, request_batch)) {
        case chr::pump_result::drained: return;
        case chr::pump_result::more: loop_.defer(this); return;
        case chr::pump_result::ended:
            if (watch_) loop_.unwatch(watch_);
            watch_ = nullptr;
            return;
    }
}

void cuse_session::ll_init(void* userdata, fuse_conn_info* conn) {
    static_cast<cuse_session*>(userdata)->max_write_ = conn->max_write;
}

void cuse_session::ll_init_done(void* userdata) {
    auto* s = static_cast<cuse_session*>(userdata);
    if (s->on_ready_) s->on_ready_(*s);
}

void cuse_session::ll_open(fuse_req_t req, fuse_file_info* fi) {
    auto* s = static_cast<cuse_session*>(fuse_req_userdata(req));
    if (s->clone_open_) {
        auto d = s->clone_open_();
        if (!d) {
            fuse_reply_err(req, d.err().code);
            return;
        }
        if (!chr::open(req, fi, *d, s->open_files_)) s->clone_closed_(*d);
        return;
    }
    chr::open(req, fi, s->dev_, s->open_files_);
}

void cuse_session::ll_read(fuse_req_t req, size_t size, off_t, fuse_file_info* fi) {
    chr::file_of(fi)->read(req, size, fi->flags);
}

void cuse_session::ll_write(fuse_req_t req, const char* buf, size_t size, off_t, fuse_file_info* fi) {
    auto* s = static_cast<cuse_session*>(fuse_req_userdata(req));
    chr::file_of(fi)->write(req, buf, size, s->max_write_);
}

void cuse_session::detach_device(std::function<void()> on_idle) {
    dev_ = nullptr;
    on_idle_ = std::move(on_idle);
    if (open_files_.size() == 0 && on_idle_) on_idle_();
}

void cuse_session::ll_release(fuse_req_t req, fuse_file_info* fi) {
    auto* s = static_cast<cuse_session*>(fuse_req_userdata(req));
    device* cloned = s->clone_open_ && chr::file_of(fi) ? chr::file_of(fi)->q().dev() : nullptr;
    chr::release(req, fi);
    if (cloned) s->clone_closed_(cloned);
    if (!s->clone_open_ && !s->dev_ && s->open_files_.size() == 0 && s->on_idle_) s->on_idle_();
}

void cuse_session::ll_ioctl(fuse_req_t req, int cmd, void* arg, fuse_file_info* fi, unsigned flags,
                            const void* in_buf, size_t in_bufsz, size_t out_bufsz) {
    chr::file_of(fi)->ioctl(req, static_cast<unsigned>(cmd), arg, flags, in_buf, in_bufsz, out_bufsz);
}

void cuse_session::ll_poll(fuse_req_t req, fuse_file_info* fi, fuse_pollhandle* ph) {
    chr::file_of(fi)->poll(req, ph);
}

}  // namespace tapd
