// netns_test.h — what the real-kernel tests under tests/netns share: entering a throwaway network (and
// mount) namespace before Catch runs, with exit 77 (SKIP) when that is not possible; shell and interface
// helpers; Ethernet/ARP frame building; an fd guard and a watchdog; and the tapd process fixture (start in
// FUSE-mount mode, wait for "ready", stop with SIGTERM and verify) with guarded reads and writes on its
// device files; waiting on observable state (a thread blocked in a system call: task_state.h; an
// interface's counters; tapd having answered every earlier request on a device: round_trip()).
//
// Catch2 assertions in here run on the calling (main) thread, as everywhere in these tests; helper
// threads only record what they saw.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "task_state.h"

namespace netns_test {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using bytes = std::vector<std::uint8_t>;
using mac_t = std::array<std::uint8_t, 6>;
using ip4_t = std::array<std::uint8_t, 4>;

extern std::string g_tapd;  // path of the tapd binary (argv[1]), for messages and argv[0]
extern int g_tapd_fd;       // opened before /tmp is replaced, so a tapd under the host's /tmp still runs
// The running tapd (0 when none): helpers that may block on its file arm a watchdog against it.
extern std::atomic<pid_t> g_tapd_pid;

constexpr std::size_t vnet_len = 10;  // struct virtio_net_hdr
constexpr mac_t peer_mac = {0x02, 0, 0, 0, 0, 0x02};  // the far end's MAC
constexpr mac_t bcast_mac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr std::uint16_t ethertype_test = 0x88b5;  // IEEE "local experimental"

long ms_since(clock_type::time_point t0);

using task_state::wait_until;  // wait_until(pred, limit = 10 s): poll a condition with a deadline

// ---------------------------------------------------------------------------------------------------
// Before Catch runs: namespaces and SKIP (exit 77). Each returns 0 to go on, else the exit code to
// return from main() after saying why. All of it must happen before Catch starts (and before any
// thread): namespaces are per thread.
// ---------------------------------------------------------------------------------------------------

constexpr int exit_skip = 77;

// "SKIP: needs root <why>" unless euid 0.
int skip_unless_root(const char* why);
// "SKIP: <path> not usable: ..." unless it opens for reading and writing.
int skip_unless_usable(const char* path);
// "SKIP: ip(8) from iproute2 is needed<why>" unless `ip -V` runs.
int skip_unless_iproute2(const char* why = "");
// A fresh network namespace (unshare(CLONE_NEWNET)).
int enter_netns();
// A fresh network and mount namespace: / made private, so mounts made from here on (tapd's FUSE mount)
// stay in it and die with it, and a private tmpfs on /tmp named `tmpfs_name`, so mount directories and
// logs vanish with the namespace even if the process is SIGKILLed (CTest timeout) before its destructors
// run. A failing tmpfs only leaves a note (the shared /tmp is used).
int enter_netns_and_mountns(const char* tmpfs_name);

// Everything a test of the tapd binary does before Catch: root, each of `devices` usable, argv[1] is
// tapd (usage or not executable: 2), iproute2, fresh namespaces with a private /tmp, then `prepare`
// (if any) inside them. On 0, `catch_args` is argv without argv[1], for Catch::Session().run().
struct tapd_test_setup {
    const char* needs_root;            // "SKIP: needs root <this>"
    std::vector<const char*> devices;  // e.g. /dev/fuse
    const char* tmpfs_name;            // the private /tmp's source name
    std::function<int()> prepare = {};  // in the namespaces: 0 or an exit code
};
int setup_tapd_test(int argc, char** argv, const tapd_test_setup& s, std::vector<char*>& catch_args);

// ---------------------------------------------------------------------------------------------------
// Shell and interface helpers (read in this network namespace, never /sys: it shows the netns it was
// mounted in)
// ---------------------------------------------------------------------------------------------------

// popen(`cmd`): all of its stdout.
std::string run(const std::string& cmd);
// system(`cmd`): its exit status, -1 when it did not exit.
int sh(const std::string& cmd);
std::string read_text(const std::string& path);
bool contains(const std::string& hay, const std::string& needle);
bool mounted(const std::string& dir);

int ifindex_of(const std::string& name);
bool interface_exists(const std::string& name);
// SIOCGIFHWADDR.
std::optional<mac_t> if_mac(const std::string& name);

// An interface's counters in this network namespace, from /proc/self/net/dev (per netns, unlike /sys).
// For a TUN interface tx_packets counts the frames its reader (tapd) took off the TUN fd, tx_dropped
// the ones the kernel dropped because its ring was full.
struct if_counters {
    unsigned long long rx_packets = 0, rx_dropped = 0, tx_packets = 0, tx_dropped = 0;
};
std::optional<if_counters> if_stats(const std::string& name);

// ---------------------------------------------------------------------------------------------------
// Frame building and parsing
// ---------------------------------------------------------------------------------------------------

void put16(bytes& b, std::uint16_t v);
template <std::size_t N>
void put(bytes& b, const std::array<std::uint8_t, N>& a) {
    b.insert(b.end(), a.begin(), a.end());
}
std::uint16_t get16(const bytes& b, std::size_t off);
template <std::size_t N>
std::array<std::uint8_t, N> get_arr(const bytes& b, std::size_t off) {
    std::array<std::uint8_t, N> a{};
    for (std::size_t i = 0; i < N; ++i) a[i] = b.at(off + i);
    return a;
}

std::string mac_str(const mac_t& m);
// The first `max` bytes as hex, in pairs.
std::string hex(const bytes& b, std::size_t max = 64);

void eth_header(bytes& f, const mac_t& dst, const mac_t& src, std::uint16_t type);
// ARP request "who has `target` tell `sender_ip`" from `sender_mac`, broadcast. 42 bytes.
bytes arp_request(const mac_t& sender_mac, const ip4_t& sender_ip, const ip4_t& target);

// `frame` behind a zeroed vnet header of `hdr` bytes.
bytes with_vnet(const bytes& frame, std::size_t hdr = vnet_len);
// The vnet header tapd hands readers for frames that came from the kernel or the wire: no GSO, nothing
// to complete; at most VIRTIO_NET_HDR_F_DATA_VALID (2) in flags.
bool vnet_hdr_plain(const bytes& b, std::size_t hdr = vnet_len);

// ---------------------------------------------------------------------------------------------------
// RAII bits and the watchdog
// ---------------------------------------------------------------------------------------------------

class fd_guard {
public:
    explicit fd_guard(int fd = -1) : fd_(fd) {}
    ~fd_guard() { reset(); }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    int get() const { return fd_; }
    void reset(int fd = -1);

private:
    int fd_;
};

// SIGKILLs `pid` unless disarmed within `limit`: unsticks anything blocked on tapd's FUSE file.
class watchdog {
public:
    watchdog(pid_t pid, std::chrono::milliseconds limit);
    ~watchdog() { disarm(); }
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;
    void disarm();
    bool fired() const { return fired_; }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool disarmed_ = false;
    std::atomic<bool> fired_{false};
    std::thread thread_;
};

// ---------------------------------------------------------------------------------------------------
// The fixture: one tapd, `tapd --fuse-mount DIR --device D1 --device D2 ...`, DIR under /tmp
// ---------------------------------------------------------------------------------------------------

class tapd_process {
public:
    // DIR is /tmp/<tmp_prefix>.XXXXXX, tapd's stderr goes to DIR.stderr.
    explicit tapd_process(std::string tmp_prefix) : tmp_prefix_(std::move(tmp_prefix)) {}
    tapd_process(const tapd_process&) = delete;
    tapd_process& operator=(const tapd_process&) = delete;
    // Emergency cleanup only; the happy path is stop_and_verify().
    ~tapd_process();

