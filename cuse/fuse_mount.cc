// fuse_mount.cc — see fuse_mount.h.
#include "fuse_mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace tapd {
namespace {
constexpr int request_batch = 64;
constexpr double attr_timeout = 1.0;  // short: a removed device must drop out of the directory soon
}  // namespace

fuse_mount::fuse_mount(event_loop& loop, std::string dir, std::vector<entry> files)
    : loop_(loop), dir_(std::move(dir)), files_(std::move(files)) {}

result<std::unique_ptr<fuse_mount>> fuse_mount::create(event_loop& loop, std::string dir, std::vector<entry> files) {
    static const fuse_lowlevel_ops ops = [] {
        fuse_lowlevel_ops o{};
        o.init = ll_init;
        o.lookup = ll_lookup;
        o.getattr = ll_getattr;
        o.readdir = ll_readdir;
        o.open = ll_open;
        o.read = ll_read;
        o.write = ll_write;
        o.release = ll_release;
        o.ioctl = ll_ioctl;
        o.poll = ll_poll;
        return o;
    }();

    std::unique_ptr<fuse_mount> m(new fuse_mount(loop, std::move(dir), std::move(files)));
    char arg0[] = "tapd", arg1[] = "-o", arg2[] = "allow_other,fsname=tapd,subtype=tapd";
    char* argv[] = {arg0, arg1, arg2, nullptr};
    fuse_args args = FUSE_ARGS_INIT(3, argv);
    m->se_ = fuse_session_new(&args, &ops, sizeof ops, m.get());
    fuse_opt_free_args(&args);  // libfuse may have added to them
    if (!m->se_) return make_error(EIO, "fuse_session_new failed");
    if (fuse_session_mount(m->se_, m->dir_.c_str()) != 0)
        return make_error(EIO, "mounting tapd's FUSE filesystem on " + m->dir_ +
                                   " failed (does the directory exist, and is /dev/fuse usable?)");
    m->mounted_ = true;
    int fd = fuse_session_fd(m->se_);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    m->watch_ = loop.watch_fd(fd, m.get());
    return m;
}

fuse_mount::~fuse_mount() {
    if (watch_) loop_.unwatch(watch_);
    // Parked reads must be answered while the session still exists.
    open_files_.clear();
    if (se_) {
        // umount2 ourselves rather than fuse_session_unmount: libfuse's unmount polls the channel first,
        // and tapd waits on nothing outside io_uring (its tests strace for exactly that).
        if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
        fuse_session_destroy(se_);
    }
    std::free(buf_.mem);
}

void fuse_mount::on_ready(unsigned /*events*/) noexcept {
    switch (chr::pump(se_, buf_, request_batch)) {
        case chr::pump_result::drained: return;
        case chr::pump_result::more: loop_.defer(this); return;
        case chr::pump_result::ended:
            if (watch_) loop_.unwatch(watch_);
            watch_ = nullptr;
            return;
    }
}

void fuse_mount::remove_device(const device* dev) {
    for (entry& e : files_)
        if (e.dev == dev) e.dev = nullptr;
}

const fuse_mount::entry* fuse_mount::by_ino(fuse_ino_t ino) const {
    if (ino < 2 || ino - 2 >= files_.size()) return nullptr;
    return &files_[ino - 2];
}

void fuse_mount::fill_attr(fuse_ino_t ino, struct stat* st) const {
    std::memset(st, 0, sizeof *st);
    st->st_ino = ino;
    if (ino == FUSE_ROOT_ID) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0600;
        st->st_nlink = 1;
    }
}

void fuse_mount::ll_init(void* userdata, fuse_conn_info* conn) {
    auto* m = static_cast<fuse_mount*>(userdata);
    // No splice: requests are small frames read into one reused buffer.
    conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
    m->max_write_ = conn->max_write;
}

void fuse_mount::ll_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    fuse_mount* m = self(req);
    if (parent != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    for (std::size_t i = 0; i < m->files_.size(); ++i) {
        if (m->files_[i].dev && m->files_[i].name == name) {
            fuse_entry_param e{};
            e.ino = i + 2;
            e.attr_timeout = e.entry_timeout = attr_timeout;
            m->fill_attr(e.ino, &e.attr);
            fuse_reply_entry(req, &e);
            return;
        }
    }
    fuse_reply_err(req, ENOENT);
}

void fuse_mount::ll_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    fuse_mount* m = self(req);
    if (ino != FUSE_ROOT_ID && !m->by_ino(ino)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct stat st;
    m->fill_attr(ino, &st);
    fuse_reply_attr(req, &st, attr_timeout);
}

void fuse_mount::ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    fuse_mount* m = self(req);
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    // Control path (ls): a small heap buffer is fine here.
    std::string buf(size, '\0');
    std::size_t used = 0;
    std::size_t total = m->files_.size() + 2;
    for (std::size_t i = static_cast<std::size_t>(off); i < total; ++i) {
        struct stat st;
        fuse_ino_t e_ino = i < 2 ? FUSE_ROOT_ID : i;
        m->fill_attr(e_ino, &st);
        if (i >= 2 && !m->files_[i - 2].dev) continue;  // removed device
        const char* name = i == 0 ? "." : i == 1 ? ".." : m->files_[i - 2].name.c_str();
        std::size_t n = fuse_add_direntry(req, buf.data() + used, size - used, name, &st,
                                          static_cast<off_t>(i + 1));
        if (n > size - used) break;
        used += n;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void fuse_mount::ll_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    const entry* e = self(req)->by_ino(ino);
    if (!e) {
        fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
        return;
    }
    chr::open(req, fi, e->dev, self(req)->open_files_, /*stream=*/true);
}

void fuse_mount::ll_read(fuse_req_t req, fuse_ino_t, size_t size, off_t, fuse_file_info* fi) {
    chr::file_of(fi)->read(req, size, fi->flags);
}

void fuse_mount::ll_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t, fuse_file_info* fi) {
    chr::file_of(fi)->write(req, buf, size, self(req)->max_write_);
}

void fuse_mount::ll_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) { chr::release(req, fi); }

void fuse_mount::ll_ioctl(fuse_req_t req, fuse_ino_t, unsigned int cmd, void* arg, fuse_file_info* fi,
                          unsigned flags, const void* in_buf, size_t in_bufsz, size_t out_bufsz) {
    chr::file_of(fi)->ioctl(req, cmd, arg, flags, in_buf, in_bufsz, out_bufsz);
}

void fuse_mount::ll_poll(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, fuse_pollhandle* ph) {
    chr::file_of(fi)->poll(req, ph);
}

}  // namespace tapd
