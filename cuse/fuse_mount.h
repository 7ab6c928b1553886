// fuse_mount.h — FUSE-mount mode: the tap devices served as files DIR/<name> of a small FUSE filesystem.
//
// For kernels without CUSE, and for measuring the data path on the host: a FUSE file opened with
// direct_io takes the same kernel request path as a CUSE device for open/read/write/poll. Ioctls are
// "restricted" on regular FUSE files (the kernel copies only what the ioctl number encodes), so only the
// int-sized TUN* ioctls work here; TUNSETIFF and friends need real CUSE. The VFS answers FIONREAD itself.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chr_file.h"
#include "tapcore/event_loop.h"
#include "tapcore/result.h"

namespace tapd {

class fuse_mount final : public io_watcher {
public:
    struct entry {
        std::string name;  // file name under the mount point
        device* dev;
    };

    static result<std::unique_ptr<fuse_mount>> create(event_loop& loop, std::string dir, std::vector<entry> files);
    ~fuse_mount();
    fuse_mount(const fuse_mount&) = delete;
    fuse_mount& operator=(const fuse_mount&) = delete;

    const std::string& dir() const { return dir_; }
    // The device was removed: its file disappears from the directory and opens get ENODEV.
    void remove_device(const device* dev);
    void on_ready(unsigned events) noexcept override;

private:
    fuse_mount(event_loop& loop, std::string dir, std::vector<entry> files);
    static fuse_mount* self(fuse_req_t req) { return static_cast<fuse_mount*>(fuse_req_userdata(req)); }
    const entry* by_ino(fuse_ino_t ino) const;
    void fill_attr(fuse_ino_t ino, struct stat* st) const;

    static void ll_init(void* userdata, fuse_conn_info* conn);
    static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
    static void ll_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
    static void ll_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
    static void ll_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
                         fuse_file_info* fi);
    static void ll_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    static void ll_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void* arg, fuse_file_info* fi,
                         unsigned flags, const void* in_buf, size_t in_bufsz, size_t out_bufsz);
    static void ll_poll(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, fuse_pollhandle* ph);

    event_loop& loop_;
    std::string dir_;
    std::vector<entry> files_;  // inode = index + 2 (1 is the root)
    fuse_session* se_ = nullptr;
    event_loop::watch* watch_ = nullptr;
    fuse_buf buf_{};
    chr::file_registry open_files_;  // destroyed before se_ is: see the destructor
    std::size_t max_write_ = 0;
    bool mounted_ = false;
};

}  // namespace tapd
