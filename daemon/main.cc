// main.cc — tapd: serves /dev/tapN character devices from userspace through CUSE.
//
// Startup (may throw; reported once, exit 1): parse options, open netlink, create each device's kernel
// TAP interface and its front end (a CUSE session per device, or one FUSE mount), then tell systemd
// READY=1 once every device node exists. Then the event loop runs on this thread until SIGTERM/SIGINT.
// Teardown mirrors startup in reverse: front ends first (nodes disappear, readers are failed), then
// devices (their TUN fds close and the kernel deletes the interfaces).
#include <signal.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuse_session.h"
#include "fuse_mount.h"
#include "options.h"
#include "tapcore/device.h"
#include "tapcore/event_loop.h"
#include "tapcore/tun_backend.h"
#include "tapcore/unique_fd.h"
#include "tapnl/link.h"

namespace tapd {
namespace {

void log(const std::string& msg) { std::fprintf(stderr, "tapd: %s\n", msg.c_str()); }

template <typename T>
T must(result<T> r) {
    if (!r) throw std::runtime_error(r.err().message);
    return std::move(*r);
}
void must(result<void> r) {
    if (!r) throw std::runtime_error(r.err().message);
}

// SIGTERM/SIGINT end the loop; they arrive through a signalfd watched like any other fd.
class signal_watch final : public io_watcher {
public:
    using stats_fn = std::function<void()>;
    signal_watch(event_loop& loop, stats_fn stats) : loop_(loop), stats_(std::move(stats)) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGUSR1);
        if (sigprocmask(SIG_BLOCK, &set, nullptr) < 0) throw std::runtime_error("sigprocmask failed");
        fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
        if (!fd_) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
        watch_ = loop_.watch_fd(fd_.get(), this);
    }
    ~signal_watch() { loop_.unwatch(watch_); }
    signal_watch(const signal_watch&) = delete;
    signal_watch& operator=(const signal_watch&) = delete;

    void on_ready(unsigned) noexcept override {
        signalfd_siginfo si;
        while (::read(fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            if (si.ssi_signo == SIGHUP) continue;  // nothing to reload yet
            if (si.ssi_signo == SIGUSR1) {
                if (stats_) stats_();
                continue;
            }
            log(std::string("caught ") + strsignal(static_cast<int>(si.ssi_signo)) + ", shutting down");
            loop_.stop();
        }
    }

private:
    event_loop& loop_;
    stats_fn stats_;
    unique_fd fd_;
    event_loop::watch* watch_ = nullptr;
};

struct served_device {
    std::unique_ptr<device> dev;
    std::string node;
};

// One line per device; SIGUSR1 and shutdown print it (tests read the drop counters from here).
void log_stats(const std::vector<served_device>& devices) {
    for (const auto& d : devices) {
        const device_stats& s = d.dev->stats();
        char line[512];
        std::snprintf(line, sizeof line,
                      "stats %s: rx_frames=%llu rx_dropped_full=%llu rx_dropped_no_queue=%llu rx_errors=%llu "
                      "tx_frames=%llu tx_dropped=%llu queues=%zu",
                      d.dev->link().name.c_str(), static_cast<unsigned long long>(s.rx_frames),
                      static_cast<unsigned long long>(s.rx_dropped_full),
                      static_cast<unsigned long long>(s.rx_dropped_no_queue),
                      static_cast<unsigned long long>(s.rx_errors), static_cast<unsigned long long>(s.tx_frames),
                      static_cast<unsigned long long>(s.tx_dropped), d.dev->queue_count());
        log(line);
    }
}

int run(const options& opt) {
    event_loop loop;
    std::vector<served_device> devices;
    signal_watch signals(loop, [&] { log_stats(devices); });
    auto nl = must(nl::route_socket::open());

    for (const device_spec& spec : opt.devices) {
        auto be = must(tun_backend::create(spec.name));
        auto link = must(nl.get_link(be->ifname()));
        unsigned txqlen = spec.txqueuelen ? spec.txqueuelen : opt.txqueuelen;
        if (link.txqlen != txqlen) {
            must(nl.set_txqlen(link.ifindex, txqlen));
            link = must(nl.get_link(link.ifindex));
        }
        std::string node = spec.node == "@ifindex" ? "tap" + std::to_string(link.ifindex) : spec.node;
        log("interface " + link.name + " (ifindex " + std::to_string(link.ifindex) + ", txqueuelen " +
            std::to_string(link.txqlen) + ") created");
        devices.push_back({std::make_unique<device>(loop, nl, std::move(be), std::move(link)), node});
    }

    std::unique_ptr<fuse_mount> mount;
    std::vector<std::unique_ptr<cuse_session>> sessions;
    std::size_t ready = 0;
    auto notify_ready = [&] {
        sd_notifyf(0, "READY=1\nSTATUS=serving %zu device(s)", devices.size());
        log("ready");
    };
    if (opt.fuse_mount_dir) {
        std::vector<fuse_mount::entry> files;
        for (auto& d : devices) files.push_back({d.node, d.dev.get()});
        mount = must(fuse_mount::create(loop, *opt.fuse_mount_dir, std::move(files)));
        for (auto& d : devices) log("serving " + *opt.fuse_mount_dir + "/" + d.node + " (FUSE mount)");
        notify_ready();
    } else {
        for (auto& d : devices) {
            sessions.push_back(must(cuse_session::create(loop, *d.dev, d.node, [&](cuse_session& s) {
                log("serving /dev/" + s.node_name() + " (CUSE)");
                if (++ready == devices.size()) notify_ready();
            })));
        }
    }

    int rc = loop.run();
    sd_notify(0, "STOPPING=1");
    log_stats(devices);
    // Reverse order of setup: nodes go first so no new request can reach a dying device.
    for (auto& d : devices) d.dev->shutdown(-ENODEV);
    sessions.clear();
    mount.reset();
    devices.clear();
    if (rc < 0) {
        log(std::string("event loop failed: ") + std::strerror(-rc));
        return 1;
    }
    log("stopped");
    return 0;
}

}  // namespace
}  // namespace tapd

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    tapd::options opt;
    try {
        opt = tapd::parse_options(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tapd: %s\n%s", e.what(), tapd::usage());
        return 2;
    }
    if (opt.help) {
        std::fputs(tapd::usage(), stdout);
        return 0;
    }
    if (opt.version) {
        std::puts("tapd 0.1.0");
        return 0;
    }
    try {
        return tapd::run(opt);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tapd: %s\n", e.what());
        return 1;
    }
}
