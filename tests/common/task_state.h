// task_state.h — what /proc says a thread of this process is doing, so that a test waits until a thread
// IS blocked in a system call instead of sleeping and hoping it got there. Header-only, no test framework:
// shared by the host tests (tests/netns/common) and the programs run inside user-mode Linux
// (tests/uml/conformance, tests/uml/packet). The Python twin is tests/uml/taplib.py (blocked_in).
//
// Where it looks: /proc/self/task/TID/stat for the scheduler state (S: asleep, interruptibly), and
//  - /proc/self/task/TID/syscall ("NR ARG1 ARG2 ..." while the thread sleeps in a system call, "running"
//    otherwise) where the kernel has it (CONFIG_HAVE_ARCH_TRACEHOOK: the host);
//  - else the kernel stack, /proc/self/task/TID/stack, whose entry frame is named after the call
//    ("sys_read+0x10/0x12", "ksys_read+..."): user-mode Linux has no syscall file, but has this (root
//    only; these tests run as root). The stack has no arguments, so `fd` is not checked there.
//
// A "still blocked" check built on this cannot pass vacuously (the thread was seen inside the call, not
// merely not finished), and waiting on it never waits out its deadline when the thread does block.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace task_state {

// A system call as both sources name it: its number (syscall file) and its name (kernel stack frames).
struct syscall_id {
    long nr;
    const char* name;
};
inline constexpr syscall_id sys_read{SYS_read, "read"};
inline constexpr syscall_id sys_poll{SYS_poll, "poll"};
inline constexpr syscall_id sys_epoll_wait{SYS_epoll_wait, "epoll_wait"};

inline std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::string task_dir(pid_t tid) { return "/proc/self/task/" + std::to_string(tid); }

// The scheduler state letter of thread `tid` ('R', 'S', 'D', ...); '?' when it cannot be read.
inline char state(pid_t tid) {
    std::string s = slurp(task_dir(tid) + "/stat");
    auto p = s.rfind(')');  // the command name in parentheses may contain anything, even ") "
    return p == std::string::npos || p + 2 >= s.size() ? '?' : s[p + 2];
}

// Whether thread `tid` of this process is asleep (state S) inside system call `sc` — with `fd` as its
// first argument when fd >= 0 and the syscall file exists.
inline bool blocked_in(pid_t tid, syscall_id sc, int fd = -1) {
    if (tid <= 0 || state(tid) != 'S') return false;
    std::ifstream sf(task_dir(tid) + "/syscall");
    if (sf) {
        std::string nr;
        sf >> nr;  // "running" while it runs; a number while it sleeps in a call
        if (nr != std::to_string(sc.nr)) return false;
        if (fd < 0) return true;
        std::string arg1;
        sf >> arg1;  // hex, "0x3"
        return std::stol(arg1, nullptr, 16) == fd;
    }
    const std::string stack = slurp(task_dir(tid) + "/stack");
    return stack.find(std::string("sys_") + sc.name + "+") != std::string::npos && state(tid) == 'S';
}

// Polls `pred` every millisecond until it holds or `limit` has passed; returns its last value. A
// generous limit costs nothing when the condition comes true: it is only waited out on failure.
template <typename F>
bool wait_until(F pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// Waits until thread `tid` is blocked in `sc` (on `fd`), at most `limit`.
inline bool wait_blocked_in(pid_t tid, syscall_id sc, int fd = -1,
                            std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    return wait_until([&] { return blocked_in(tid, sc, fd); }, limit);
}

}  // namespace task_state
