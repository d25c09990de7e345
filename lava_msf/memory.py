"""What this process may allocate, read once: the one reading behind every
size bound (event arrays, networks, model configurations)."""

import functools
import os
import resource


@functools.lru_cache(maxsize=1)
def usable_memory() -> int:
    """Bytes: the machine's physical memory, or the address-space limit when smaller."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    return total if limit == resource.RLIM_INFINITY else min(total, limit)
