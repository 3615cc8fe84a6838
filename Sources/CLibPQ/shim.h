// libpq, PostgreSQL's C client library (Debian's libpq-dev).
#include <postgresql/libpq-fe.h>
