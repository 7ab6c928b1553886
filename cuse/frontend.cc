// frontend.cc — see frontend.h for the theory of operation.
#include "frontend.h"

#include <cuse_lowlevel.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace tapd {
namespace {

// FOPEN_STREAM rides in the OPEN reply, which libfuse 3.14 sends as its out header and a fuse_open_out.
static_assert(sizeof(fuse_open_out) == 16, "fuse_open_out as in <linux/fuse.h> since protocol 7.0");
constexpr std::size_t open_reply_size = sizeof(fuse_out_header) + sizeof(fuse_open_out);

// Copies the first `n` bytes of an iovec array to `dst`; false if the array holds fewer.
bool gather(const iovec* iov, int count, void* dst, std::size_t n) noexcept {
    auto* out = static_cast<unsigned char*>(dst);
    for (int i = 0; i < count && n > 0; ++i) {
        std::size_t k = std::min(n, iov[i].iov_len);
        std::memcpy(out, iov[i].iov_base, k);
        out += k;
        n -= k;
    }
    return n == 0;
}

std::size_t total_len(const iovec* iov, int count) noexcept {
    std::size_t total = 0;
    for (int i = 0; i < count; ++i) total += iov[i].iov_len;
    return total;
}

// FUSE's callbacks carry the inode after the request, CUSE's do not; the file callbacks ignore it.
template <auto Fn>
struct without_ino;
template <typename... P, void (*Fn)(fuse_req_t, P...) noexcept>
struct without_ino<Fn> {
    template <typename... A>
    static void call(fuse_req_t req, fuse_ino_t /*ino*/, A... a) {
        Fn(req, static_cast<P>(a)...);
    }
};

}  // namespace

frontend::~frontend() {
    if (watch_) loop_.unwatch(watch_);
    // Parked reads must be answered while the session still exists.
    files_.clear();
    // Destroying the session closes the channel: the kernel removes a CUSE node and fails the open
    // files' next operations, or aborts a FUSE connection.
    se_.reset();
    std::free(buf_.mem);
}

result<unique_fd> frontend::open_channel(const char* path) {
    unique_fd fd(::open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return errno_error(std::string("open ") + path);
    return fd;
}

result<void> frontend::serve(session_ptr se, unique_fd channel) {
    static const fuse_custom_io io = [] {
        fuse_custom_io i{};
        i.read = io_read;
        i.writev = io_writev;
        return i;  // no splice callbacks: libfuse then offers no splice in INIT, and copies into buf_
    }();
    se_ = std::move(se);
    int fd = channel.get();
    if (int rc = fuse_session_custom_io(se_.get(), &io, fd); rc != 0)
        return make_error(-rc, std::string("attaching the FUSE channel to its session: ") + std::strerror(-rc));
    channel.release();  // the session closes it in fuse_session_destroy()
    channel_fd_ = fd;
    watch_ = loop_.watch_fd(fd, this);
    return ok();
}

void frontend::on_ready(unsigned /*events*/) noexcept {
    for (int i = 0; i < request_batch; ++i) {
        int n = fuse_session_receive_buf(se_.get(), &buf_);
        if (n == -EAGAIN || n == -EINTR) return;
        if (n <= 0) {
            // 0: the session ended (the kernel dropped the channel: ENODEV); < 0: the channel failed.
            if (watch_) loop_.unwatch(watch_);
            watch_ = nullptr;
            return;
        }
        fuse_session_process_buf(se_.get(), &buf_);
        flush_interrupts();
    }
    loop_.defer(this);  // the batch ran out before the channel did
}

ssize_t frontend::io_read(int fd, void* buf, std::size_t len, void* userdata) noexcept {
    auto* self = static_cast<frontend*>(userdata);
    ssize_t n = ::read(fd, buf, len);
    if (self->stream_opens_ && n >= static_cast<ssize_t>(sizeof(fuse_in_header))) {
        fuse_in_header in{};
        std::memcpy(&in, buf, sizeof in);
        // Its reply, recognised by the kernel's request id in io_writev, gets FOPEN_STREAM.
        if (in.opcode == FUSE_OPEN) self->open_unique_ = in.unique;
    }
    return n;
}

ssize_t frontend::io_writev(int fd, iovec* iov, int count, void* userdata) noexcept {
    auto* self = static_cast<frontend*>(userdata);
    fuse_out_header out{};
    // Notifications (unique 0) and every other reply pass untouched.
    if (self->open_unique_ == 0 || !gather(iov, count, &out, sizeof out) || out.unique != self->open_unique_)
        return ::writev(fd, iov, count);
    self->open_unique_ = 0;
    unsigned char reply[open_reply_size];
    if (out.error != 0 || total_len(iov, count) != open_reply_size || !gather(iov, count, reply, sizeof reply))
        return ::writev(fd, iov, count);  // a failed open
    fuse_open_out open{};
    std::memcpy(&open, reply + sizeof out, sizeof open);
    open.open_flags |= FOPEN_STREAM;
    std::memcpy(reply + sizeof out, &open, sizeof open);
    iovec one{reply, sizeof reply};
    return ::writev(fd, &one, 1);
}

bool frontend::open_file(fuse_req_t req, fuse_file_info* fi, device* dev) noexcept {
    if (!dev) {
        fuse_reply_err(req, ENODEV);
        return false;
    }
    chr::chr_file* f = nullptr;
    try {
        auto q = dev->open_queue(nullptr);
        if (!q) {
            fuse_reply_err(req, q.err().code);
            return false;
        }
        chr::open_queue oq(q->release());
        f = &files_.emplace_back(std::move(oq));
    } catch (const std::bad_alloc&) {
        fuse_reply_err(req, ENOMEM);
        return false;
    }
    fi->fh = reinterpret_cast<std::uint64_t>(f);
    // One read or write is one frame: no page cache, no file position.
    fi->direct_io = 1;
    fi->nonseekable = 1;
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) != 0) {
        // The opener went away before the reply (an interrupted open): the kernel will not send RELEASE.
        close_file(f);
        fi->fh = 0;
        return false;
    }
    return true;
}

