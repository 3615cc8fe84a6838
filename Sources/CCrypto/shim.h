// OpenSSL's libcrypto (Debian: libssl-dev), for SHA-256 through its EVP digest interface.
#include <openssl/evp.h>
