// fuse_mount.cc — see fuse_mount.h.
#include "fuse_mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

namespace tapd {
namespace {
constexpr double attr_timeout = 1.0;  // short: a removed device must drop out of the directory soon
}  // namespace

fuse_mount::fuse_mount(event_loop& loop, std::string dir, std::vector<entry> files)
    : frontend(loop, /*stream_opens=*/true), dir_(std::move(dir)), files_(std::move(files)) {}

fuse_mount::mounted::~mounted() {
    // MNT_DETACH: files still open keep the connection until they close; new lookups fail at once.
    if (::umount2(dir_.c_str(), MNT_DETACH) != 0)
        (void)std::fprintf(stderr, "tapd: unmounting %s: %s\n", dir_.c_str(), std::strerror(errno));
}

result<std::unique_ptr<fuse_mount>> fuse_mount::create(event_loop& loop, std::string dir, std::vector<entry> files) {
    static const fuse_lowlevel_ops ops = [] {
        fuse_lowlevel_ops o{};
        set_file_ops(o);
        o.lookup = ll_lookup;
        o.getattr = ll_getattr;
        o.readdir = ll_readdir;
        o.open = ll_open;
        return o;
    }();

    std::unique_ptr<fuse_mount> m(new fuse_mount(loop, std::move(dir), std::move(files)));
    auto channel = open_channel("/dev/fuse");
    if (!channel) return channel.err();
    session_args a;
    session_ptr se(fuse_session_new(&a.args, &ops, sizeof ops, m->userdata()));
    if (!se) return make_error(EIO, "fuse_session_new failed");
    if (auto r = m->serve(std::move(se), std::move(*channel)); !r) return r.err();

    // What fuse_kern_mount passes: the channel, the root's type, who mounted it; allow_other so that
    // every user the device nodes' permissions admit can open the files.
    char opts[128];
    int n = std::snprintf(opts, sizeof opts, "fd=%d,rootmode=%o,user_id=%u,group_id=%u,allow_other", m->channel_fd(),
                          static_cast<unsigned>(S_IFDIR), static_cast<unsigned>(::getuid()),
                          static_cast<unsigned>(::getgid()));
    if (n < 0 || static_cast<std::size_t>(n) >= sizeof opts) return make_error(EINVAL, "FUSE mount options too long");
    std::string mount_point = m->dir_;  // copied before the mount: nothing may fail between it and its guard
    if (::mount("tapd", m->dir_.c_str(), "fuse.tapd", MS_NOSUID | MS_NODEV, opts) != 0) {
        int e = errno;
        return make_error(e, "mounting tapd's FUSE filesystem on " + m->dir_ + ": " + std::strerror(e) +
                                 " (it must be an existing directory, and /dev/fuse usable)");
    }
    m->mount_.emplace(std::move(mount_point));
    return m;
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

void fuse_mount::ll_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
    fuse_mount* m = &self(req);
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

void fuse_mount::ll_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) noexcept {
    fuse_mount* m = &self(req);
    if (ino != FUSE_ROOT_ID && !m->by_ino(ino)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct stat st{};
    m->fill_attr(ino, &st);
    fuse_reply_attr(req, &st, attr_timeout);
}

void fuse_mount::ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) noexcept {
    fuse_mount* m = &self(req);
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    // Control path (ls): a small heap buffer is fine here.
    std::string buf;
    try {
        buf.resize(size);
    } catch (const std::bad_alloc&) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    std::size_t used = 0;
    std::size_t total = m->files_.size() + 2;
    for (std::size_t i = static_cast<std::size_t>(off); i < total; ++i) {
        struct stat st{};
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

void fuse_mount::ll_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
    fuse_mount& m = self(req);
    const entry* e = m.by_ino(ino);
    if (!e) {
        fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
        return;
    }
    m.open_file(req, fi, e->dev);
}

}  // namespace tapd
