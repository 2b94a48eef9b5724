"""Package version; equals the C library version it was written for (include/moeroute/moeroute.h)."""

__version__ = "0.2.0"
# The native struct layout (moeroute_init_routing_args) may change between minor versions before 1.0, so
# the loaded library must have this MAJOR.MINOR.
ABI_VERSION = (0, 2)