    // Starts tapd with one --device per entry and waits (10 s) for "ready" and the mount.
    void start(const std::vector<std::string>& devices);
    // SIGTERM → exit 0 within `limit`, "stopped" logged, mount gone. Returns the time to exit.
    long stop_and_verify(std::chrono::milliseconds limit = 10000ms);

    // SIGKILL without reaping (the destructor reaps): aborts the FUSE connection, failing blocked calls.
    void kill_hard();
    bool alive();
    int open_file(const std::string& node, int flags = O_RDWR) const;
    std::string log() const { return read_text(log_); }
    std::string path(const std::string& node) const { return dir_ + "/" + node; }
    const std::string& dir() const { return dir_; }
    pid_t pid() const { return pid_; }

private:
    std::string tmp_prefix_;
    std::string dir_, log_;
    pid_t pid_ = -1;
};

// Joins a helper thread on every way out of a test. If a failed REQUIRE left it blocked on the file,
// tapd is SIGKILLed first (the FUSE connection aborts and the blocked call fails) so the join cannot hang.
class thread_guard {
public:
    thread_guard(std::thread& th, tapd_process& t) : th_(th), t_(t) {}
    ~thread_guard();
    thread_guard(const thread_guard&) = delete;
    thread_guard& operator=(const thread_guard&) = delete;

private:
    std::thread& th_;
    tapd_process& t_;
};

// ---------------------------------------------------------------------------------------------------
// I/O on a device file, guarded by the watchdog against g_tapd_pid
// ---------------------------------------------------------------------------------------------------

struct io_result {
    long n = 0;
    int err = 0;
};

// A thread's kernel id, published by the thread itself (publish() first thing), so that another
// thread can watch it in /proc.
class thread_id {
public:
    void publish();  // call from the thread
    pid_t get() const { return tid_.load(); }

private:
    std::atomic<pid_t> tid_{0};
};

// Waits (up to `limit`) until the thread has published its id and is asleep in system call `sc` on `fd`
// (fd < 0: any): a blocked read, poll, epoll_wait seen in /proc, not guessed from elapsed time.
bool wait_blocked(const thread_id& th, task_state::syscall_id sc, int fd = -1,
                  std::chrono::milliseconds limit = 10000ms);

// One request tapd must answer on `fd`'s device (TUNGETVNETHDRSZ, int-sized, so FUSE-mount mode passes
// it): tapd reads a device's requests in order from one channel and answers them from one thread, so
// when this returns it has handled every request made on that device before, e.g. parked a read that a
// thread is blocked in. Returns the ioctl's errno (0).
int round_trip(int fd);

// Every write is answered at once by tapd (it never queues); a hang is a bug, so guard it.
io_result write_buf(int fd, const bytes& b, std::chrono::milliseconds limit = 10000ms);

struct read_result {
    bytes data;
    int err = 0;  // errno when the read failed
    bool timed_out = false;
};
// One blocking read, guarded: if nothing arrives within `limit`, tapd is killed (the read then fails).
read_result read_frame(int fd, std::chrono::milliseconds limit = 10000ms, std::size_t cap = 65600);

}  // namespace netns_test
