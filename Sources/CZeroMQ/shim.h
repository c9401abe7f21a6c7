// The one header the Swift wrapper sees: libzmq's stable API (Debian's build has no draft API),
// and epoll, which the wrapper's descriptor poller waits with.
#include <zmq.h>
#include <sys/epoll.h>
