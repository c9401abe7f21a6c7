// The one header the Swift wrapper sees: libzmq's stable API (Debian's build has no draft API).
#include <zmq.h>
