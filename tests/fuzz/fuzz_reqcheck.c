/*
 * Feeds: request methods to sg_reqcheck_method, request targets to sg_reqcheck_target and raw HTTP/1 request heads
 * to sg_reqcheck_http1_head (core/reqcheck.h), all pure functions over bytes. sg_reqcheck_request needs an h2o
 * request and only applies these three to its fields, so it is not driven here.
 * Asserts beyond "no crash": an accepted method is a non-empty token; an accepted target starts with '/', has no
 * control character, space, DEL or '#', no malformed or NUL escape, and no segment that is "." or ".." once
 * ";params" are dropped, in any spelling (checked here by an independent decode-and-split); a head accepted as
 * unambiguous has no conflicting framing headers (checked by a naive independent scan).
 */
#include <ctype.h>
#include "core/reqcheck.h"
#include "fuzz.h"

static int hexval(int c)
{
    return isxdigit(c) ? (isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10)) : -1;
}

/* an independent statement of the dot-segment rule: decode, split at '/' and '\', strip ";..." and compare */
static int has_dot_segment(const char *t, size_t plen)
{
    char *dec = malloc(plen + 1);
    size_t n = 0;
    for (size_t i = 0; i < plen; ++i) {
        if (t[i] == '%' && i + 2 < plen && hexval((unsigned char)t[i + 1]) >= 0 && hexval((unsigned char)t[i + 2]) >= 0) {
            dec[n++] = (char)(hexval((unsigned char)t[i + 1]) * 16 + hexval((unsigned char)t[i + 2]));
            i += 2;
        } else {
            dec[n++] = t[i];
        }
    }
    int found = 0;
    size_t start = 1;
    for (size_t i = 1; i <= n && !found; ++i) {
        if (i == n || dec[i] == '/' || dec[i] == '\\') {
            size_t end = start;
            while (end < i && dec[end] != ';')
                ++end;
            size_t l = end - start;
            found = (l == 1 && dec[start] == '.') || (l == 2 && dec[start] == '.' && dec[start + 1] == '.');
            start = i + 1;
        }
    }
    free(dec);
    return found;
}

static void fuzz_target(const char *t, size_t len)
{
    const char *why = sg_reqcheck_target(t, len);
    if (why != NULL)
        return;
    FUZZ_CHECK(len != 0 && t[0] == '/');
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)t[i];
        FUZZ_CHECK(c > 0x20 && c != 0x7f && c != '#');
    }
    const char *q = memchr(t, '?', len);
    size_t plen = q != NULL ? (size_t)(q - t) : len;
    for (size_t i = 0; i != plen; ++i) {
        if (t[i] != '%')
            continue;
        FUZZ_CHECK(i + 2 < plen && hexval((unsigned char)t[i + 1]) >= 0 && hexval((unsigned char)t[i + 2]) >= 0);
        FUZZ_CHECK(!(t[i + 1] == '0' && t[i + 2] == '0'));
        i += 2;
    }
    FUZZ_CHECK(!has_dot_segment(t, plen));
}

/* counts header lines whose name is `name` (case-insensitive) in a head with CRLF or LF line ends; like the parser h2o
 * serves requests with (picohttpparser), one empty line before the request line is skipped */
static size_t count_header(const char *head, size_t len, const char *name)
{
    size_t count = 0, nlen = strlen(name);
    size_t skip = len >= 2 && head[0] == '\r' && head[1] == '\n' ? 2 : len >= 1 && head[0] == '\n' ? 1 : 0;
    head += skip;
    len -= skip;
    const char *p = memchr(head, '\n', len), *end = head + len;
    while (p != NULL && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t l = (size_t)((eol != NULL ? eol : end) - p);
        if (l > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0)
            ++count;
        if (l == 0 || (l == 1 && p[0] == '\r'))
            break;
        p = eol;
    }
    return count;
}

static void fuzz_head(const char *head, size_t len)
{
    if (sg_reqcheck_http1_head(head, len) != NULL)
        return;
    FUZZ_CHECK(count_header(head, len, "transfer-encoding") <= 1);
    FUZZ_CHECK(count_header(head, len, "host") <= 1);
    FUZZ_CHECK(count_header(head, len, "transfer-encoding") == 0 || count_header(head, len, "content-length") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    if (sg_reqcheck_method(in, size)) {
        FUZZ_CHECK(size != 0);
        for (size_t i = 0; i != size; ++i)
            FUZZ_CHECK(in[i] > 0x20 && in[i] < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", in[i]) == NULL);
    }
    fuzz_target(in, size);
    fuzz_head(in, size);
    return 0;
}
