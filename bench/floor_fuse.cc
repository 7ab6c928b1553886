// floor_fuse.cc — the transport floor for tap_bench: the cheapest FUSE file that behaves like a tap
// device's data path without any network behind it.
//
//   floor_fuse MOUNTDIR      serves MOUNTDIR/echo until SIGTERM/SIGINT, then unmounts and exits 0
//
// The file is opened direct_io + nonseekable (as tapd's device files are). A write stores the bytes it
// carries (one write = one "frame", up to 64 KiB) and replies with the byte count; a read returns the
// last stored frame, truncated to the read's size (an empty reply before the first write). No queue,
// no poll, no network: what remains is the FUSE request/reply cost plus the copies, i.e. what any
// userspace device daemon pays at least. Single-threaded, libfuse's plain fuse_session_loop, splice
// disabled like tapd's FUSE mount, and the same mount options as tapd ("allow_other").
// Prints "floor_fuse: ready" on stderr once mounted.
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

constexpr fuse_ino_t echo_ino = 2;
constexpr const char* echo_name = "echo";
constexpr std::size_t max_frame = 65536;

std::vector<char> g_frame;  // the last frame written
std::size_t g_len = 0;

void fill_attr(fuse_ino_t ino, struct stat* st) {
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

void ll_init(void*, fuse_conn_info* conn) {
    conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    if (parent != FUSE_ROOT_ID || std::strcmp(name, echo_name) != 0) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    fuse_entry_param e{};
    e.ino = echo_ino;
    e.attr_timeout = e.entry_timeout = 3600.0;
    fill_attr(e.ino, &e.attr);
    fuse_reply_entry(req, &e);
}

void ll_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    if (ino != FUSE_ROOT_ID && ino != echo_ino) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct stat st;
    fill_attr(ino, &st);
    fuse_reply_attr(req, &st, 3600.0);
}

void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    std::vector<char> buf(size);
    std::size_t used = 0;
    const char* names[] = {".", "..", echo_name};
    const fuse_ino_t inos[] = {FUSE_ROOT_ID, FUSE_ROOT_ID, echo_ino};
    for (off_t i = off; i < 3; ++i) {
        struct stat st;
        fill_attr(inos[i], &st);
        std::size_t n = fuse_add_direntry(req, buf.data() + used, size - used, names[i], &st, i + 1);
        if (n > size - used) break;
        used += n;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void ll_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (ino != echo_ino) {
        fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
        return;
    }
    fi->direct_io = 1;
    fi->nonseekable = 1;
    fi->keep_cache = 0;
    fuse_reply_open(req, fi);
}

void ll_read(fuse_req_t req, fuse_ino_t, size_t size, off_t, fuse_file_info*) {
    fuse_reply_buf(req, g_frame.data(), size < g_len ? size : g_len);
}

void ll_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t, fuse_file_info*) {
    if (size > max_frame) {
        fuse_reply_err(req, EMSGSIZE);
        return;
    }
    std::memcpy(g_frame.data(), buf, size);
    g_len = size;
    fuse_reply_write(req, size);
}

void ll_release(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: floor_fuse MOUNTDIR\n");
        return 2;
    }
    g_frame.resize(max_frame);
    fuse_lowlevel_ops ops{};
    ops.init = ll_init;
    ops.lookup = ll_lookup;
    ops.getattr = ll_getattr;
    ops.readdir = ll_readdir;
    ops.open = ll_open;
    ops.read = ll_read;
    ops.write = ll_write;
    ops.release = ll_release;

    char arg0[] = "floor_fuse", arg1[] = "-o", arg2[] = "allow_other,fsname=floor,subtype=floor";
    char* fargv[] = {arg0, arg1, arg2, nullptr};
    fuse_args args = FUSE_ARGS_INIT(3, fargv);
    fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, nullptr);
    if (!se) return 1;
    if (fuse_set_signal_handlers(se) != 0) return 1;
    if (fuse_session_mount(se, argv[1]) != 0) {
        std::fprintf(stderr, "floor_fuse: cannot mount on %s\n", argv[1]);
        return 1;
    }
    std::fprintf(stderr, "floor_fuse: ready\n");
    int rc = fuse_session_loop(se);
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    std::fprintf(stderr, "floor_fuse: stopped\n");
    return rc < 0 ? 1 : 0;
}