void frontend::close_file(chr::chr_file* f) noexcept {
    files_.remove_if([f](const chr::chr_file& x) { return &x == f; });
}

void frontend::flush_interrupts() noexcept {
    if (!interrupted_) return;
    interrupted_ = false;
    for (chr::chr_file& f : files_) f.flush_interrupted();
}

void frontend::on_interrupt(fuse_req_t req, void* data) noexcept {
    auto* self = static_cast<frontend*>(data);
    for (chr::chr_file& f : self->files_) {
        if (f.mark_interrupted(req)) {
            self->interrupted_ = true;
            return;
        }
    }
}

void frontend::on_init(void* userdata, fuse_conn_info* conn) noexcept {
    static_cast<frontend*>(userdata)->max_write_ = conn->max_write;
}

void frontend::on_read(fuse_req_t req, std::size_t size, off_t /*off*/, fuse_file_info* fi) noexcept {
    if (!chr::file_of(fi)->read(req, size, fi->flags)) return;
    // Parked. This calls on_interrupt at once if the interrupt arrived already; the reply waits either way.
    frontend& self = of(req);
    fuse_req_interrupt_func(req, on_interrupt, &self);
    self.flush_interrupts();
}

void frontend::on_write(fuse_req_t req, const char* buf, std::size_t size, off_t /*off*/,
                        fuse_file_info* fi) noexcept {
    chr::file_of(fi)->write(req, buf, size, of(req).max_write_);
}

void frontend::on_release(fuse_req_t req, fuse_file_info* fi) noexcept {
    frontend& self = of(req);
    chr::chr_file* f = chr::file_of(fi);
    device* dev = f ? f->q().dev() : nullptr;
    if (f) self.close_file(f);
    fuse_reply_err(req, 0);
    self.file_closed(dev);
}

void frontend::on_ioctl(fuse_req_t req, int cmd, void* arg, fuse_file_info* fi, unsigned flags, const void* in_buf,
                        std::size_t in_bufsz, std::size_t out_bufsz) noexcept {
    chr::file_of(fi)->ioctl(req, static_cast<unsigned>(cmd), arg, flags, in_buf, in_bufsz, out_bufsz);
}

void frontend::on_poll(fuse_req_t req, fuse_file_info* fi, fuse_pollhandle* ph) noexcept {
    chr::file_of(fi)->poll(req, ph);
}

void frontend::set_file_ops(cuse_lowlevel_ops& o) noexcept {
    o.init = on_init;
    o.read = on_read;
    o.write = on_write;
    o.release = on_release;
    o.ioctl = on_ioctl;
    o.poll = on_poll;
}

void frontend::set_file_ops(fuse_lowlevel_ops& o) noexcept {
    o.init = on_init;
    o.read = without_ino<&on_read>::call;
    o.write = without_ino<&on_write>::call;
    o.release = without_ino<&on_release>::call;
    o.ioctl = without_ino<&on_ioctl>::call;
    o.poll = without_ino<&on_poll>::call;
}

}  // namespace tapd
