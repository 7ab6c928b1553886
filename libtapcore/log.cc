// log.cc — see log.h.
#include "tapcore/log.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>  // the priority prefixes only: nothing here links libsystemd

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace tapd::log {
namespace {

constexpr int uninitialised = -1;
std::atomic<int> g_fd{uninitialised};
std::atomic<bool> g_journal{false};

// JOURNAL_STREAM="<st_dev>:<st_ino>" of the stream systemd connected: is `fd` still that stream?
bool is_journal(int fd) noexcept {
    const char* js = std::getenv("JOURNAL_STREAM");
    if (js == nullptr) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st {};
    if (::fstat(fd, &st) < 0) return false;
    return st.st_dev == dev && st.st_ino == ino;
}

int sink() noexcept {
    int fd = g_fd.load(std::memory_order_relaxed);
    if (fd == uninitialised) {
        init();
        fd = g_fd.load(std::memory_order_relaxed);
    }
    return fd;
}

}  // namespace

void init(int fd) noexcept {
    g_journal.store(is_journal(fd), std::memory_order_relaxed);
    g_fd.store(fd, std::memory_order_relaxed);
}

std::string_view prefix(level lv) noexcept {
    switch (lv) {
        case level::err:
            return SD_ERR;
        case level::warning:
            return SD_WARNING;
        case level::info:
            return SD_INFO;
        case level::debug:
            return SD_DEBUG;
    }
    return SD_ERR;
}

void write(level lv, std::string_view msg) noexcept {
    const int fd = sink();
    std::string_view pre = g_journal.load(std::memory_order_relaxed) ? prefix(lv) : std::string_view{};
    static constexpr char name[] = "tapd: ";
    static constexpr char nl[] = "\n";
    iovec iov[4] = {
        {const_cast<char*>(pre.data()), pre.size()},
        {const_cast<char*>(name), sizeof name - 1},
        {const_cast<char*>(msg.data()), msg.size()},
        {const_cast<char*>(nl), 1},
    };
    // A log line that cannot be written has nowhere else to go.
    (void)!::writev(fd, iov, 4);
}

void writef(level lv, const char* fmt, ...) noexcept {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    std::size_t len = static_cast<std::size_t>(n) < sizeof buf ? static_cast<std::size_t>(n) : sizeof buf - 1;
    write(lv, std::string_view(buf, len));
}

}  // namespace tapd::log
