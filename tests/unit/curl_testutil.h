/* Test helper for the HTTP tests that drive the service with libcurl (test_serve_http.c,
 * test_gen_http.c): one response header's value, and an easy handle for a request to 127.0.0.1.
 * Include it after <curl/curl.h>, where the build has libcurl. */
#ifndef SERVPROF_TEST_CURL_TESTUTIL_H
#define SERVPROF_TEST_CURL_TESTUTIL_H

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* When the header line line[n] is `name: value`, copies the value (without surrounding spaces or the
 * line end) into out, if it fits in outlen. */
static inline void ct_header_value(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n > nl + 1 && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
        size_t s = nl + 1;
        while (s < n && line[s] == ' ')
            s++;
        size_t e = n;
        while (e > s && (line[e - 1] == '\r' || line[e - 1] == '\n'))
            e--;
        if (e - s < outlen) {
            memcpy(out, line + s, e - s);
            out[e - s] = 0;
        }
    }
}

/* A request to http://127.0.0.1:<port><path>: body and header lines go to on_body and on_header with
 * `user`, within timeout_s, never through a proxy; a JSON content type, no "Expect: 100-continue",
 * plus `header` (NULL: none); a POST of body[body_len] when body is given. *hl is the header list
 * to free after the transfer. */
static inline CURL *ct_easy(unsigned port, const char *path, const char *body, size_t body_len, const char *header,
                            long timeout_s, curl_write_callback on_body, curl_write_callback on_header, void *user,
                            struct curl_slist **hl)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, user);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, user);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    *hl = curl_slist_append(NULL, "Content-Type: application/json");
    *hl = curl_slist_append(*hl, "Expect:");
    if (header)
        *hl = curl_slist_append(*hl, header);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    return c;
}

#endif
