#include "CTCPInfo.h"

#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/tcp.h>

int64_t ctcpinfo_bytes_received(int fd) {
    struct tcp_info info;
    socklen_t length = sizeof(info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -1;
    if (length < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received)) return -1;
    return (int64_t)info.tcpi_bytes_received;
}
