/* A request's id as text or as a number (events_int.h, sp_ev_request.id_num): its text, equality and
 * order, which for a numeric id are those of its decimal text, computed from the number. With cold.c
 * the bottom of the model: it reads the set's arrays and calls no other model file. */
#include <string.h>

#include "common/util_int.h"
#include "model/events_int.h"

bool sp_ev_dec_parse(const char *s, size_t len, uint64_t *v)
{
    if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

bool sp_ev_str_num(const sp_strtab *t, sp_str s, uint64_t *v)
{
    const char *text = sp_str_get(t, s);
    return (unsigned char)(text[0] - '0') <= 9 && sp_ev_dec_parse(text, strlen(text), v);
}

const char *sp_ev_id_text(const struct sp_events *ev, const sp_ev_request *r, char buf[SP_EV_ID_TEXT],
                          size_t *len)
{
    if (r->id_num) {
        size_t n = sp_u64_dec(sp_ev_id_num(r), buf);
        buf[n] = '\0';
        if (len)
            *len = n;
        return buf;
    }
    const char *s = sp_str_get(&ev->strings, r->id);
    if (len)
        *len = strlen(s);
    return s;
}

bool sp_ev_id_is(const struct sp_events *ev, const sp_ev_request *r, const char *other, size_t len)
{
    if (r->id_num) {
        uint64_t v;
        return len && (unsigned char)(other[0] - '0') <= 9 && sp_ev_dec_parse(other, len, &v) &&
               v == sp_ev_id_num(r);
    }
    const sp_strtab *t = &ev->strings;
    /* interned text never holds a NUL, so an `other` with one never matches */
    return (size_t)r->id + len < t->used && memcmp(t->arena + r->id, other, len) == 0 &&
           t->arena[r->id + len] == '\0';
}

sp_ev_idkey sp_ev_id_key(const struct sp_events *ev, const sp_ev_request *r)
{
    if (r->id_num)
        return (sp_ev_idkey){NULL, sp_ev_id_num(r)};
    return (sp_ev_idkey){sp_str_get(&ev->strings, r->id), 0};
}

static const uint64_t pow10_u64[20] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};

static unsigned dec_digits(uint64_t v)
{
    unsigned d = 1;
    while (d < 20 && v >= pow10_u64[d])
        d++;
    return d;
}

/* strcmp of the decimal texts of a and b, from the numbers: texts of equal length order as the
 * numbers; otherwise the longer one cut to the shorter's length decides, and where that equals the
 * shorter, the shorter is a prefix and comes first ("1" < "10" < "9"). */
static int num_text_cmp(uint64_t a, uint64_t b)
{
    if (a == b)
        return 0;
    unsigned da = dec_digits(a), db = dec_digits(b);
    if (da == db)
        return a < b ? -1 : 1;
    if (da < db) {
        uint64_t head = b / pow10_u64[db - da];
        return a < head ? -1 : a > head ? 1 : -1;
    }
    uint64_t head = a / pow10_u64[da - db];
    return head < b ? -1 : head > b ? 1 : 1;
}

uint64_t sp_ev_num_prefix(uint64_t v)
{
    unsigned d = dec_digits(v), k = d > 8 ? 8 : d;
    uint32_t head = (uint32_t)(d > 8 ? v / pow10_u64[d - 8] : v); /* the first k digits */
    uint64_t p = 0;
    for (unsigned i = 0; i < k; i++, head /= 10) /* the last of them first: byte k - 1 - i */
        p |= (uint64_t)('0' + head % 10) << (56 - 8 * (k - 1 - i));
    return p;
}

uint64_t sp_ev_num_rank_key(uint64_t v)
{
    unsigned d = dec_digits(v);
    uint64_t head = d > 8 ? v / pow10_u64[d - 8] : v * pow10_u64[8 - d]; /* the first 8 digits, zero-padded */
    return head * 8 + (d > 8 ? 8 : d) - 1;
}

int sp_ev_id_key_cmp(const sp_ev_idkey *a, const sp_ev_idkey *b)
{
    if (!a->text && !b->text)
        return num_text_cmp(a->num, b->num);
    char ta[SP_EV_ID_TEXT], tb[SP_EV_ID_TEXT];
    const char *x = a->text, *y = b->text;
    if (!x) {
        ta[sp_u64_dec(a->num, ta)] = '\0';
        x = ta;
    }
    if (!y) {
        tb[sp_u64_dec(b->num, tb)] = '\0';
        y = tb;
    }
    return strcmp(x, y);
}
