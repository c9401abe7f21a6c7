#ifndef CTCPINFO_H
#define CTCPINFO_H

#include <stdint.h>

/// The bytes the kernel has received on the TCP connection `fd` (Linux's
/// tcpi_bytes_received, which glibc's struct tcp_info does not show), or -1 when it
/// cannot tell (not a TCP socket, or a kernel before 4.1).
int64_t ctcpinfo_bytes_received(int fd);

#endif
