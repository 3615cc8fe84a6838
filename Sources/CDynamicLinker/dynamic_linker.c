#define _GNU_SOURCE
#include <dlfcn.h>
#include "CDynamicLinker.h"

const char *cdl_library_path(const void *address) {
    Dl_info info;
    if (dladdr(address, &info) == 0) return 0;
    return info.dli_fname;
}
