// event_loop.cc — see event_loop.h for the theory of operation.
#include "tapcore/event_loop.h"

#include <poll.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <stdexcept>

namespace tapd {

struct event_loop::watch {
    int fd;
    unsigned events;
    io_watcher* watcher;  // nullptr once unwatched: completions are then ignored
    bool armed = false;   // a poll request is in flight in the kernel
};

namespace {
// user_data values that are not watch records
constexpr std::uint64_t cancel_tag = 1;
}  // namespace

event_loop::event_loop(unsigned entries) {
    io_uring_params p{};
    // One submitter thread: tell the kernel so it can skip cross-thread task work signalling.
    p.flags = IORING_SETUP_COOP_TASKRUN;
    int rc = io_uring_queue_init_params(entries, &ring_, &p);
    if (rc == -EINVAL) {  // older kernels (UML 6.1 has COOP_TASKRUN; be tolerant anyway)
        p = {};
        rc = io_uring_queue_init_params(entries, &ring_, &p);
    }
    if (rc < 0) throw std::runtime_error(std::string("io_uring_queue_init: ") + std::strerror(-rc));
    ring_ok_ = true;
}

event_loop::~event_loop() {
    if (ring_ok_) io_uring_queue_exit(&ring_);
    // Polls still in flight (watchers unwatched after the loop stopped, whose final completions were
    // never reaped) died with the ring: their records are freed here.
    for (watch* h : records_) delete h;
}

void event_loop::release(watch* h) {
    std::erase(records_, h);
    delete h;
}

io_uring_sqe* event_loop::get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {
        // Submission queue full: push what is queued to the kernel and try again. Cannot fail twice
        // in a row since submit empties the SQ ring.
        io_uring_submit(&ring_);
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

void event_loop::arm(watch* h) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_multishot(sqe, h->fd, h->events);
    io_uring_sqe_set_data(sqe, h);
    h->armed = true;
}

event_loop::watch* event_loop::watch_fd(int fd, io_watcher* w, unsigned events) {
    auto* h = new watch{fd, events, w};  // control path: once per registration
    records_.push_back(h);
    arm(h);
    return h;
}

void event_loop::unwatch(watch* h) {
    if (!h) return;
    io_watcher* w = std::exchange(h->watcher, nullptr);
    // A dying watcher must not be called from the deferred lists either.
    std::erase(deferred_, w);
    std::replace(deferred_running_.begin(), deferred_running_.end(), w, static_cast<io_watcher*>(nullptr));
    if (!h->armed) {
        // No poll in flight (we may be inside this watch's own final completion): free it once the
        // current batch of completions is done, never under handle_cqe's feet.
        dead_.push_back(h);
        return;
    }
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_remove(sqe, reinterpret_cast<std::uint64_t>(h));
    io_uring_sqe_set_data64(sqe, cancel_tag);
    // The record is freed when the poll's final completion (without IORING_CQE_F_MORE) arrives.
}

void event_loop::defer(io_watcher* w) { deferred_.push_back(w); }

void event_loop::handle_cqe(io_uring_cqe* cqe) {
    std::uint64_t data = io_uring_cqe_get_data64(cqe);
    if (data == cancel_tag || data == 0) return;
    auto* h = reinterpret_cast<watch*>(data);
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (!more) h->armed = false;
    if (!h->watcher) {
        // Unwatched while the poll was in flight: this is (or precedes) its final completion.
        if (!more) release(h);
        return;
    }
    if (cqe->res < 0) {
        // -ECANCELED without an unwatch means the kernel dropped the multishot (e.g. CQ overflow):
        // re-arm below. Other errors (EBADF) are reported to the watcher as POLLERR.
        if (cqe->res != -ECANCELED) h->watcher->on_ready(POLLERR);
    } else {
        h->watcher->on_ready(static_cast<unsigned>(cqe->res));
    }
    // The kernel ended the multishot poll: re-arm it, unless the watcher unwatched itself inside
    // on_ready (then unwatch queued the record on dead_).
    if (!h->armed && h->watcher) arm(h);
}

int event_loop::run() {
    while (!stopping_) {
        if (!deferred_.empty()) {
            // Work is pending in user space: do not sleep, only collect what is already complete.
            deferred_running_.swap(deferred_);
            for (io_watcher* w : deferred_running_)
                if (w) w->on_ready(POLLIN);
            deferred_running_.clear();
            // Not a bare submit: with COOP_TASKRUN the kernel posts completions (the readiness of other
            // fds) only when asked for events. A busy watcher that keeps deferring itself (a flooded
            // backend) would otherwise starve every other fd — a reader's requests included.
            io_uring_submit_and_get_events(&ring_);
        } else {
            int rc = io_uring_submit_and_wait(&ring_, 1);
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return rc;
        }
        io_uring_cqe* cqe = nullptr;
        unsigned head = 0, seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            handle_cqe(cqe);
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
        for (watch* h : dead_) release(h);
        dead_.clear();
    }
    io_uring_submit(&ring_);
    return 0;
}

}  // namespace tapd
