// test_packet.cc — tapd's AF_PACKET backend and its netlink link management on a real kernel.
//
// Usage: test_netns_packet PATH-TO-TAPD [Catch2 arguments...]
//
// Same shape as tests/netns/tapd (whose fixture this follows; its helpers are copied, not shared, so
// that file stays untouched): main() moves the process into a fresh network namespace and a private
// mount namespace (own tmpfs on /tmp) before Catch runs; CTest runs one process per tag, so every test
// has its own throwaway netns. Each TEST_CASE builds veth0/veth1 there (IPv6 off everywhere, so the
// kernel sends nothing of its own), starts its own `tapd --fuse-mount DIR --device ...`, and plays the
// far end on veth1 with AF_PACKET sockets: frames sent there to the macvlan's MAC must come out of the
// device file (10-byte virtio_net_hdr first), frames written into the file must be captured there.
//
// Blocking calls on the FUSE file are guarded by a watchdog that SIGKILLs tapd (the FUSE connection then
// aborts and the call fails), so a hang is a failure, never a stuck test.
// Catch2 assertions run on the main thread only; helper threads just record what they saw.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using bytes = std::vector<std::uint8_t>;
using mac_t = std::array<std::uint8_t, 6>;
using ip4_t = std::array<std::uint8_t, 4>;

std::string g_tapd;
int g_tapd_fd = -1;
std::atomic<pid_t> g_tapd_pid{0};

constexpr std::size_t vnet_len = 10;
constexpr mac_t bcast_mac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr mac_t peer_mac = {0x02, 0, 0, 0, 0, 0x02};  // the far end's frames (source MAC)
constexpr std::uint16_t ethertype_test = 0x88b5;

long ms_since(clock_type::time_point t0) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count());
}

// ---------------------------------------------------------------------------------------------------
// Shell and interface helpers
// ---------------------------------------------------------------------------------------------------

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return out;
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    pclose(p);
    return out;
}

int sh(const std::string& cmd) {
    int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::string mac_str(const mac_t& m) {
    char s[18];
    std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return s;
}

std::string hex(const bytes& b, std::size_t max = 64) {
    std::string s;
    char h[4];
    for (std::size_t i = 0; i < b.size() && i < max; ++i) {
        std::snprintf(h, sizeof h, "%02x", b[i]);
        s += h;
        if (i % 2) s += ' ';
    }
    if (b.size() > max) s += "...";
    return s;
}

int ifindex_of(const std::string& name) { return static_cast<int>(::if_nametoindex(name.c_str())); }
bool interface_exists(const std::string& name) { return ifindex_of(name) != 0; }

// `ip -d -o link show dev NAME`: one line with the kind, mode and promiscuity; empty when there is none.
std::string ip_link_detail(const std::string& name) { return run("ip -d -o link show dev " + name + " 2>/dev/null"); }

std::optional<mac_t> if_mac(const std::string& name) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return std::nullopt;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    int rc = ::ioctl(s, SIOCGIFHWADDR, &ifr);
    ::close(s);
    if (rc < 0) return std::nullopt;
    mac_t m{};
    std::memcpy(m.data(), ifr.ifr_hwaddr.sa_data, 6);
    return m;
}

bool mounted(const std::string& dir) {
    std::istringstream in(read_text("/proc/self/mounts"));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        std::string src, target;
        l >> src >> target;
        if (target == dir) return true;
    }
    return false;
}

std::set<std::string> list_dir(const std::string& dir) {
    std::set<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.insert(e->d_name);
    ::closedir(d);
    return out;
}

// veth0 <-> veth1, both up, IPv6 off (no RS/MLD/DAD frames anywhere), no addresses: a quiet wire.
void make_veth() {
    REQUIRE(sh("ip link add veth0 type veth peer name veth1") == 0);
    for (const char* n : {"veth0", "veth1"})
        REQUIRE(sh(std::string("sysctl -q -w net.ipv6.conf.") + n + ".disable_ipv6=1 >/dev/null") == 0);
    REQUIRE(sh("ip link set veth0 up && ip link set veth1 up") == 0);
}

// ---------------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------------

