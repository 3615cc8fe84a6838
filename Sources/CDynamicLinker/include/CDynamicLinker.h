#ifndef EFSEARCH_CDYNAMICLINKER_H
#define EFSEARCH_CDYNAMICLINKER_H

// The path of the shared object that contains `address`, or NULL (dladdr needs _GNU_SOURCE on glibc,
// which Swift's Glibc module does not set).
const char *cdl_library_path(const void *address);

#endif
