// chr_file.cc — see chr_file.h for the theory of operation.
#include "chr_file.h"

#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "tapcore/tap_ioctl.h"

namespace tapd::chr {

chr_file::chr_file(open_queue q) noexcept : q_(std::move(q)) {
    q_->observer = this;
    // Room for the usual parked reads, so parking one allocates nothing (read() copes if this failed).
    try {
        parked_.reserve(4);
    } catch (const std::bad_alloc&) {
    }
}

chr_file::~chr_file() {
    fail_parked(-EBADF);
    if (ph_) fuse_pollhandle_destroy(ph_);
    // q_ goes last: closed on its device.
}

unsigned chr_file::poll_mask() const noexcept {
    if (!q_->dev()) return POLLERR | POLLHUP;  // tap_poll: no device → EPOLLERR
    // Writes never block (the backend absorbs them), so nothing is ever in flight: tap_poll's
    // sock_writeable (in flight < sndbuf / 2) then holds for any sndbuf of 2 or more.
    unsigned mask = q_->settings.sndbuf >= 2 ? POLLOUT | POLLWRNORM : 0;
    if (!q_->ring.empty()) mask |= POLLIN | POLLRDNORM;
    return mask;
}

void chr_file::reply_frame(fuse_req_t req, std::size_t size, const vnet_hdr& h, std::uint8_t* frame,
                           std::size_t len) noexcept {
    const std::uint8_t* out = nullptr;
    long n = format_for_reader(q_->settings, h, frame, len, size, &out);
    if (n == -ENOBUFS) {
        // A vnet header larger than the headroom (TUNSETVNETHDRSZ > 64): rare, so copy via an iovec.
        std::size_t hdr_sz = static_cast<std::size_t>(q_->settings.vnet_hdr_sz);
        std::vector<std::uint8_t> hdr;
        try {
            hdr.resize(hdr_sz, 0);
        } catch (const std::bad_alloc&) {
            fuse_reply_err(req, ENOMEM);
            return;
        }
        vnet_hdr_encode(h, q_->settings.little_endian(), hdr.data());
        iovec iov[2] = {{hdr.data(), hdr_sz}, {frame, len}};
        if (hdr_sz >= size) {
            iov[0].iov_len = size;
            fuse_reply_iov(req, iov, 1);
        } else {
            iov[1].iov_len = std::min(len, size - hdr_sz);
            fuse_reply_iov(req, iov, 2);
        }
        return;
    }
    if (n < 0) {
        fuse_reply_err(req, static_cast<int>(-n));
        return;
    }
    fuse_reply_buf(req, reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

bool chr_file::read(fuse_req_t req, std::size_t size, int open_flags) noexcept {
    if (detached_err_) {
        fuse_reply_err(req, -detached_err_);
        return false;
    }
    if (device* d = q_->dev()) {
        // BSD: EHOSTDOWN while the interface is down (tap_dev_read checks before anything else).
        if (int e = d->pers().read_status(*d)) {
            fuse_reply_err(req, -e);
            return false;
        }
    }
    if (size == 0) {  // tap_do_read: 0 without touching the queue
        fuse_reply_buf(req, nullptr, 0);
        return false;
    }
    if (!q_->ring.empty()) {
        frame_slot& s = q_->ring.front();
        reply_frame(req, size, s.hdr, s.data(), s.len);
        q_->ring.pop();
        return false;
    }
    if (open_flags & O_NONBLOCK) {
        fuse_reply_err(req, EAGAIN);
        return false;
    }
    try {
        parked_.push_back({req, size, false});
    } catch (const std::bad_alloc&) {
        fuse_reply_err(req, ENOMEM);
        return false;
    }
    return true;
}

bool chr_file::try_deliver(queue& /*q*/, const vnet_hdr& h, std::uint8_t* frame, std::size_t len) noexcept {
    // The oldest live parked read gets the frame, as a sleeping reader in tap_do_read would.
    for (auto it = parked_.begin(); it != parked_.end(); ++it) {
        if (it->interrupted) continue;
        parked_read p = *it;
        parked_.erase(it);
        reply_frame(p.req, p.size, h, frame, len);
        return true;
    }
    return false;
}

void chr_file::on_readable(queue& /*q*/) noexcept {
    // Keep the handle: the kernel identifies the file by it, and later changes must wake pollers too.
    if (ph_) fuse_lowlevel_notify_poll(ph_);
}

void chr_file::on_detached(queue& /*q*/, int err) noexcept {
    detached_err_ = err ? err : -ENODEV;
    q_->ring.clear();
    fail_parked(detached_err_);
    if (ph_) fuse_lowlevel_notify_poll(ph_);
}

void chr_file::on_link_down(queue& /*q*/, int err) noexcept {
    fail_parked(err);
    if (ph_) fuse_lowlevel_notify_poll(ph_);
}

void chr_file::fail_parked(int err) noexcept {
    // A reply only writes to the channel; nothing calls back into this file meanwhile.
    for (const parked_read& p : parked_) fuse_reply_err(p.req, -err);
    parked_.clear();
}

bool chr_file::mark_interrupted(fuse_req_t req) noexcept {
    for (parked_read& p : parked_) {
        if (p.req == req) {
            p.interrupted = true;
            return true;
        }
    }
    return false;
}

void chr_file::flush_interrupted() noexcept {
    for (auto it = parked_.begin(); it != parked_.end();) {
        if (it->interrupted) {
            fuse_req_t req = it->req;
            it = parked_.erase(it);
            fuse_reply_err(req, EINTR);
        } else {
            ++it;
        }
    }
}

void chr_file::write(fuse_req_t req, const char* buf, std::size_t size, std::size_t max_write) noexcept {
    device* d = q_->dev();
    if (!d) {
        fuse_reply_err(req, detached_err_ ? -detached_err_ : ENODEV);
        return;
    }
    // The kernel splits writes larger than max_write into several requests; a request that fills
    // max_write may be the first piece of one, and forwarding pieces as frames would corrupt traffic.
    if (max_write && size >= max_write) {
        ++q_->tx_dropped;
        fuse_reply_err(req, EMSGSIZE);
        return;
    }
    long n = d->transmit(*q_, reinterpret_cast<const std::uint8_t*>(buf), size);
    if (n < 0)
        fuse_reply_err(req, static_cast<int>(-n));
    else
        fuse_reply_write(req, static_cast<std::size_t>(n));
}

void chr_file::poll(fuse_req_t req, fuse_pollhandle* ph) noexcept {
    if (ph) {
        if (ph_) fuse_pollhandle_destroy(ph_);
        ph_ = ph;
    }
    fuse_reply_poll(req, poll_mask());
}

void chr_file::ioctl(fuse_req_t req, unsigned cmd, void* arg, unsigned flags, const void* in_buf,
                     std::size_t in_bufsz, std::size_t out_bufsz) noexcept {
    // FUSE_IOCTL_32BIT (1 << 3, the kernel's name; libfuse does not restate it): a 32-bit caller.
    constexpr unsigned fuse_ioctl_32bit = 1u << 3;
    bool compat = flags & (FUSE_IOCTL_COMPAT | fuse_ioctl_32bit);
    device* d = q_->dev();
    if (!d) {
        fuse_reply_err(req, detached_err_ ? -detached_err_ : ENODEV);
        return;
    }
    const personality& pers = d->pers();
    const ioctl_row* row = pers.find_ioctl(cmd);
    if (!row) {
        fuse_reply_err(req, -pers.unknown_ioctl());
        return;
    }
    const ioctl_spec spec = row->spec(compat);
    if (!spec.by_value && (in_bufsz < spec.in_size || out_bufsz < spec.out_size)) {
        if (!(flags & FUSE_IOCTL_UNRESTRICTED)) {
            // FUSE-mount mode: the kernel copied only what the number encodes, which is too little.
            fuse_reply_err(req, EINVAL);
            return;
        }
        iovec in_iov{arg, spec.in_size};
        iovec out_iov{arg, spec.out_size};
        fuse_reply_ioctl_retry(req, spec.in_size ? &in_iov : nullptr, spec.in_size ? 1 : 0,
                               spec.out_size ? &out_iov : nullptr, spec.out_size ? 1 : 0);
        return;
    }
    std::uint8_t out[ifreq_size];
    std::memset(out, 0, sizeof out);
    const ioctl_call call{cmd, reinterpret_cast<std::uintptr_t>(arg), static_cast<const std::uint8_t*>(in_buf),
                          in_bufsz, out, std::min(spec.out_size, sizeof out)};
    ioctl_result r = call_ioctl(*row, *q_, call, compat);
    if (r.rc < 0)
        fuse_reply_err(req, static_cast<int>(-r.rc));
    else
        fuse_reply_ioctl(req, 0, r.out_len ? out : nullptr, r.out_len);
}

}  // namespace tapd::chr
