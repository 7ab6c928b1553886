// main.cc — tapd: serves /dev/tapN character devices from userspace through CUSE.
//
// Startup (may throw; reported once, exit 1): parse options, then the device manager creates every
// device and its front end; systemd hears READY=1 once every device node exists. Then the event loop
// runs on this thread until SIGTERM/SIGINT. Teardown mirrors startup in reverse: front ends first (nodes
// disappear, readers are failed), then devices (TUN fds close and the kernel deletes those interfaces;
// links tapd created for packet devices are deleted).
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

#include "device_manager.h"
#include "options.h"
#include "tapcore/event_loop.h"
#include "tapcore/log.h"
#include "tapcore/unique_fd.h"

namespace tapd {
namespace {

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
            log::info(std::string("caught ") + strsignal(static_cast<int>(si.ssi_signo)) + ", shutting down");
            loop_.stop();
        }
    }

private:
    event_loop& loop_;
    stats_fn stats_;
    unique_fd fd_;
    event_loop::watch* watch_ = nullptr;
};

int run(const options& opt) {
    event_loop loop;
    std::unique_ptr<device_manager> devices;
    signal_watch signals(loop, [&] {
        if (devices) devices->log_stats();
    });
    devices = std::make_unique<device_manager>(loop, opt);
    devices->set_on_ready([&] {
        sd_notifyf(0, "READY=1\nSTATUS=serving %zu device(s)", opt.devices.size());
        log::info("ready");
    });

    int rc = loop.run();
    sd_notify(0, "STOPPING=1");
    devices->log_stats();
    devices->shutdown();
    devices.reset();
    if (rc < 0) {
        log::err(std::string("event loop failed: ") + std::strerror(-rc));
        return 1;
    }
    log::info("stopped");
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
        tapd::log::err(e.what());
        std::fputs(tapd::usage(), stderr);
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
        tapd::log::err(e.what());
        return 1;
    }
}
