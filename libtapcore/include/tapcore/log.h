// log.h — tapd's one log: lines on stderr, with a level the journal understands.
//
// Every module (daemon, front ends, libtapcore, netlink) logs through here, never with its own
// fprintf. A line is "tapd: message". When stderr is connected to the journal (systemd sets
// JOURNAL_STREAM to its device:inode, see systemd.exec(5)), each line starts with the syslog priority
// prefix of <systemd/sd-daemon.h> (SD_ERR "<3>", SD_WARNING "<4>", SD_INFO "<6>", SD_DEBUG "<7>"), so
// `journalctl -p warning` shows what went wrong; on a terminal or a test's pipe the line is unchanged.
//
// Writing allocates nothing and takes no lock: the line is one writev(2) of stack buffers (atomic on a
// pipe up to PIPE_BUF), so the data path may log a rare failure without breaking its rules.
#pragma once

#include <string_view>

namespace tapd::log {

enum class level { err, warning, info, debug };

// Decides once whether `fd` (stderr by default) is the journal; later lines go to `fd`. Optional: the
// first line logged without it initialises for stderr.
void init(int fd = 2) noexcept;

void write(level lv, std::string_view msg) noexcept;
inline void err(std::string_view msg) noexcept {
    write(level::err, msg);
}
inline void warning(std::string_view msg) noexcept {
    write(level::warning, msg);
}
inline void info(std::string_view msg) noexcept {
    write(level::info, msg);
}
inline void debug(std::string_view msg) noexcept {
    write(level::debug, msg);
}

// printf-style, formatted into a stack buffer (truncated at 1 KiB): for callers that must not build a
// std::string (the data path).
void writef(level lv, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

// The priority prefix written for `lv` when the journal is the sink ("<3>" ... "<7>").
std::string_view prefix(level lv) noexcept;

}  // namespace tapd::log