void put16(bytes& b, std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
template <std::size_t N>
void put(bytes& b, const std::array<std::uint8_t, N>& a) {
    b.insert(b.end(), a.begin(), a.end());
}
std::uint16_t get16(const bytes& b, std::size_t off) {
    return static_cast<std::uint16_t>((b.at(off) << 8) | b.at(off + 1));
}
template <std::size_t N>
std::array<std::uint8_t, N> get_arr(const bytes& b, std::size_t off) {
    std::array<std::uint8_t, N> a{};
    for (std::size_t i = 0; i < N; ++i) a[i] = b.at(off + i);
    return a;
}

// A marker frame (EtherType 0x88b5, "tapd-pkt" + 32-bit sequence) of `len` bytes in all.
bytes marker_frame(const mac_t& dst, const mac_t& src, std::uint32_t seq, std::size_t len = 60) {
    bytes f;
    put(f, dst);
    put(f, src);
    put16(f, ethertype_test);
    const char tag[] = "tapd-pkt";
    f.insert(f.end(), tag, tag + sizeof tag - 1);
    f.push_back(static_cast<std::uint8_t>(seq >> 24));
    f.push_back(static_cast<std::uint8_t>(seq >> 16));
    f.push_back(static_cast<std::uint8_t>(seq >> 8));
    f.push_back(static_cast<std::uint8_t>(seq));
    for (std::size_t i = f.size(); i < len; ++i) f.push_back(static_cast<std::uint8_t>(i));
    f.resize(std::max<std::size_t>(len, 26));
    return f;
}
bool is_marker(const bytes& f) {
    return f.size() >= 26 && get16(f, 12) == ethertype_test && std::memcmp(f.data() + 14, "tapd-pkt", 8) == 0;
}
std::uint32_t marker_seq(const bytes& f) {
    return (std::uint32_t{f.at(22)} << 24) | (std::uint32_t{f.at(23)} << 16) | (std::uint32_t{f.at(24)} << 8) | f.at(25);
}

bytes with_vnet(const bytes& frame) {
    bytes b(vnet_len + frame.size(), 0);
    std::copy(frame.begin(), frame.end(), b.begin() + vnet_len);
    return b;
}

// A header for a frame that came from the wire: no GSO, nothing to complete; at most DATA_VALID (2).
bool vnet_hdr_plain(const bytes& b) {
    if (b.size() < vnet_len) return false;
    if (b[0] != 0 && b[0] != 2) return false;
    for (std::size_t i = 1; i < vnet_len; ++i)
        if (b[i] != 0) return false;
    return true;
}

// ARP request from `smac`/`sip` for `tip`, broadcast (42 bytes).
bytes arp_request(const mac_t& smac, const ip4_t& sip, const ip4_t& tip) {
    bytes f;
    put(f, bcast_mac);
    put(f, smac);
    put16(f, ETH_P_ARP);
    put16(f, 1);
    put16(f, 0x0800);
    f.push_back(6);
    f.push_back(4);
    put16(f, 1);
    put(f, smac);
    put(f, sip);
    put(f, mac_t{});
    put(f, tip);
    return f;
}

// ---------------------------------------------------------------------------------------------------
// RAII bits and the watchdog (as in tests/netns/tapd)
// ---------------------------------------------------------------------------------------------------

class fd_guard {
public:
    explicit fd_guard(int fd = -1) : fd_(fd) {}
    ~fd_guard() { reset(); }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    int get() const { return fd_; }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

class watchdog {
public:
    watchdog(pid_t pid, std::chrono::milliseconds limit) : thread_([this, pid, limit] {
        std::unique_lock lk(m_);
        if (!cv_.wait_for(lk, limit, [this] { return disarmed_; })) {
            fired_ = true;
            if (pid > 0) ::kill(pid, SIGKILL);
        }
    }) {}
    ~watchdog() { disarm(); }
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;
    void disarm() {
        {
            std::lock_guard lk(m_);
            disarmed_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }
    bool fired() const { return fired_; }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool disarmed_ = false;
    std::atomic<bool> fired_{false};
    std::thread thread_;
};

// ---------------------------------------------------------------------------------------------------
// The fixture: one tapd with any number of --device arguments, FUSE-mounted under /tmp
// ---------------------------------------------------------------------------------------------------

class tapd_instance {
public:
    tapd_instance() = default;
    tapd_instance(const tapd_instance&) = delete;
    tapd_instance& operator=(const tapd_instance&) = delete;
    ~tapd_instance() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int st;
            ::waitpid(pid_, &st, 0);
            pid_ = -1;
        }
        g_tapd_pid = 0;
        if (!dir_.empty()) {
            if (mounted(dir_)) ::umount2(dir_.c_str(), MNT_DETACH);
            ::rmdir(dir_.c_str());
        }
        if (!log_.empty()) ::unlink(log_.c_str());
    }

    // Starts `tapd --fuse-mount DIR --device D1 --device D2 ...` and waits for "ready".
    void start(const std::vector<std::string>& devices) {
        char tmpl[] = "/tmp/tapd-packet.XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir_ = tmpl;
        log_ = dir_ + ".stderr";
        int errfd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(errfd >= 0);
        std::vector<std::string> args = {g_tapd, "--fuse-mount", dir_};
        for (const auto& d : devices) {
            args.push_back("--device");
            args.push_back(d);
        }
        const pid_t parent = ::getpid();
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            ::dup2(errfd, 2);
            int devnull = ::open("/dev/null", O_RDWR);
            ::dup2(devnull, 0);
            ::dup2(devnull, 1);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::fexecve(g_tapd_fd, argv.data(), environ);
            std::fprintf(stderr, "exec %s: %s\n", g_tapd.c_str(), std::strerror(errno));
            ::_exit(127);
        }
        ::close(errfd);
        pid_ = pid;
        g_tapd_pid = pid;
        auto t0 = clock_type::now();
        bool ready = false;
        while (ms_since(t0) < 5000) {
            if (contains(log(), "tapd: ready")) {
                ready = true;
                break;
            }
            int st;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                g_tapd_pid = 0;
                break;
            }
            std::this_thread::sleep_for(10ms);
        }
        INFO("tapd stderr:\n" << log());
        REQUIRE(ready);
        REQUIRE(mounted(dir_));
    }

    // SIGTERM → exit 0 within `limit`, "stopped" logged, mount gone.
    void stop_and_verify(std::chrono::milliseconds limit = 5000ms) {
        REQUIRE(pid_ > 0);
        auto t0 = clock_type::now();
        REQUIRE(::kill(pid_, SIGTERM) == 0);
        int st = 0;
        bool exited = false;
        while (ms_since(t0) < limit.count()) {
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                exited = true;
                break;
            }
            std::this_thread::sleep_for(5ms);
        }
        if (exited) {
            pid_ = -1;
            g_tapd_pid = 0;
        }
        INFO("tapd stderr:\n" << log());
        CHECK(exited);
        if (exited) {
            CHECK(WIFEXITED(st));
            CHECK(WEXITSTATUS(st) == 0);
        }
        CHECK(contains(log(), "tapd: stopped"));
        CHECK_FALSE(mounted(dir_));
    }

    void kill_hard() {
        if (pid_ > 0) ::kill(pid_, SIGKILL);
    }
    bool alive() {
        if (pid_ <= 0) return false;
        int st;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            g_tapd_pid = 0;
            return false;
        }
        return true;
    }
    int open_file(const std::string& node, int flags = O_RDWR) const {
        return ::open(path(node).c_str(), flags | O_CLOEXEC);
    }
    std::string log() const { return read_text(log_); }
    std::string path(const std::string& node) const { return dir_ + "/" + node; }
    const std::string& dir() const { return dir_; }
    pid_t pid() const { return pid_; }

