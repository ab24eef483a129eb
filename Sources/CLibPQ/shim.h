#ifndef FORAGER_CLIBPQ_SHIM_H
#define FORAGER_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
