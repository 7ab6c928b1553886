// fuse_mount.h — FUSE-mount mode: the tap devices served as files DIR/<name> of a small FUSE filesystem.
//
// For kernels without CUSE, and for measuring the data path on the host: a FUSE file opened with
// direct_io takes the same kernel request path as a CUSE device for open/read/write/poll. Ioctls are
// "restricted" on regular FUSE files (the kernel copies only what the ioctl number encodes), so only the
// int-sized TUN* ioctls work here; TUNSETIFF and friends need real CUSE. The VFS answers FIONREAD itself.
//
// Stream opens: a file served this way is a regular file, and Linux serialises read() and write() on one
// shared open file of a regular file (the f_pos lock taken by fdget_pos). A reader blocked in read() on
// DIR/tap0 would then hold up a write() on the same fd from another thread until a frame arrives — a
// deadlock for every VPN-style program with a reader thread and a writer thread. An open answered with
// FOPEN_STREAM gets stream_open() in the kernel, which drops that lock (and the file position), as for a
// character device. libfuse 3.14's fuse_file_info has no bit for it, so this session's writev (frontend.h,
// stream_opens) sets it on each OPEN reply of this session.
//
// The mount: tapd mounts the channel itself, as libfuse's fuse_kern_mount would (mount(2) of "tapd" on
// DIR, type fuse.tapd, "fd=N,rootmode=40000,user_id=U,group_id=G,allow_other", nosuid, nodev), and
// unmounts it lazily with umount2(MNT_DETACH) — libfuse's own unmount would poll the channel first, and
// tapd waits on nothing outside io_uring. Each acquisition (channel, session, mount) is undone by its owner
// on every way out, so a failure at any step leaves nothing mounted or open.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frontend.h"

namespace tapd {

class fuse_mount final : public frontend {
public:
    struct entry {
        std::string name;  // file name under the mount point
        device* dev;
    };

    static result<std::unique_ptr<fuse_mount>> create(event_loop& loop, std::string dir, std::vector<entry> files);

    const std::string& dir() const { return dir_; }
    // The device was removed: its file disappears from the directory and opens get ENODEV.
    void remove_device(const device* dev);

private:
    // A mount tapd made: unmounted (lazily) when destroyed.
    class mounted {
    public:
        explicit mounted(std::string dir) : dir_(std::move(dir)) {}
        ~mounted();
        mounted(const mounted&) = delete;
        mounted& operator=(const mounted&) = delete;

    private:
        std::string dir_;
    };

    fuse_mount(event_loop& loop, std::string dir, std::vector<entry> files);
    static fuse_mount& self(fuse_req_t req) { return static_cast<fuse_mount&>(of(req)); }
    const entry* by_ino(fuse_ino_t ino) const;
    void fill_attr(fuse_ino_t ino, struct stat* st) const;

    static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept;
    static void ll_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept;
    static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) noexcept;
    static void ll_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept;

    std::string dir_;
    std::vector<entry> files_;  // inode = index + 2 (1 is the root)
    std::optional<mounted> mount_;  // unmounted before the front end closes the files and the channel
};

}  // namespace tapd
