// stream_open.cc — see stream_open.h.
//
// libfuse sends every reply with one writev() on the channel. tapd's executable defines writev(), so the
// dynamic linker binds libfuse's call to it (an executable's definitions come first in symbol lookup).
// It does nothing but forward — unless fuse_reply_open_stream() has just armed it for one OPEN reply on
// this thread, which it then recognises exactly (reply size and the file handle tapd chose) and sends
// with FOPEN_STREAM set. The system call itself is made directly, so nothing else changes.
#include "stream_open.h"

#include <linux/fuse.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace tapd {
namespace {
// The file handle of the OPEN reply to mark, 0 when none is pending. One loop thread: thread_local
// keeps it exact should a second loop thread ever reply too.
thread_local std::uint64_t g_stream_fh = 0;
}  // namespace

int fuse_reply_open_stream(fuse_req_t req, const fuse_file_info* fi) {
    g_stream_fh = fi->fh;
    int rc = fuse_reply_open(req, fi);
    g_stream_fh = 0;
    return rc;
}

}  // namespace tapd

extern "C" ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
    using namespace tapd;
    constexpr std::size_t open_reply = sizeof(fuse_out_header) + sizeof(fuse_open_out);
    if (g_stream_fh != 0 && iovcnt > 0) {
        std::size_t total = 0;
        for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
        if (total == open_reply) {
            unsigned char buf[open_reply];
            std::size_t off = 0;
            for (int i = 0; i < iovcnt; ++i) {
                std::memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
                off += iov[i].iov_len;
            }
            fuse_open_out out;
            std::memcpy(&out, buf + sizeof(fuse_out_header), sizeof out);
            if (out.fh == g_stream_fh) {
                out.open_flags |= FOPEN_STREAM;
                std::memcpy(buf + sizeof(fuse_out_header), &out, sizeof out);
                g_stream_fh = 0;
                iovec one{buf, open_reply};
                return ::syscall(SYS_writev, fd, &one, 1);
            }
        }
    }
    return ::syscall(SYS_writev, fd, iov, iovcnt);
}