private:
    std::string dir_, log_;
    pid_t pid_ = -1;
};

// Joins a helper thread on every way out of a test; SIGKILLs tapd first if it is still blocked.
class thread_guard {
public:
    thread_guard(std::thread& th, tapd_instance& t) : th_(th), t_(t) {}
    ~thread_guard() {
        if (th_.joinable()) {
            t_.kill_hard();
            th_.join();
        }
    }
    thread_guard(const thread_guard&) = delete;
    thread_guard& operator=(const thread_guard&) = delete;

private:
    std::thread& th_;
    tapd_instance& t_;
};

std::string node_for(const std::string& ifname) { return "tap" + std::to_string(ifindex_of(ifname)); }

// ---------------------------------------------------------------------------------------------------
// I/O on the device file
// ---------------------------------------------------------------------------------------------------

struct io_result {
    long n = 0;
    int err = 0;
};

io_result write_buf(int fd, const bytes& b) {
    watchdog wd(g_tapd_pid.load(), 5000ms);
    errno = 0;
    ssize_t n = ::write(fd, b.data(), b.size());
    int e = errno;
    wd.disarm();
    if (wd.fired()) FAIL_CHECK("write() hung for 5 s: tapd killed");
    return {static_cast<long>(n), n < 0 ? e : 0};
}

struct read_result {
    bytes data;
    int err = 0;
    bool timed_out = false;
};

// One blocking read guarded by the watchdog (tapd is killed when nothing arrives within `limit`).
read_result read_once(int fd, std::chrono::milliseconds limit) {
    read_result r;
    r.data.resize(65600);
    watchdog wd(g_tapd_pid.load(), limit);
    ssize_t n = ::read(fd, r.data.data(), r.data.size());
    int e = errno;
    wd.disarm();
    r.timed_out = wd.fired();
    if (n < 0) {
        r.err = e;
        r.data.clear();
    } else {
        r.data.resize(static_cast<std::size_t>(n));
    }
    return r;
}

// Reads until a marker frame with sequence `seq` arrives (others are skipped and listed in `skipped`).
// Uses poll() with a deadline, then an O_NONBLOCK read, so nothing waits forever.
read_result read_marker(int fd, std::uint32_t seq, std::chrono::milliseconds limit, std::string* skipped = nullptr) {
    auto t0 = clock_type::now();
    read_result r;
    for (;;) {
        long left = limit.count() - ms_since(t0);
        if (left <= 0) {
            r.timed_out = true;
            return r;
        }
        pollfd p{fd, POLLIN, 0};
        int pr;
        {
            watchdog wd(g_tapd_pid.load(), std::chrono::milliseconds(left + 3000));
            pr = ::poll(&p, 1, static_cast<int>(left));
        }
        if (pr <= 0) continue;
        bytes buf(65600);
        int fl = ::fcntl(fd, F_GETFL);
        ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        ssize_t n = ::read(fd, buf.data(), buf.size());
        int e = errno;
        ::fcntl(fd, F_SETFL, fl);
        if (n < 0) {
            if (e == EAGAIN) continue;
            r.err = e;
            return r;
        }
        buf.resize(static_cast<std::size_t>(n));
        bytes frame(buf.begin() + static_cast<long>(std::min<std::size_t>(vnet_len, buf.size())), buf.end());
        if (is_marker(frame) && marker_seq(frame) == seq) {
            r.data = std::move(buf);
            return r;
        }
        if (skipped) *skipped += "[" + std::to_string(n) + " bytes: " + hex(buf, 40) + "] ";
    }
}

// ---------------------------------------------------------------------------------------------------
// The far end: AF_PACKET on veth1
// ---------------------------------------------------------------------------------------------------

