// device.cc — see device.h for the theory of operation.
#include "tapcore/device.h"

#include <signal.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <new>

#include "tapcore/flow_hash.h"
#include "tapcore/gso.h"
#include "tapcore/log.h"

namespace tapd {
namespace {

constexpr bool host_le = std::endian::native == std::endian::little;
constexpr std::size_t seg_buf_size = frame_headroom + max_gso_frame;
// Frames handled per readiness event before other fds get a turn.
constexpr int rx_batch = 64;

}  // namespace

device::device(event_loop& loop, link_control& links, std::unique_ptr<backend> be, link_info link,
               std::unique_ptr<personality> pers)
    : loop_(loop),
      links_(links),
      backend_(std::move(be)),
      link_(std::move(link)),
      pers_(std::move(pers)),
      seg_buf_(std::make_unique_for_overwrite<std::uint8_t[]>(seg_buf_size)) {
    // Room for every queue there may be, so enable_queue (noexcept, TUNSETQUEUE) never reallocates.
    queues_.reserve(max_queues);
    taps_.reserve(max_queues);
    watch_ = loop_.watch_fd(backend_->fd(), this);
}

device::~device() { shutdown(-ENODEV); }

result<link_info> device::refresh_link() {
    auto r = links_.get_link(link_.ifindex);
    // Through update_link, so a change seen here first (before the monitor's notification) still
    // wakes readers and signals owners as the notification would have.
    if (r) update_link(*r);
    return r;
}

int device::reread_link_state() noexcept {
    link_state st;
    if (int e = links_.read_state(link_.ifindex, st)) return e;
    link_.mtu = st.mtu;
    link_.mac = st.mac;
    apply_admin_state(st.admin_up);
    return 0;
}

void device::update_link(const link_info& link) noexcept {
    if (link.ifindex != link_.ifindex) return;
    // Keep the name tapd was configured with when the kernel sends none; otherwise follow renames.
    // (Names fit std::string's inline buffer, IFNAMSIZ < 16: no allocation here.)
    std::string name = link.name.empty() ? link_.name : link.name;
    const bool was_up = link_.admin_up;
    link_ = link;
    link_.name = std::move(name);
    link_.admin_up = was_up;  // apply_admin_state sees the transition
    apply_admin_state(link.admin_up);
}

void device::apply_admin_state(bool up) noexcept {
    bool went_down = link_.admin_up && !up;
    link_.admin_up = up;
    link_.flags = up ? link_.flags | iff_up : link_.flags & ~iff_up;
    if (went_down && pers_->wakes_readers_on_down()) {
        // tap_stop: sleeping readers are woken and see EHOSTDOWN; async owners get SIGIO (POLL_HUP).
        // if_down purges the send queue (IFQ_PURGE): frames queued before the down are not read after.
        for (queue* q : queues_) {
            q->ring.clear();
            if (q->observer) q->observer->on_link_down(*q, -EHOSTDOWN);
            signal_owner(*q);
        }
    }
}

void device::signal_owner(const queue& q) noexcept {
    // Per frame, so nothing is logged: an owner that has exited (ESRCH) just gets no signal, as with
    // NetBSD's fownsignal.
    if (q.settings.async && q.settings.sigio_owner) (void)::kill(q.settings.sigio_owner, SIGIO);
}

int device::set_mac(const mac_address& mac) noexcept {
    try {
        auto r = links_.set_mac(link_.ifindex, mac);
        if (!r) {
            log::warning(r.err().message);
            return -r.err().code;
        }
        link_.mac = mac;
        return 0;
    } catch (const std::bad_alloc&) {  // the message could not be built: the ioctl still gets an answer
        return -ENOMEM;
    }
}

result<std::unique_ptr<queue>> device::open_queue(queue_observer* obs) {
    if (queues_.size() >= max_queues) return make_error(EBUSY, link_.name + ": too many queues");
    if (int e = pers_->check_open(*this)) return make_error(-e, link_.name + ": open refused");
    std::size_t cap = link_.txqlen ? link_.txqlen : 1000;
    auto q = std::make_unique<queue>(*this, cap, obs);
    q->settings = pers_->initial_settings();
    queues_.push_back(q.get());
    taps_.push_back(q.get());
    pers_->opened(*this);
    return q;
}

void device::close_queue(queue& q) noexcept {
    if (q.dev() != this) return;
    if (q.enabled) disable_queue(q);
    std::erase(queues_, &q);
    q.detach_device();
    pers_->closed(*this);
}

int device::enable_queue(queue& q) noexcept {
    if (q.enabled) return -EINVAL;
    q.enabled = true;
    taps_.push_back(&q);
    return 0;
}

int device::disable_queue(queue& q) noexcept {
    if (!q.enabled) return -EINVAL;
    // tap_disable_queue: the last enabled queue takes the leaver's index, so the others keep theirs.
    auto it = std::find(taps_.begin(), taps_.end(), &q);
    if (it != taps_.end()) {
        *it = taps_.back();
        taps_.pop_back();
    }
    q.enabled = false;
    return 0;
}

long device::refuse(queue& q, long err) noexcept {
    ++q.tx_dropped;
    ++stats_.tx_dropped;
    return err;
}

long device::transmit(queue& q, const std::uint8_t* data, std::size_t len) noexcept {
    const queue_settings& s = q.settings;
    vnet_hdr h;
    std::size_t hdr_sz = 0;
    if (s.has_vnet_hdr()) {
        hdr_sz = static_cast<std::size_t>(s.vnet_hdr_sz);
        if (len < hdr_sz) return refuse(q, -EINVAL);
        h = vnet_hdr_decode(data, s.little_endian());
        if (int e = vnet_hdr_check_tx(h, len - hdr_sz)) return refuse(q, e);
    }
    // The request buffer is the front end's own (libfuse's receive buffer): fixing a header up in place
    // is fine and saves a copy.
    auto* frame = const_cast<std::uint8_t*>(data + hdr_sz);
    std::size_t flen = len - hdr_sz;
    // A GSO frame whose payload fits in one segment is a plain frame to the kernel
    // (virtio_net_hdr_to_skb / tcp_gso_segment): it is held to the MTU like any other.
    bool gso = false;
    if (h.is_gso()) {
        long payload = gso_payload_len(h, frame, flen);
        gso = payload < 0 || payload > h.gso_size;
        // A GSO frame without NEEDS_CSUM gets a partial checksum, as tcp4_gso_segment would give it.
        if (payload >= 0 && gso_make_partial(h, frame, flen) < 0) return refuse(q, -EINVAL);
    }
    if (int e = check_tx_frame(flen, link_.mtu, gso)) {
        // The monitor keeps the MTU current, but a change may still be queued behind this request:
        // re-read it once on the error path only, never on the accepted path (and without allocating:
        // reread_link_state, not refresh_link). If the re-read fails the frame gets the first answer.
        if (e != -EMSGSIZE || reread_link_state() != 0 || (e = check_tx_frame(flen, link_.mtu, gso)))
            return refuse(q, e);
    }
    std::uint8_t native[vnet_hdr_len];
    vnet_hdr_encode(h, host_le, native);
    long n = backend_->transmit(native, frame, flen);
    // The TUN interface is down. tap(4) takes the frame anyway (and the stack drops it): so do we,
    // counting it as refused.
    if (n == -EIO && pers_->accepts_writes_when_down()) return refuse(q, static_cast<long>(len));
    // The link is being deleted (it goes down first): say what the device's next operation will say.
    if (n == -ENETDOWN && backend_->link_gone()) n = -ENODEV;
    if (n < 0) return refuse(q, n);
    ++q.tx_frames;
    ++stats_.tx_frames;
    return static_cast<long>(len);
}

queue* device::pick_queue(const std::uint8_t* frame, std::size_t len) const noexcept {
    std::size_t n = taps_.size();
    if (n == 0) return nullptr;
    if (n == 1) return taps_[0];
    std::uint32_t h = flow_hash(frame, len);
    return h ? taps_[h % n] : taps_[0];
}

void device::enqueue(queue& q, const vnet_hdr& h, std::uint8_t* frame, std::size_t len) noexcept {
    ++q.rx_frames;
    signal_owner(q);  // tap_start → tap_softintr: SIGIO (POLL_IN) per frame while async
    if (q.ring.empty() && q.observer && q.observer->try_deliver(q, h, frame, len)) return;
    bool was_empty = q.ring.empty();
    if (!q.ring.push(h, frame, len)) {
        ++q.rx_dropped;
        ++stats_.rx_dropped_full;
        return;
    }
    if (was_empty && q.observer) q.observer->on_readable(q);
}

void device::deliver(const vnet_hdr& h, std::uint8_t* frame, std::size_t len) noexcept {
    queue* q = pick_queue(frame, len);
    if (!q) {
        ++stats_.rx_dropped_no_queue;
        return;
    }
    // Offloads are decided per reader (tap_handle_frame does it per queue too): a reader that accepted
    // this frame's offload gets it as the kernel made it; any other gets what a NIC would have sent.
    if (h.is_gso() && !q->settings.accepts_gso(h)) {
        struct ctx_t {
            device* self;
            queue* q;
        } ctx{this, q};
        long n = gso_segment(h, frame, len, seg_buf_.get() + frame_headroom, q->settings.accepts_csum(),
                             [](void* c, const vnet_hdr& sh, std::uint8_t* seg, std::size_t seg_len) {
                                 auto* x = static_cast<ctx_t*>(c);
                                 x->self->enqueue(*x->q, sh, seg, seg_len);
                             },
                             &ctx);
        if (n < 0) ++stats_.rx_errors;
        return;
    }
    if ((h.flags & vnet_f_needs_csum) && !q->settings.accepts_csum()) {
        // skb_checksum_help: the reader gets a complete checksum and a header saying nothing more.
        if (gso_complete_csum(h, frame, len) < 0) {
            ++stats_.rx_errors;
            return;
        }
        enqueue(*q, vnet_hdr{}, frame, len);
        return;
    }
    enqueue(*q, h, frame, len);
}

void device::on_ready(unsigned /*events*/) noexcept {
    for (int i = 0; i < rx_batch; ++i) {
        std::uint8_t* buf = nullptr;
        long n = backend_->receive(&buf);
        if (n == -EAGAIN || n == -EINTR) return;
        if (n < 0) {
            if (n == -ENETDOWN && !backend_->link_gone()) continue;  // admin down: reported once, harmless
            ++stats_.rx_errors;
            if (backend_gone_errno(n) && !gone_ && backend_->link_gone()) {
                // The interface was deleted under us: stop watching (the fd would report it forever)
                // and let the owner take the device down.
                gone_ = true;
                if (watch_) loop_.unwatch(watch_);
                watch_ = nullptr;
                if (on_gone_) on_gone_(*this);
            }
            return;
        }
        if (static_cast<std::size_t>(n) < vnet_hdr_len + eth_hlen) {
            ++stats_.rx_errors;
            continue;
        }
        ++stats_.rx_frames;
        deliver(vnet_hdr_decode(buf, host_le), buf + vnet_hdr_len, static_cast<std::size_t>(n) - vnet_hdr_len);
    }
    loop_.defer(this);  // more may be waiting: come back before sleeping
}

void device::shutdown(int err) noexcept {
    if (watch_) {
        loop_.unwatch(watch_);
        watch_ = nullptr;
    }
    // Taken out first (a swap: noexcept allows no copy): observers close their queues from inside
    // on_detached, and a detached queue's close_queue is a no-op.
    std::vector<queue*> qs;
    qs.swap(queues_);
    for (queue* q : qs) {
        if (q->enabled) disable_queue(*q);
        q->detach_device();
        if (q->observer) q->observer->on_detached(*q, err);
    }
}

}  // namespace tapd
