/* libmicrohttpd for the service's HTTP front end (handler.c, gate.c, answer.c and the rest of
 * src/serve), opened with dlopen when the service starts its HTTP side rather than linked. Linked, it
 * was loaded by every servprof command before main, `analyze` and `--version` included, and it brings
 * gnutls and eight more libraries (p11-kit, idn2, unistring, tasn1, nettle, hogweed, gmp, ffi), whose
 * relocation cost each start ~2 ms of CPU (docs/BENCHMARKS.md, "Every command starts without
 * libmicrohttpd"). As blas.c does for OpenBLAS, but the service calls 14 of its functions from many
 * places, so this file defines those 14 under their own names, each a call through the pointer the
 * loader found: the call sites stay as they were, and microhttpd.h's declarations type-check both
 * sides. sp_mhd_open must succeed before any of them is called (sp_srv_http_start calls it first;
 * every other call needs the daemon or a connection that only a started daemon gives). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/util_int.h"
#include "serve/mhd_int.h"

/* The soname the build found (CMake reads it from the library, sp_soname_of). */
#ifndef SP_MHD_SONAME
#define SP_MHD_SONAME "libmicrohttpd.so.12"
#endif

static struct {
    __typeof__(MHD_start_daemon_va) *start_daemon_va;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_add_connection) *add_connection;
    __typeof__(MHD_get_connection_info) *get_connection_info;
    __typeof__(MHD_get_connection_values) *get_connection_values;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_suspend_connection) *suspend_connection;
    __typeof__(MHD_resume_connection) *resume_connection;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_create_response_from_callback) *create_response_from_callback;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_destroy_response) *destroy_response;
    __typeof__(MHD_get_reason_phrase_for) *get_reason_phrase_for;
} mhd;
static int mhd_ready;
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;
static char mhd_error[512];

/* One entry: the symbol's name and the field its address goes to. */
#define MHD_ENTRY(field) {"MHD_" #field, (void **)&mhd.field}

static void mhd_load(void)
{
    const sp_dl_sym entries[] = {MHD_ENTRY(start_daemon_va),
                                 MHD_ENTRY(stop_daemon),
                                 MHD_ENTRY(add_connection),
                                 MHD_ENTRY(get_connection_info),
                                 MHD_ENTRY(get_connection_values),
                                 MHD_ENTRY(lookup_connection_value),
                                 MHD_ENTRY(suspend_connection),
                                 MHD_ENTRY(resume_connection),
                                 MHD_ENTRY(queue_response),
                                 MHD_ENTRY(create_response_from_buffer),
                                 MHD_ENTRY(create_response_from_callback),
                                 MHD_ENTRY(add_response_header),
                                 MHD_ENTRY(destroy_response),
                                 MHD_ENTRY(get_reason_phrase_for)};
    mhd_ready = sp_dl_open(SP_MHD_SONAME, "the HTTP server", "libmicrohttpd", "libmicrohttpd12", entries,
                           sizeof entries / sizeof *entries, mhd_error, sizeof mhd_error) != NULL;
}

sp_status sp_mhd_open(char *err, size_t errlen)
{
    pthread_once(&mhd_once, mhd_load);
    if (mhd_ready)
        return SP_OK;
    sp_errf(err, errlen, "%s", mhd_error);
    return SP_ERR_UNSUPPORTED;
}

/* ---- The functions src/serve calls, each through the opened library ---- */

/* The variadic start goes to libmicrohttpd's own va_list form, which MHD_start_daemon itself calls.
 * NULL when the library is not open (sp_srv_http_start has said why by then). */
struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
                                    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    if (sp_mhd_open(NULL, 0) != SP_OK)
        return NULL;
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d = mhd.start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
    mhd.stop_daemon(daemon);
}

enum MHD_Result MHD_add_connection(struct MHD_Daemon *daemon, MHD_socket client_socket, const struct sockaddr *addr,
                                   socklen_t addrlen)
{
    return mhd.add_connection(daemon, client_socket, addr, addrlen);
}

/* libmicrohttpd has no va_list form of this one: the kinds src/serve asks for (the connection's
 * descriptor and context, the request head's size) take no further argument, so none is passed. */
const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *connection,
                                                        enum MHD_ConnectionInfoType info_type, ...)
{
    return mhd.get_connection_info(connection, info_type);
}

int MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void *iterator_cls)
{
    return mhd.get_connection_values(connection, kind, iterator, iterator_cls);
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *key)
{
    return mhd.lookup_connection_value(connection, kind, key);
}

void MHD_suspend_connection(struct MHD_Connection *connection)
{
    mhd.suspend_connection(connection);
}

void MHD_resume_connection(struct MHD_Connection *connection)
{
    mhd.resume_connection(connection);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                   struct MHD_Response *response)
{
    return mhd.queue_response(connection, status_code, response);
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode)
{
    return mhd.create_response_from_buffer(size, buffer, mode);
}

struct MHD_Response *MHD_create_response_from_callback(uint64_t size, size_t block_size, MHD_ContentReaderCallback crc,
                                                       void *crc_cls, MHD_ContentReaderFreeCallback crfc)
{
    return mhd.create_response_from_callback(size, block_size, crc, crc_cls, crfc);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header, const char *content)
{
    return mhd.add_response_header(response, header, content);
}

void MHD_destroy_response(struct MHD_Response *response)
{
    mhd.destroy_response(response);
}

const char *MHD_get_reason_phrase_for(unsigned int code)
{
    return mhd.get_reason_phrase_for(code);
}