class wire {
public:
    explicit wire(const std::string& ifname) : ifname_(ifname) {
        ifindex_ = ifindex_of(ifname);
        REQUIRE(ifindex_ != 0);
        tx_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
        REQUIRE(tx_.get() >= 0);
        sockaddr_ll a{};
        a.sll_family = AF_PACKET;
        a.sll_ifindex = ifindex_;
        REQUIRE(::bind(tx_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        rx_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
        REQUIRE(rx_.get() >= 0);
        int one = 1;
        REQUIRE(::setsockopt(rx_.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0);
        a.sll_protocol = htons(ETH_P_ALL);
        REQUIRE(::bind(rx_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    }
    bool send(const bytes& f) const {
        sockaddr_ll a{};
        a.sll_family = AF_PACKET;
        a.sll_ifindex = ifindex_;
        a.sll_halen = 6;
        std::memcpy(a.sll_addr, f.data(), 6);
        return ::sendto(tx_.get(), f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) ==
               static_cast<ssize_t>(f.size());
    }
    void drain() const {
        std::uint8_t buf[2048];
        while (::recv(rx_.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) {
        }
    }
    // The marker frame with sequence `seq` as it arrived here, if it did within `ms`.
    std::optional<bytes> capture(std::uint32_t seq, int ms = 2000) const {
        auto t0 = clock_type::now();
        bytes buf(70000);
        while (ms_since(t0) < ms) {
            pollfd p{rx_.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            ssize_t n = ::recv(rx_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (n <= 0) continue;
            bytes f(buf.begin(), buf.begin() + n);
            if (is_marker(f) && marker_seq(f) == seq) return f;
        }
        return std::nullopt;
    }

private:
    std::string ifname_;
    int ifindex_ = 0;
    fd_guard tx_, rx_;
};

// Writes a marker frame of `len` bytes into the device and captures it on `w`; CHECKs it came whole.
void write_and_capture(int fd, const wire& w, const mac_t& src, std::uint32_t seq, std::size_t len = 60) {
    bytes f = marker_frame(peer_mac, src, seq, len);
    w.drain();
    auto r = write_buf(fd, with_vnet(f));
    INFO("write of a " << len << "-byte frame: " << r.n << " errno " << r.err << " (" << std::strerror(r.err) << ")");
    REQUIRE(r.n == static_cast<long>(f.size() + vnet_len));
    auto got = w.capture(seq);
    INFO("frame " << seq << " (" << len << " bytes) written into the device");
    REQUIRE(got.has_value());
    CHECK(*got == f);
}

// Sends a marker frame to `dst` from the wire and reads it from the device; CHECKs header and bytes.
void send_and_read(int fd, const wire& w, const mac_t& dst, std::uint32_t seq, std::size_t len = 60) {
    bytes f = marker_frame(dst, peer_mac, seq, len);
    REQUIRE(w.send(f));
    std::string skipped;
    auto r = read_marker(fd, seq, 3000ms, &skipped);
    INFO("frame " << seq << " sent to " << mac_str(dst) << "; read errno " << r.err << ", timed out "
                  << r.timed_out << "; skipped: " << skipped);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.err == 0);
    REQUIRE(r.data.size() == vnet_len + f.size());
    CHECK(vnet_hdr_plain(r.data));
    CHECK(bytes(r.data.begin() + vnet_len, r.data.end()) == f);
}

// Sends a marker frame to `dst` and CHECKs that nothing of that sequence reaches the device in `ms`.
void send_and_expect_nothing(int fd, const wire& w, const mac_t& dst, std::uint32_t seq, int ms = 500) {
    REQUIRE(w.send(marker_frame(dst, peer_mac, seq)));
    auto r = read_marker(fd, seq, std::chrono::milliseconds(ms));
    INFO("frame " << seq << " sent to " << mac_str(dst) << " must not reach the device");
    CHECK(r.timed_out);
}

// Waits until `pred` holds, up to `ms`; returns whether it did.
template <typename F>
bool eventually(F pred, int ms = 3000) {
    auto t0 = clock_type::now();
    while (ms_since(t0) < ms) {
        if (pred()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return pred();
}

}  // namespace

// ===================================================================================================
// Tests
// ===================================================================================================

TEST_CASE("lower=: tapd creates the macvlan (mode as asked), serves tap<ifindex>, deletes it on SIGTERM",
          "[lifecycle]") {
    make_veth();
    REQUIRE_FALSE(interface_exists("mvA"));
    tapd_instance t;
    t.start({"mvA,backend=packet,lower=veth0", "mvB,backend=packet,lower=veth0,mode=vepa"});

    // `ip link` shows both, as macvlans on veth0 with the asked mode, up.
    std::string a = ip_link_detail("mvA"), b = ip_link_detail("mvB");
    INFO("ip -d link: " << a << b << "\ntapd stderr:\n" << t.log());
    CHECK(contains(a, "mvA@veth0"));
    CHECK(contains(a, "macvlan mode bridge"));
    CHECK(contains(a, ",UP"));
    CHECK(contains(b, "mvB@veth0"));
    CHECK(contains(b, "macvlan mode vepa"));
    // The node is tap<ifindex>, macvtap's name; nothing else is in the directory.
    std::string na = node_for("mvA"), nb = node_for("mvB");
    CHECK(list_dir(t.dir()) == std::set<std::string>{na, nb});
    fd_guard fd(t.open_file(na));
    REQUIRE(fd.get() >= 0);
    fd.reset();

    t.stop_and_verify();
    // Deleted with tapd (netlink, synchronously before exit): no waiting needed, but allow the kernel's
    // unregistration a moment.
    CHECK(eventually([] { return !interface_exists("mvA") && !interface_exists("mvB"); }, 2000));
    CHECK(ip_link_detail("mvA").empty());
    CHECK(interface_exists("veth0"));
}

TEST_CASE("attach=: serves an existing link (promiscuous) and leaves it in place on exit", "[attach]") {
    make_veth();
    std::string before = ip_link_detail("veth0");
    tapd_instance t;
    t.start({"att0,backend=packet,attach=veth0"});
    INFO("tapd stderr:\n" << t.log());
    CHECK_FALSE(interface_exists("att0"));  // nothing created
    std::string node = node_for("veth0");
    CHECK(list_dir(t.dir()) == std::set<std::string>{node});
    CHECK(contains(ip_link_detail("veth0"), "promiscuity 1"));

    fd_guard fd(t.open_file(node));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");
    auto vmac = if_mac("veth0");
    REQUIRE(vmac.has_value());
    // Promiscuous: a unicast frame for somebody else reaches the device too.
    send_and_read(fd.get(), w, *vmac, 1);
    send_and_read(fd.get(), w, mac_t{0x02, 0x99, 0x99, 0x99, 0x99, 0x99}, 2);
    write_and_capture(fd.get(), w, *vmac, 3);
    fd.reset();

    t.stop_and_verify();
    CHECK(interface_exists("veth0"));
    CHECK(interface_exists("veth1"));
    std::string after = ip_link_detail("veth0");
    INFO("before: " << before << "after: " << after);
    CHECK(contains(after, "veth0@veth1"));
    CHECK(contains(after, "promiscuity 0"));  // the socket's membership went with it
    CHECK(contains(after, ",UP"));
}

TEST_CASE("traffic both ways: writes leave on the wire, frames to the macvlan's MAC are read with the header",
          "[traffic]") {
    make_veth();
    tapd_instance t;
    t.start({"mv0,backend=packet,lower=veth0"});
    std::string node = node_for("mv0");
    auto mv_mac = if_mac("mv0");
    REQUIRE(mv_mac.has_value());
    fd_guard fd(t.open_file(node));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");

    // Device → wire: small, odd-sized and full-MTU frames arrive byte for byte.
    write_and_capture(fd.get(), w, *mv_mac, 10, 60);
    write_and_capture(fd.get(), w, *mv_mac, 11, 333);
    write_and_capture(fd.get(), w, *mv_mac, 12, 1514);
    // Wire → device: unicast to the macvlan's MAC and broadcast arrive; unicast elsewhere does not.
    send_and_read(fd.get(), w, *mv_mac, 20, 60);
    send_and_read(fd.get(), w, *mv_mac, 21, 1514);
    send_and_read(fd.get(), w, bcast_mac, 22);
    send_and_expect_nothing(fd.get(), w, mac_t{0x02, 0x99, 0x99, 0x99, 0x99, 0x99}, 23);
    // What the device wrote is not looped back to its readers (PACKET_IGNORE_OUTGOING).
    {
        bytes f = marker_frame(bcast_mac, *mv_mac, 30);
        REQUIRE(write_buf(fd.get(), with_vnet(f)).n == static_cast<long>(f.size() + vnet_len));
        auto r = read_marker(fd.get(), 30, 500ms);
        CHECK(r.timed_out);
    }
    // A burst, in order, nothing lost (well under txqueuelen).
    for (std::uint32_t s = 100; s < 150; ++s) REQUIRE(w.send(marker_frame(*mv_mac, peer_mac, s)));
    std::uint32_t expect = 100;
    while (expect < 150) {
        auto r = read_marker(fd.get(), expect, 2000ms);
        INFO("burst frame " << expect);
        REQUIRE_FALSE(r.timed_out);
        REQUIRE(r.err == 0);
        ++expect;
    }
    fd.reset();
    t.stop_and_verify();
    CHECK(eventually([] { return !interface_exists("mv0"); }, 2000));
}

TEST_CASE("an 802.1Q-tagged frame from the wire is read with its tag, as macvtap hands it out", "[vlan]") {
    make_veth();
    tapd_instance t;
    t.start({"mv0,backend=packet,lower=veth0"});
    auto mv_mac = if_mac("mv0");
    REQUIRE(mv_mac.has_value());
    fd_guard fd(t.open_file(node_for("mv0")));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");
    // The receive path moves the tag into skb->vlan_tci before any AF_PACKET socket sees the frame;
    // macvtap's tap_do_read puts it back into the data. A SOCK_RAW socket only reports it in
    // PACKET_AUXDATA (tp_vlan_tci, TP_STATUS_VLAN_VALID): tapd has to re-insert it.
    {
        bytes f;
        put(f, *mv_mac);
        put(f, peer_mac);
        put16(f, 0x8100);
        put16(f, 0x0064);  // VID 100
        bytes inner = marker_frame(*mv_mac, peer_mac, 24, 60);
        f.insert(f.end(), inner.begin() + 12, inner.end());  // EtherType 0x88b5 + marker + padding
        REQUIRE(f.size() == 64);
        REQUIRE(w.send(f));
        auto t0 = clock_type::now();
        bytes got;
        while (got.empty() && ms_since(t0) < 2000) {
            pollfd p{fd.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            auto r = read_once(fd.get(), 2000ms);
            if (r.err || r.timed_out) break;
            static const char tag[] = "tapd-pkt";
            auto it = std::search(r.data.begin(), r.data.end(), tag, tag + 8);
            if (it != r.data.end() && r.data.end() - it >= 12 && it[11] == 24) got = std::move(r.data);
        }
        INFO("VLAN-tagged frame sent: " << hex(f) << "\nread from the device: " << hex(got, 80));
        REQUIRE_FALSE(got.empty());
        CHECK(got.size() == vnet_len + f.size());
        CHECK(bytes(got.begin() + static_cast<long>(std::min(vnet_len, got.size())), got.end()) == f);
    }
    // Writing one works (the conformance suite's write_vlan_tagged agrees with macvtap).
    {
        bytes f;
        put(f, peer_mac);
        put(f, *mv_mac);
        put16(f, 0x8100);
        put16(f, 0x0064);
        bytes inner = marker_frame(peer_mac, *mv_mac, 25, 60);
        f.insert(f.end(), inner.begin() + 12, inner.end());
        auto r = write_buf(fd.get(), with_vnet(f));
        CHECK(r.n == static_cast<long>(f.size() + vnet_len));
    }
    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("link deleted under traffic: blocked reader and writer get ENODEV, the file goes, the other device works",
          "[delete]") {
    make_veth();
    tapd_instance t;
    t.start({"mv0,backend=packet,lower=veth0", "tun0"});
    const std::string node = node_for("mv0");
    REQUIRE(list_dir(t.dir()) == std::set<std::string>{node, "tun0"});
    // The other device: a TUN-backed tap with an address, so its kernel side answers ARP.
    REQUIRE(sh("sysctl -q -w net.ipv6.conf.tun0.disable_ipv6=1 >/dev/null") == 0);
    REQUIRE(sh("ip addr add 10.0.0.1/24 dev tun0 && ip link set tun0 up") == 0);
    auto tun_mac = if_mac("tun0");
    REQUIRE(tun_mac.has_value());

    fd_guard rfd(t.open_file(node)), wfd(t.open_file(node)), other(t.open_file("tun0"));
    REQUIRE(rfd.get() >= 0);
    REQUIRE(wfd.get() >= 0);
    REQUIRE(other.get() >= 0);
    auto mv_mac = if_mac("mv0");
    REQUIRE(mv_mac.has_value());
    wire w("veth1");
    // The device works before (the writer's queue also receives: read that frame off it).
    write_and_capture(wfd.get(), w, *mv_mac, 1);

    // A reader blocked in read() on its own (empty) queue... (two opens: frames would be spread over both,
    // so nothing is sent towards the device from here on)
    std::atomic<bool> rdone{false};
    long rrc = 0;
    int rerr = 0;
    auto t0 = clock_type::now();
    long rat = -1;
    std::thread reader([&] {
        std::array<std::uint8_t, 2048> buf{};
        ssize_t n = ::read(rfd.get(), buf.data(), buf.size());
        rerr = errno;
        rrc = n;
        rat = ms_since(t0);
        rdone = true;
    });
    thread_guard rg(reader, t);
    // ...and a writer writing as fast as it can until it gets an error.
    std::atomic<bool> wstop{false}, wdone{false};
    std::atomic<long> writes_ok{0};
    std::vector<int> werrs;  // every distinct errno in order, as seen by the writer
    std::thread writer([&] {
        bytes f = with_vnet(marker_frame(peer_mac, *mv_mac, 2));
        while (!wstop) {
            ssize_t n = ::write(wfd.get(), f.data(), f.size());
            if (n == static_cast<ssize_t>(f.size())) {
                ++writes_ok;
                continue;
            }
            int e = n < 0 ? errno : -1;
            if (werrs.empty() || werrs.back() != e) werrs.push_back(e);
            if (e == ENODEV) break;
            std::this_thread::sleep_for(1ms);
        }
        wdone = true;
    });
    thread_guard wg(writer, t);
    std::this_thread::sleep_for(300ms);
    CHECK_FALSE(rdone.load());
    CHECK(writes_ok.load() > 0);

    auto t_del = clock_type::now();
    long del_at = ms_since(t0);
    REQUIRE(sh("ip link del mv0") == 0);
    bool woke = eventually([&] { return rdone.load() && wdone.load(); }, 3000);
    long took = ms_since(t_del);
    wstop = true;
    if (!woke) t.kill_hard();  // unstick them so the test can report
    reader.join();
    writer.join();
    std::string errs;
    for (int e : werrs) errs += std::string(e > 0 ? strerrorname_np(e) : "short") + " ";
    INFO("reader: rc " << rrc << " errno " << rerr << " (" << std::strerror(rerr) << ") " << (rat - del_at)
                       << " ms after the deletion; writer errors in order: " << errs << "; " << writes_ok.load()
                       << " writes ok; both done " << took << " ms after\ntapd stderr:\n" << t.log());
    REQUIRE(woke);
    CHECK(rrc == -1);
    CHECK(rerr == ENODEV);
    REQUIRE_FALSE(werrs.empty());
    CHECK(werrs.back() == ENODEV);
    // Before ENODEV the writer may see ENETDOWN: the kernel takes the link down (NETDEV_DOWN) before it
    // unregisters it, and sendmsg() on a down link says so before tapd has heard of the deletion. That
    // window is the kernel's; anything else before ENODEV would be tapd's.
    for (std::size_t i = 0; i + 1 < werrs.size(); ++i) CHECK(werrs[i] == ENETDOWN);

    // Every later operation on those files: ENODEV.
    auto w2 = write_buf(wfd.get(), with_vnet(marker_frame(peer_mac, *mv_mac, 3)));
    CHECK(w2.n == -1);
    CHECK(w2.err == ENODEV);
    auto r2 = read_once(rfd.get(), 3000ms);
    CHECK_FALSE(r2.timed_out);
    CHECK(r2.err == ENODEV);
    {
        pollfd p{rfd.get(), POLLIN, 0};
        watchdog wd(t.pid(), 3000ms);
        int n = ::poll(&p, 1, 0);
        INFO("poll after deletion: " << n << " revents " << p.revents);
        CHECK(n == 1);
        CHECK((p.revents & (POLLERR | POLLHUP)) != 0);
    }
    // The file leaves the directory; a new open fails with ENOENT.
    bool gone = eventually([&] { return list_dir(t.dir()).count(node) == 0; }, 3000);
    INFO("directory now: " << [&] { std::string s; for (auto& n : list_dir(t.dir())) s += n + " "; return s; }());
    CHECK(gone);
    CHECK(list_dir(t.dir()) == std::set<std::string>{"tun0"});
    CHECK(eventually([&] {
        fd_guard again(t.open_file(node));
        return again.get() < 0 && errno == ENOENT;
    }, 3000));
    struct stat st{};
    CHECK(eventually([&] { return ::stat(t.path(node).c_str(), &st) != 0 && errno == ENOENT; }, 3000));

    // The other device still works: an ARP exchange through the already-open file and a fresh one.
    REQUIRE(t.alive());
    for (int round = 0; round < 2; ++round) {
        // Round 1 on a fresh open, with the old one closed (a non-IP frame like the ARP reply would be
        // steered to the first queue, i.e. the old file, while it is open).
        if (round) other.reset();
        fd_guard fresh(round ? t.open_file("tun0") : -1);
        int fd = round ? fresh.get() : other.get();
        REQUIRE(fd >= 0);
        bytes req = with_vnet(arp_request(peer_mac, {10, 0, 0, 2}, {10, 0, 0, 1}));
        auto wr = write_buf(fd, req);
        REQUIRE(wr.n == static_cast<long>(req.size()));
        read_result r;
        for (int i = 0; i < 5; ++i) {  // skip anything that is not the reply
            r = read_once(fd, 3000ms);
            if (r.err || r.timed_out) break;
            if (r.data.size() >= vnet_len + 42 && get16(r.data, vnet_len + 12) == ETH_P_ARP &&
                get16(r.data, vnet_len + 14 + 6) == 2)
                break;
        }
        INFO("ARP on tun0, round " << round << ": errno " << r.err << " timed out " << r.timed_out << " data "
                                     << hex(r.data));
        REQUIRE_FALSE(r.timed_out);
        REQUIRE(r.err == 0);
        REQUIRE(r.data.size() >= vnet_len + 42);
        CHECK(get_arr<6>(r.data, vnet_len + 14 + 8) == *tun_mac);                // sender MAC
        CHECK(get_arr<4>(r.data, vnet_len + 14 + 14) == ip4_t{10, 0, 0, 1});      // sender IP
    }
    CHECK(contains(t.log(), "removing /dev/" + node));  // via the backend error or the link monitor
    rfd.reset();
    wfd.reset();
    other.reset();
    t.stop_and_verify();
    CHECK(eventually([] { return !interface_exists("tun0"); }, 2000));
}

TEST_CASE("MTU change on the link: frame size limit follows `ip link set mtu`", "[mtu]") {
    make_veth();
    tapd_instance t;
    t.start({"mv0,backend=packet,lower=veth0"});
    std::string node = node_for("mv0");
    auto mv_mac = if_mac("mv0");
    REQUIRE(mv_mac.has_value());
    fd_guard fd(t.open_file(node));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");

    write_and_capture(fd.get(), w, *mv_mac, 1, 1514);  // 1500-byte payload: fits MTU 1500
    REQUIRE(sh("ip link set mv0 mtu 1400") == 0);
    // Right away (the change may still be on its way to tapd: its error path re-reads the MTU).
    {
        bytes f = with_vnet(marker_frame(peer_mac, *mv_mac, 2, 1514));
        auto r = write_buf(fd.get(), f);
        INFO("1514-byte frame after mtu 1400: " << r.n << " errno " << r.err << " (" << std::strerror(r.err) << ")");
        CHECK(r.n == -1);
        CHECK(r.err == EMSGSIZE);
    }
    write_and_capture(fd.get(), w, *mv_mac, 3, 1414);  // 1400-byte payload
    {
        bytes f = with_vnet(marker_frame(peer_mac, *mv_mac, 4, 1415));
        auto r = write_buf(fd.get(), f);
        CHECK(r.n == -1);
        CHECK(r.err == EMSGSIZE);
    }
    // And back up: the larger limit follows too (after the monitor saw it: no retry on the accept path).
    REQUIRE(sh("ip link set mv0 mtu 1500") == 0);
    bool ok = eventually([&] {
        bytes f = with_vnet(marker_frame(peer_mac, *mv_mac, 5, 1514));
        return write_buf(fd.get(), f).n == static_cast<long>(f.size());
    }, 2000);
    CHECK(ok);
    write_and_capture(fd.get(), w, *mv_mac, 6, 1514);
    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("MAC change on the link: frames to the new address are received, the old one is filtered", "[mac]") {
    make_veth();
    tapd_instance t;
    t.start({"mv0,backend=packet,lower=veth0"});
    std::string node = node_for("mv0");
    auto old_mac = if_mac("mv0");
    REQUIRE(old_mac.has_value());
    fd_guard fd(t.open_file(node));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");
    send_and_read(fd.get(), w, *old_mac, 1);

    const mac_t new_mac = {0x02, 0x5a, 0x11, 0x22, 0x33, 0x44};
    REQUIRE(*old_mac != new_mac);
    REQUIRE(sh("ip link set mv0 address " + mac_str(new_mac)) == 0);
    REQUIRE(if_mac("mv0") == new_mac);
    send_and_read(fd.get(), w, new_mac, 2);
    send_and_expect_nothing(fd.get(), w, *old_mac, 3);
    write_and_capture(fd.get(), w, new_mac, 4);
    CHECK(t.alive());
    fd.reset();
    t.stop_and_verify();
}

TEST_CASE("renamed link keeps its device working, and is still deleted on exit", "[rename]") {
    make_veth();
    tapd_instance t;
    t.start({"mvX,backend=packet,lower=veth0"});
    std::string node = node_for("mvX");
    int ifindex = ifindex_of("mvX");
    auto mac = if_mac("mvX");
    REQUIRE(mac.has_value());
    fd_guard fd(t.open_file(node));
    REQUIRE(fd.get() >= 0);
    wire w("veth1");
    send_and_read(fd.get(), w, *mac, 1);

    // A netdev can only be renamed while down.
    REQUIRE(sh("ip link set mvX down && ip link set mvX name mvY && ip link set mvY up") == 0);
    REQUIRE(ifindex_of("mvY") == ifindex);
    CHECK(eventually([&] { return contains(t.log(), "renamed to mvY"); }, 2000));
    INFO("tapd stderr:\n" << t.log());
    CHECK(list_dir(t.dir()) == std::set<std::string>{node});  // same node: tap<ifindex>
    send_and_read(fd.get(), w, *mac, 2);
    write_and_capture(fd.get(), w, *mac, 3);
    // A new open works too.
    fd_guard fd2(t.open_file(node));
    REQUIRE(fd2.get() >= 0);
    write_and_capture(fd2.get(), w, *mac, 4);
    fd.reset();
    fd2.reset();
    t.stop_and_verify();
    CHECK(eventually([] { return !interface_exists("mvY"); }, 2000));
}

// ---------------------------------------------------------------------------------------------------

int main(int argc, char** argv) {
    if (geteuid() != 0) {
        std::printf("SKIP: needs root (network namespace, FUSE mount, macvlan)\n");
        return 77;
    }
    if (::access("/dev/fuse", R_OK | W_OK) != 0) {
        std::printf("SKIP: /dev/fuse not usable: %s\n", std::strerror(errno));
        return 77;
    }
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PATH-TO-TAPD [catch2 args]\n", argv[0]);
        return 2;
    }
    g_tapd = argv[1];
    g_tapd_fd = ::open(g_tapd.c_str(), O_RDONLY | O_CLOEXEC);
    if (g_tapd_fd < 0 || ::access(g_tapd.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "%s: not executable: %s\n", g_tapd.c_str(), std::strerror(errno));
        return 2;
    }
    if (std::system("ip -V >/dev/null 2>&1") != 0) {
        std::printf("SKIP: ip(8) from iproute2 is needed\n");
        return 77;
    }
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
        std::printf("SKIP: unshare(CLONE_NEWNET|CLONE_NEWNS): %s\n", std::strerror(errno));
        return 77;
    }
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        std::printf("SKIP: making / private in the new mount namespace: %s\n", std::strerror(errno));
        return 77;
    }
    if (::mount("tapd-packet-tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m") != 0)
        std::fprintf(stderr, "note: private tmpfs on /tmp failed (%s); using the shared /tmp\n", std::strerror(errno));
    // IPv6 off for every link created from here on: nothing but the test's frames on the wire.
    (void)std::system("sysctl -q -w net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1");
    if (std::system("ip link add tpk-probe0 type veth peer name tpk-probe1 2>/dev/null && ip link del tpk-probe0") != 0) {
        std::printf("SKIP: cannot create a veth pair in the new namespace\n");
        return 77;
    }
    ::sync();
    std::vector<char*> args;
    args.push_back(argv[0]);
    for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
    return Catch::Session().run(static_cast<int>(args.size()), args.data());
}
