// stream_open.h — answering a FUSE OPEN with FOPEN_STREAM, which libfuse 3.14 cannot say.
//
// Why: a file served through FUSE-mount mode is a regular file, and Linux serialises read() and write()
// on one shared open file of a regular file (the f_pos lock taken by fdget_pos). A reader blocked in
// read() on DIR/tap0 would then hold up a write() on the same fd from another thread until a frame
// arrives — a deadlock for every VPN-style program with a reader thread and a writer thread. An open
// answered with FOPEN_STREAM gets stream_open() in the kernel, which drops that lock (and the file
// position) altogether, as for a character device. libfuse 3.14's fuse_file_info has no bit for it, so
// tapd adds it to the reply on its way out: see stream_open.cc.
#pragma once

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

namespace tapd {

// fuse_reply_open, with FOPEN_STREAM added to the reply.
int fuse_reply_open_stream(fuse_req_t req, const fuse_file_info* fi);

}  // namespace tapd
