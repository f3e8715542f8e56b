/*
 * The wsim agent protocol codec in plain C (see agent_codec.h and
 * docs/agent-protocol.md). Written for wsim; no ESP-IDF header, no third-party code.
 */
#include "agent_codec.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CRC-32 ------------------------------------------------------------------------------ */

static uint32_t s_crc_table[256];
static bool s_crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        s_crc_table[i] = c;
    }
    s_crc_ready = true;
}

uint32_t ac_crc32(const uint8_t *data, size_t len)
{
    if (!s_crc_ready) {
        crc_init();
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        c = s_crc_table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

/* ---- base64 ------------------------------------------------------------------------------ */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ac_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void ac_b64_encode(const uint8_t *d, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)d[i] << 16;
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8;
        out[o++] = B64[v >> 18];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = 0;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

uint8_t *ac_b64_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4 != 0) {
        return NULL;
    }
    uint8_t *out = malloc(n / 4 * 3 + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        bool last = i + 4 == n;
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            if (c == '=' && last && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad) { /* data after padding */
                free(out);
                return NULL;
            }
            v[k] = b64_val(c);
            if (v[k] < 0) {
                free(out);
                return NULL;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* Canonical: the bits the padding drops must be zero (as Rust's decoder wants). */
        if ((pad == 1 && (w & 0xFF)) || (pad == 2 && (w & 0xFFFF))) {
            free(out);
            return NULL;
        }
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2) {
            out[o++] = (uint8_t)(w >> 8);
        }
        if (pad < 1) {
            out[o++] = (uint8_t)w;
        }
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

/* ---- output buffer and JSON writer --------------------------------------------------------- */

void ac_buf_put(ac_buf_t *b, const void *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->len + n + 1) {
            c *= 2;
        }
        char *p = realloc(b->p, c);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = c;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void ac_buf_puts(ac_buf_t *b, const char *s)
{
    ac_buf_put(b, s, strlen(s));
}

void ac_buf_free(ac_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

void ac_json_str(ac_buf_t *b, const char *s, size_t n)
{
    ac_buf_put(b, "\"", 1);
    size_t run = 0; /* start of the run of bytes copied as they are */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (esc) {
            ac_buf_put(b, s + run, i - run);
            ac_buf_puts(b, esc);
            run = i + 1;
        }
    }
    ac_buf_put(b, s + run, n - run);
    ac_buf_put(b, "\"", 1);
}

void ac_json_i64(ac_buf_t *b, int64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%" PRId64, v);
    ac_buf_puts(b, t);
}

void ac_json_u64(ac_buf_t *b, uint64_t v)
{
    char t[24];
    snprintf(t, sizeof t, "%" PRIu64, v);
    ac_buf_puts(b, t);
}

void ac_json_key(ac_buf_t *b, const char *key)
{
    ac_json_str(b, key, strlen(key));
    ac_buf_put(b, ":", 1);
}

void ac_json_b64(ac_buf_t *b, const uint8_t *data, size_t n)
{
    char *t = malloc(ac_b64_len(n) + 1);
    if (!t) {
        b->oom = true;
        return;
    }
    ac_b64_encode(data, n, t);
    ac_buf_put(b, "\"", 1);
    ac_buf_puts(b, t);
    ac_buf_put(b, "\"", 1);
    free(t);
}

/* ---- JSON reader -------------------------------------------------------------------------- */

typedef struct {
    aj_doc_t *doc;
    const char *start, *p, *end;
    int depth;
} aj_parser_t;

static int aj_fail(aj_parser_t *ps, const char *why)
{
    if (!ps->doc->err[0]) {
        snprintf(ps->doc->err, sizeof ps->doc->err, "%s at byte %ld", why,
                 (long)(ps->p - ps->start));
    }
    return -1;
}

static int aj_new(aj_parser_t *ps, aj_type_t t)
{
    aj_doc_t *d = ps->doc;
    if (d->n == d->cap) {
        int c = d->cap ? d->cap * 2 : 32;
        aj_node_t *n = realloc(d->nodes, (size_t)c * sizeof *n);
        if (!n) {
            return aj_fail(ps, "out of memory");
        }
        d->nodes = n;
        d->cap = c;
    }
    aj_node_t *n = &d->nodes[d->n];
    memset(n, 0, sizeof *n);
    n->type = t;
    n->first = n->next = -1;
    return d->n++;
}

static void aj_ws(aj_parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

/* Appends to the string arena; returns the offset or (size_t)-1. */
static bool aj_sput(aj_doc_t *d, const char *s, size_t n)
{
    if (d->slen + n + 1 > d->scap) {
        size_t c = d->scap ? d->scap : 256;
        while (c < d->slen + n + 1) {
            c *= 2;
        }
        char *p = realloc(d->strings, c);
        if (!p) {
            return false;
        }
        d->strings = p;
        d->scap = c;
    }
    memcpy(d->strings + d->slen, s, n);
    d->slen += n;
    return true;
}

static bool aj_put_utf8(aj_doc_t *d, uint32_t cp)
{
    char t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | cp >> 6);
        t[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | cp >> 12);
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        t[0] = (char)(0xF0 | cp >> 18);
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return aj_sput(d, t, n);
}

static int aj_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int h = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (h < 0) {
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

/* Strict UTF-8 length of the sequence at p (0: invalid). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        k = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 2;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) <= k) {
        return 0;
    }
    for (size_t j = 1; j <= k; j++) {
        if ((p[j] & 0xC0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (p[j] & 0x3F);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return k + 1;
}

/* Parses a string at ps->p (on the quote); the decoded text goes to the arena, its
 * offset and length out. */
static bool aj_string(aj_parser_t *ps, size_t *off, size_t *len)
{
    aj_doc_t *d = ps->doc;
    ps->p++; /* the quote */
    *off = d->slen;
    for (;;) {
        if (ps->p >= ps->end) {
            aj_fail(ps, "unterminated string");
            return false;
        }
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            aj_fail(ps, "control character in a string");
            return false;
        }
        if (c == '\\') {
            if (ps->p + 1 >= ps->end) {
                aj_fail(ps, "unterminated escape");
                return false;
            }
            char e = ps->p[1];
            char out;
            ps->p += 2;
            switch (e) {
            case '"': out = '"'; break;
            case '\\': out = '\\'; break;
            case '/': out = '/'; break;
            case 'b': out = '\b'; break;
            case 'f': out = '\f'; break;
            case 'n': out = '\n'; break;
            case 'r': out = '\r'; break;
            case 't': out = '\t'; break;
            case 'u': {
                if (ps->end - ps->p < 4 || aj_hex4(ps->p) < 0) {
                    aj_fail(ps, "bad \\u escape");
                    return false;
                }
                uint32_t cp = (uint32_t)aj_hex4(ps->p);
                ps->p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || aj_hex4(ps->p + 2) < 0) {
                        aj_fail(ps, "lone surrogate");
                        return false;
                    }
                    uint32_t lo = (uint32_t)aj_hex4(ps->p + 2);
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        aj_fail(ps, "lone surrogate");
                        return false;
                    }
                    ps->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    aj_fail(ps, "lone surrogate");
                    return false;
                }
                if (!aj_put_utf8(d, cp)) {
                    aj_fail(ps, "out of memory");
                    return false;
                }
                continue;
            }
            default:
                aj_fail(ps, "bad escape");
                return false;
            }
            if (!aj_sput(d, &out, 1)) {
                aj_fail(ps, "out of memory");
                return false;
            }
            continue;
        }
        size_t k = utf8_seq((const unsigned char *)ps->p, (const unsigned char *)ps->end);
        if (k == 0) {
            aj_fail(ps, "invalid UTF-8");
            return false;
        }
        if (!aj_sput(d, ps->p, k)) {
            aj_fail(ps, "out of memory");
            return false;
        }
        ps->p += k;
    }
    *len = d->slen - *off;
    if (!aj_sput(d, "", 1)) { /* NUL terminator */
        aj_fail(ps, "out of memory");
        return false;
    }
    return true;
}

static int aj_value(aj_parser_t *ps);

static int aj_number(aj_parser_t *ps)
{
    const char *s = ps->p;
    const char *q = s;
    bool neg = false, is_int = true;
    if (q < ps->end && *q == '-') {
        neg = true;
        q++;
    }
    if (q >= ps->end || *q < '0' || *q > '9') {
        return aj_fail(ps, "bad number");
    }
    if (*q == '0') {
        q++;
    } else {
        while (q < ps->end && *q >= '0' && *q <= '9') {
            q++;
        }
    }
    if (q < ps->end && *q == '.') {
        is_int = false;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            return aj_fail(ps, "bad number");
        }
        while (q < ps->end && *q >= '0' && *q <= '9') {
            q++;
        }
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        is_int = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) {
            q++;
        }
        if (q >= ps->end || *q < '0' || *q > '9') {
            return aj_fail(ps, "bad number");
        }
        while (q < ps->end && *q >= '0' && *q <= '9') {
            q++;
        }
    }
    int n = aj_new(ps, AJ_NUM);
    if (n < 0) {
        return -1;
    }
    aj_node_t *nd = &ps->doc->nodes[n];
    char tmp[64];
    size_t len = (size_t)(q - s);
    if (len >= sizeof tmp) {
        /* Too many digits for any value of the protocol: kept as a non-integer. */
        nd->d = neg ? -INFINITY : INFINITY;
        nd->is_int = false;
        ps->p = q;
        return n;
    }
    memcpy(tmp, s, len);
    tmp[len] = 0;
    nd->d = strtod(tmp, NULL);
    if (is_int) {
        /* Exact integer arithmetic (no double rounding). */
        const char *dg = tmp + (neg ? 1 : 0);
        uint64_t u = 0;
        bool over = false;
        for (; *dg; dg++) {
            unsigned v = (unsigned)(*dg - '0');
            if (u > (UINT64_MAX - v) / 10) {
                over = true;
                break;
            }
            u = u * 10 + v;
        }
        if (!over) {
            if (!neg && u <= (uint64_t)INT64_MAX) {
                nd->is_int = true;
                nd->i = (int64_t)u;
            } else if (!neg) {
                nd->is_u64 = true;
                nd->u = u;
            } else if (u <= (uint64_t)INT64_MAX + 1) {
                nd->is_int = true;
                nd->i = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
            }
        }
        if (nd->is_int) {
            nd->u = (uint64_t)nd->i;
        }
    }
    ps->p = q;
    return n;
}

static bool aj_lit(aj_parser_t *ps, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0) {
        return false;
    }
    ps->p += n;
    return true;
}

/* Children are linked by index; keys are arena offsets fixed up at the end. */
static int aj_value(aj_parser_t *ps)
{
    aj_ws(ps);
    if (ps->p >= ps->end) {
        return aj_fail(ps, "unexpected end");
    }
    char c = *ps->p;
    if (c == '{' || c == '[') {
        if (++ps->depth > AC_MAX_JSON_DEPTH) {
            return aj_fail(ps, "nested too deep");
        }
        bool obj = c == '{';
        int n = aj_new(ps, obj ? AJ_OBJ : AJ_ARR);
        if (n < 0) {
            return -1;
        }
        ps->p++;
        aj_ws(ps);
        int last = -1;
        if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
            ps->p++;
            ps->depth--;
            return n;
        }
        for (;;) {
            size_t koff = 0, klen = 0;
            if (obj) {
                aj_ws(ps);
                if (ps->p >= ps->end || *ps->p != '"') {
                    return aj_fail(ps, "expected a key");
                }
                if (!aj_string(ps, &koff, &klen)) {
                    return -1;
                }
                aj_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':') {
                    return aj_fail(ps, "expected ':'");
                }
                ps->p++;
            }
            int v = aj_value(ps);
            if (v < 0) {
                return -1;
            }
            aj_node_t *vn = &ps->doc->nodes[v];
            /* key kept as an offset for now (the arena may move) */
            vn->key = (const char *)(uintptr_t)(obj ? koff + 1 : 0);
            vn->keylen = klen;
            if (last < 0) {
                ps->doc->nodes[n].first = v;
            } else {
                ps->doc->nodes[last].next = v;
            }
            last = v;
            ps->doc->nodes[n].count++;
            aj_ws(ps);
            if (ps->p >= ps->end) {
                return aj_fail(ps, "unexpected end");
            }
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p == (obj ? '}' : ']')) {
                ps->p++;
                break;
            }
            return aj_fail(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        ps->depth--;
        return n;
    }
    if (c == '"') {
        size_t off, len;
        if (!aj_string(ps, &off, &len)) {
            return -1;
        }
        int n = aj_new(ps, AJ_STR);
        if (n < 0) {
            return -1;
        }
        ps->doc->nodes[n].s = (char *)(uintptr_t)(off + 1);
        ps->doc->nodes[n].slen = len;
        return n;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        return aj_number(ps);
    }
    if (aj_lit(ps, "true") || aj_lit(ps, "false")) {
        int n = aj_new(ps, AJ_BOOL);
        if (n >= 0) {
            ps->doc->nodes[n].b = ps->p[-1] == 'e' && ps->p[-2] == 'u';
        }
        return n;
    }
    if (aj_lit(ps, "null")) {
        return aj_new(ps, AJ_NULL);
    }
    return aj_fail(ps, "unexpected character");
}

int aj_parse(aj_doc_t *doc, const char *text, size_t len)
{
    memset(doc, 0, sizeof *doc);
    aj_parser_t ps = {.doc = doc, .start = text, .p = text, .end = text + len};
    int root = aj_value(&ps);
    if (root >= 0) {
        aj_ws(&ps);
        if (ps.p != ps.end) {
            root = aj_fail(&ps, "trailing characters");
        }
    }
    if (root < 0) {
        return -1;
    }
    /* Offsets (stored +1, 0 = none) to pointers now that the arena is final. */
    for (int i = 0; i < doc->n; i++) {
        aj_node_t *n = &doc->nodes[i];
        uintptr_t k = (uintptr_t)n->key;
        n->key = k ? doc->strings + (k - 1) : NULL;
        if (n->type == AJ_STR) {
            n->s = doc->strings + ((uintptr_t)n->s - 1);
        }
    }
    return root;
}

void aj_free(aj_doc_t *doc)
{
    free(doc->nodes);
    free(doc->strings);
    memset(doc, 0, sizeof *doc);
}

int aj_get(const aj_doc_t *doc, int obj, const char *key)
{
    if (obj < 0 || doc->nodes[obj].type != AJ_OBJ) {
        return -1;
    }
    size_t kl = strlen(key);
    int found = -1;
    /* The last of duplicate keys wins? serde refuses duplicates of known fields; we
     * take the first (duplicates are not produced by any sender). */
    for (int c = doc->nodes[obj].first; c >= 0; c = doc->nodes[c].next) {
        const aj_node_t *n = &doc->nodes[c];
        if (n->keylen == kl && memcmp(n->key, key, kl) == 0) {
            found = c;
            break;
        }
    }
    return found;
}

/* ---- lines -------------------------------------------------------------------------------- */

ac_line_t ac_classify(const uint8_t *line, size_t len, size_t max_line)
{
    ac_line_t r = {.kind = AC_LINE_LOG};
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    if (len < 2 || line[0] != '@' || line[1] != 'W') {
        return r;
    }
    r.kind = AC_LINE_GARBLED;
    if (len > max_line) {
        r.why = "longer than max_line";
        return r;
    }
    if (len < 4 || memcmp(line, "@W1 ", 4) != 0) {
        size_t sp = 2;
        while (sp < len && line[sp] != ' ') {
            sp++;
        }
        size_t vl = sp - 2;
        bool digits = vl > 0 && vl <= 10;
        uint64_t v = 0;
        for (size_t i = 2; digits && i < sp; i++) {
            if (line[i] < '0' || line[i] > '9') {
                digits = false;
            } else {
                v = v * 10 + (uint64_t)(line[i] - '0');
            }
        }
        if (sp < len && digits && !(vl == 1 && line[2] == '1')) {
            r.kind = AC_LINE_OTHER_VERSION;
            r.version = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
            r.why = "a line of another protocol version";
            return r;
        }
        r.why = "not the marker @W1";
        return r;
    }
    const uint8_t *p = line + 4, *end = line + len;
    const uint8_t *s1 = memchr(p, ' ', (size_t)(end - p));
    if (!s1) {
        r.why = "fewer than three fields";
        return r;
    }
    const uint8_t *s2 = memchr(s1 + 1, ' ', (size_t)(end - s1 - 1));
    if (!s2) {
        r.why = "fewer than three fields";
        return r;
    }
    size_t sl = (size_t)(s1 - p);
    bool ok = sl >= 1 && sl <= 10 && !(sl > 1 && p[0] == '0');
    uint64_t seq = 0;
    for (size_t i = 0; ok && i < sl; i++) {
        if (p[i] < '0' || p[i] > '9') {
            ok = false;
        } else {
            seq = seq * 10 + (uint64_t)(p[i] - '0');
        }
    }
    if (!ok || seq > UINT32_MAX) {
        r.why = "the sequence number is not 0 to 4294967295";
        return r;
    }
    const uint8_t *c = s1 + 1;
    if (s2 - c != 8) {
        r.why = "the checksum is not 8 lower-case hex digits";
        return r;
    }
    uint32_t said = 0;
    for (int i = 0; i < 8; i++) {
        uint8_t h = c[i];
        int v = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : -1;
        if (v < 0) {
            r.why = "the checksum is not 8 lower-case hex digits";
            return r;
        }
        said = said << 4 | (uint32_t)v;
    }
    const uint8_t *body = s2 + 1;
    size_t bl = (size_t)(end - body);
    if (ac_crc32(body, bl) != said) {
        r.why = "checksum mismatch";
        return r;
    }
    for (size_t i = 0; i < bl;) {
        size_t k = utf8_seq(body + i, end);
        if (!k) {
            r.why = "not UTF-8";
            return r;
        }
        i += k;
    }
    r.kind = AC_LINE_FRAME;
    r.seq = (uint32_t)seq;
    r.body = (const char *)body;
    r.body_len = bl;
    r.why = NULL;
    return r;
}

void ac_frame(ac_buf_t *out, uint32_t seq, const char *body, size_t body_len)
{
    char head[32];
    int n = snprintf(head, sizeof head, "@W1 %" PRIu32 " %08" PRIx32 " ", seq,
                     ac_crc32((const uint8_t *)body, body_len));
    ac_buf_put(out, head, (size_t)n);
    ac_buf_put(out, body, body_len);
    ac_buf_put(out, "\n", 1);
}

bool ac_splitter_init(ac_splitter_t *s, size_t max_line)
{
    memset(s, 0, sizeof *s);
    s->max = max_line;
    s->buf = malloc(max_line + 1);
    return s->buf != NULL;
}

void ac_splitter_free(ac_splitter_t *s)
{
    free(s->buf);
    s->buf = NULL;
}

static void split_finish(ac_splitter_t *s, ac_line_cb cb, void *ctx)
{
    size_t trimmed = (s->len > 0 && s->buf[s->len - 1] == '\r') ? s->len - 1 : s->len;
    if (s->dropped > 0 || trimmed > s->max) {
        size_t total = s->len + s->dropped;
        cb(ctx, s->buf, s->len < s->max ? s->len : s->max, true, total);
    } else {
        cb(ctx, s->buf, s->len, false, s->len);
    }
    s->len = 0;
    s->dropped = 0;
}

void ac_splitter_push(ac_splitter_t *s, const uint8_t *data, size_t n, ac_line_cb cb, void *ctx)
{
    while (n > 0) {
        const uint8_t *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        /* One spare byte so a line of exactly max bytes plus its \r still fits. */
        size_t room = s->max + 1 - s->len;
        size_t k = take < room ? take : room;
        memcpy(s->buf + s->len, data, k);
        s->len += k;
        s->dropped += take - k;
        if (nl) {
            split_finish(s, cb, ctx);
            take++;
        }
        data += take;
        n -= take;
    }
}

void ac_splitter_flush(ac_splitter_t *s, ac_line_cb cb, void *ctx)
{
    if (s->len > 0 || s->dropped > 0) {
        split_finish(s, cb, ctx);
    }
}

/* ---- names ---------------------------------------------------------------------------------- */

static const char *const CALL_NAMES[AC_CALL_COUNT] = {
    "start", "stop", "destroy", "destroy_on_exit", "is_connected", "get_ping_interval_sec",
    "get_reconnect_timeout", "close", "send_fin", "close_with_code", "send_text", "send_bin",
    "send_text_partial", "send_bin_partial", "send_cont_msg", "send_with_opcode", "set_uri",
    "set_headers", "append_header", "set_ping_interval_sec", "set_reconnect_timeout",
};

const char *ac_call_name(ac_call_kind_t k)
{
    return k < AC_CALL_COUNT ? CALL_NAMES[k] : "?";
}

bool ac_handler_may_call(ac_call_kind_t k)
{
    switch (k) {
    case AC_CALL_SEND_TEXT: case AC_CALL_SEND_BIN: case AC_CALL_SEND_TEXT_PARTIAL:
    case AC_CALL_SEND_BIN_PARTIAL: case AC_CALL_SEND_CONT_MSG: case AC_CALL_SEND_WITH_OPCODE:
    case AC_CALL_SEND_FIN: case AC_CALL_CLOSE: case AC_CALL_CLOSE_WITH_CODE: case AC_CALL_STOP:
    case AC_CALL_DESTROY: case AC_CALL_IS_CONNECTED:
        return true;
    default:
        return false;
    }
}

static const char *const EVENT_NAMES[AC_EV_COUNT] = {
    "begin", "before_connect", "header_received", "connected", "data", "error", "disconnected",
    "closed", "finish",
};

const char *ac_event_name(ac_event_t e)
{
    return e < AC_EV_COUNT ? EVENT_NAMES[e] : "?";
}

int ac_event_from_name(const char *s)
{
    for (int i = 0; i < AC_EV_COUNT; i++) {
        if (!strcmp(s, EVENT_NAMES[i])) {
            return i;
        }
    }
    return -1;
}

static const char *const ERR_NAMES[AC_ERR_COUNT] = {
    "none", "tcp_transport", "pong_timeout", "handshake", "server_close",
};

const char *ac_error_type_name(ac_error_type_t e)
{
    return e < AC_ERR_COUNT ? ERR_NAMES[e] : "none";
}

int ac_error_type_from_name(const char *s)
{
    for (int i = 0; i < AC_ERR_COUNT; i++) {
        if (!strcmp(s, ERR_NAMES[i])) {
            return i;
        }
    }
    return -1;
}

static char *ac_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) {
        memcpy(p, s, n);
    }
    return p;
}

/* ---- request parsing ------------------------------------------------------------------------- */

typedef struct {
    aj_doc_t *d;
    char *err;
    size_t errlen;
} rp_t;

static bool rp_err(rp_t *r, const char *fmt, const char *a, const char *b)
{
    snprintf(r->err, r->errlen, fmt, a, b);
    return false;
}

/* Integer member within [lo, hi]; absent: *present false (or an error when required). */
static bool rp_int(rp_t *r, int obj, const char *key, int64_t lo, int64_t hi, int64_t *out, bool *present,
                   const char *ctx)
{
    int n = aj_get(r->d, obj, key);
    if (present) {
        *present = n >= 0 && r->d->nodes[n].type != AJ_NULL;
    }
    if (n < 0 || r->d->nodes[n].type == AJ_NULL) {
        if (!present) {
            return rp_err(r, "%s: %s missing", ctx, key);
        }
        return true;
    }
    const aj_node_t *v = &r->d->nodes[n];
    if (v->type != AJ_NUM || !v->is_int || v->i < lo || v->i > hi) {
        return rp_err(r, "%s: %s is not an integer in range", ctx, key);
    }
    *out = v->i;
    return true;
}

static bool rp_u64(rp_t *r, int obj, const char *key, uint64_t *out, bool *present, const char *ctx)
{
    int n = aj_get(r->d, obj, key);
    *present = n >= 0 && r->d->nodes[n].type != AJ_NULL;
    if (!*present) {
        return true;
    }
    const aj_node_t *v = &r->d->nodes[n];
    if (v->type != AJ_NUM || !(v->is_u64 || (v->is_int && v->i >= 0))) {
        return rp_err(r, "%s: %s is not an unsigned integer", ctx, key);
    }
    *out = v->u;
    return true;
}

static bool rp_bool(rp_t *r, int obj, const char *key, bool *out, const char *ctx)
{
    int n = aj_get(r->d, obj, key);
    if (n < 0 || r->d->nodes[n].type == AJ_NULL) {
        *out = false;
        return true;
    }
    if (r->d->nodes[n].type != AJ_BOOL) {
        return rp_err(r, "%s: %s is not a boolean", ctx, key);
    }
    *out = r->d->nodes[n].b;
    return true;
}

/* A string member copied (malloc'd, NUL-free); absent: NULL. */
static bool rp_str(rp_t *r, int obj, const char *key, char **out, const char *ctx)
{
    int n = aj_get(r->d, obj, key);
    *out = NULL;
    if (n < 0 || r->d->nodes[n].type == AJ_NULL) {
        return true;
    }
    const aj_node_t *v = &r->d->nodes[n];
    if (v->type != AJ_STR) {
        return rp_err(r, "%s: %s is not a string", ctx, key);
    }
    if (memchr(v->s, 0, v->slen)) {
        return rp_err(r, "%s: %s contains a NUL byte", ctx, key);
    }
    *out = malloc(v->slen + 1);
    if (!*out) {
        return rp_err(r, "%s: %s: out of memory", ctx, key);
    }
    memcpy(*out, v->s, v->slen + 1);
    return true;
}

static bool rp_b64(rp_t *r, int n, uint8_t **out, size_t *len, const char *ctx, const char *key)
{
    const aj_node_t *v = &r->d->nodes[n];
    if (v->type != AJ_STR) {
        return rp_err(r, "%s: %s is not a string", ctx, key);
    }
    *out = ac_b64_decode(v->s, v->slen, len);
    if (!*out) {
        return rp_err(r, "%s: %s: bad base64", ctx, key);
    }
    return true;
}

/* {"b64":..} | {"buf":N} | {"pki":NAME} (pki only when allow_pki). */
static bool rp_bytes(rp_t *r, int n, ac_bytes_t *out, bool allow_pki, const char *ctx)
{
    memset(out, 0, sizeof *out);
    if (n < 0 || r->d->nodes[n].type != AJ_OBJ) {
        return rp_err(r, "%s: not an object%s", ctx, "");
    }
    int b = aj_get(r->d, n, "b64"), f = aj_get(r->d, n, "buf"), p = allow_pki ? aj_get(r->d, n, "pki") : -1;
    int count = (b >= 0) + (f >= 0) + (p >= 0);
    if (count != 1) {
        return rp_err(r, "%s: needs exactly one of %s", ctx, allow_pki ? "pki, b64 and buf" : "b64 and buf");
    }
    if (b >= 0) {
        out->kind = AC_SRC_B64;
        return rp_b64(r, b, &out->bytes, &out->len, ctx, "b64");
    }
    if (f >= 0) {
        const aj_node_t *v = &r->d->nodes[f];
        if (v->type != AJ_NUM || !v->is_int || v->i < 0 || v->i > UINT32_MAX) {
            return rp_err(r, "%s: buf is not a buffer number%s", ctx, "");
        }
        out->kind = AC_SRC_BUF;
        out->buf = (uint32_t)v->i;
        return true;
    }
    out->kind = AC_SRC_PKI;
    return rp_str(r, n, "pki", &out->pki, ctx) && (out->pki != NULL || rp_err(r, "%s: pki is null%s", ctx, ""));
}

void ac_bytes_free(ac_bytes_t *b)
{
    free(b->bytes);
    free(b->pki);
    memset(b, 0, sizeof *b);
}

void ac_call_free(ac_call_t *c)
{
    ac_bytes_free(&c->data);
    free(c->reason);
    free(c->uri);
    free(c->headers);
    free(c->key);
    free(c->value);
    memset(c, 0, sizeof *c);
}

/* The keys of a call (in a `call` request or a reaction's CALL object). */
static bool rp_call(rp_t *r, int obj, ac_call_t *c, bool inline_only)
{
    memset(c, 0, sizeof *c);
    int n = aj_get(r->d, obj, "call");
    if (n < 0 || r->d->nodes[n].type != AJ_STR) {
        return rp_err(r, "call: the call name is missing%s%s", "", "");
    }
    const char *name = r->d->nodes[n].s;
    int k = -1;
    for (int i = 0; i < AC_CALL_COUNT; i++) {
        if (!strcmp(name, CALL_NAMES[i])) {
            k = i;
        }
    }
    if (k < 0) {
        return rp_err(r, "unknown call \"%.60s\"%s", name, "");
    }
    c->kind = (ac_call_kind_t)k;
    const char *cn = CALL_NAMES[k];
    int64_t v = 0;
    bool has;
    bool need_timeout = false, need_data = false;
    switch (c->kind) {
    case AC_CALL_CLOSE: case AC_CALL_SEND_FIN:
        need_timeout = true;
        break;
    case AC_CALL_CLOSE_WITH_CODE: {
        need_timeout = true;
        if (!rp_int(r, obj, "code", INT32_MIN, INT32_MAX, &v, NULL, cn)) {
            return false;
        }
        c->code = (int32_t)v;
        int rs = aj_get(r->d, obj, "reason");
        if (rs >= 0 && r->d->nodes[rs].type != AJ_NULL) {
            if (!rp_b64(r, rs, &c->reason, &c->reason_len, cn, "reason")) {
                return false;
            }
        } else {
            c->reason = calloc(1, 1);
        }
        break;
    }
    case AC_CALL_SEND_TEXT: case AC_CALL_SEND_BIN: case AC_CALL_SEND_TEXT_PARTIAL:
    case AC_CALL_SEND_BIN_PARTIAL: case AC_CALL_SEND_CONT_MSG:
        need_timeout = need_data = true;
        break;
    case AC_CALL_SEND_WITH_OPCODE:
        need_timeout = need_data = true;
        if (!rp_int(r, obj, "opcode", 0, 255, &v, NULL, cn)) {
            return false;
        }
        c->opcode = (uint8_t)v;
        break;
    case AC_CALL_SET_URI:
        if (!rp_str(r, obj, "uri", &c->uri, cn)) {
            return false;
        }
        if (!c->uri) {
            return rp_err(r, "%s: %s missing", cn, "uri");
        }
        break;
    case AC_CALL_SET_HEADERS:
        if (!rp_str(r, obj, "headers", &c->headers, cn)) {
            return false;
        }
        if (!c->headers) {
            return rp_err(r, "%s: %s missing", cn, "headers");
        }
        break;
    case AC_CALL_APPEND_HEADER:
        if (!rp_str(r, obj, "key", &c->key, cn) || !rp_str(r, obj, "value", &c->value, cn)) {
            return false;
        }
        if (!c->key || !c->value) {
            return rp_err(r, "%s: %s missing", cn, c->key ? "value" : "key");
        }
        break;
    case AC_CALL_SET_PING_INTERVAL_SEC:
        if (!rp_u64(r, obj, "sec", &c->sec, &has, cn)) {
            return false;
        }
        if (!has) {
            return rp_err(r, "%s: %s missing", cn, "sec");
        }
        break;
    case AC_CALL_SET_RECONNECT_TIMEOUT:
        if (!rp_int(r, obj, "ms", INT32_MIN, INT32_MAX, &v, NULL, cn)) {
            return false;
        }
        c->ms = (int32_t)v;
        break;
    default:
        break;
    }
    if (need_timeout) {
        if (!rp_int(r, obj, "timeout", 0, UINT32_MAX, &v, NULL, cn)) {
            return false;
        }
        c->timeout = (uint32_t)v;
    }
    if (need_data) {
        int d = aj_get(r->d, obj, "data");
        if (d < 0) {
            return rp_err(r, "%s: %s missing", cn, "data");
        }
        if (!rp_bytes(r, d, &c->data, false, "data")) {
            return false;
        }
        if (inline_only && c->data.kind != AC_SRC_B64) {
            return rp_err(r, "a staged buffer is not allowed here%s%s", "", "");
        }
    }
    return true;
}

static bool rp_config(rp_t *r, int obj, ac_config_t *c)
{
    memset(c, 0, sizeof *c);
    if (obj < 0 || r->d->nodes[obj].type != AJ_OBJ) {
        return rp_err(r, "config: not an object%s%s", "", "");
    }
    struct { const char *k; char **p; } strs[] = {
        {"uri", &c->uri}, {"host", &c->host}, {"username", &c->username}, {"password", &c->password},
        {"path", &c->path}, {"task_name", &c->task_name}, {"subprotocol", &c->subprotocol},
        {"user_agent", &c->user_agent}, {"headers", &c->headers}, {"cert_common_name", &c->cert_common_name},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (!rp_str(r, obj, strs[i].k, strs[i].p, "config")) {
            return false;
        }
    }
    struct { const char *k; int32_t *p; } ints[] = {
        {"port", &c->port}, {"task_prio", &c->task_prio}, {"task_stack", &c->task_stack},
        {"buffer_size", &c->buffer_size}, {"pingpong_timeout_sec", &c->pingpong_timeout_sec},
        {"keep_alive_idle", &c->keep_alive_idle}, {"keep_alive_interval", &c->keep_alive_interval},
        {"keep_alive_count", &c->keep_alive_count}, {"reconnect_timeout_ms", &c->reconnect_timeout_ms},
        {"network_timeout_ms", &c->network_timeout_ms},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int64_t v = 0;
        bool has;
        if (!rp_int(r, obj, ints[i].k, INT32_MIN, INT32_MAX, &v, &has, "config")) {
            return false;
        }
        *ints[i].p = (int32_t)v;
    }
    int64_t core = 0;
    if (!rp_int(r, obj, "task_core_id", INT32_MIN, INT32_MAX, &core, &c->task_core_id_set, "config")) {
        return false;
    }
    c->task_core_id = (int32_t)core;
    struct { const char *k; bool *p; } bools[] = {
        {"disable_auto_reconnect", &c->disable_auto_reconnect}, {"enable_close_reconnect", &c->enable_close_reconnect},
        {"disable_pingpong_discon", &c->disable_pingpong_discon}, {"use_global_ca_store", &c->use_global_ca_store},
        {"skip_cert_common_name_check", &c->skip_cert_common_name_check}, {"keep_alive_enable", &c->keep_alive_enable},
    };
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        if (!rp_bool(r, obj, bools[i].k, bools[i].p, "config")) {
            return false;
        }
    }
    struct { const char *k; uint64_t *p; } u64s[] = {
        {"user_context", &c->user_context}, {"cert_len", &c->cert_len}, {"client_cert_len", &c->client_cert_len},
        {"client_key_len", &c->client_key_len}, {"ping_interval_sec", &c->ping_interval_sec},
    };
    for (size_t i = 0; i < sizeof u64s / sizeof u64s[0]; i++) {
        bool has;
        if (!rp_u64(r, obj, u64s[i].k, u64s[i].p, &has, "config")) {
            return false;
        }
    }
    char *t = NULL;
    if (!rp_str(r, obj, "transport", &t, "config")) {
        return false;
    }
    if (t) {
        if (!strcmp(t, "unknown")) {
            c->transport = AC_TRANSPORT_UNKNOWN;
        } else if (!strcmp(t, "over_tcp")) {
            c->transport = AC_TRANSPORT_OVER_TCP;
        } else if (!strcmp(t, "over_ssl")) {
            c->transport = AC_TRANSPORT_OVER_SSL;
        } else {
            free(t);
            return rp_err(r, "config: transport: unknown variant%s%s", "", "");
        }
        free(t);
    }
    struct { const char *k; ac_bytes_t *p; } certs[] = {
        {"cert_pem", &c->cert_pem}, {"client_cert", &c->client_cert}, {"client_key", &c->client_key},
    };
    for (size_t i = 0; i < 3; i++) {
        int n = aj_get(r->d, obj, certs[i].k);
        if (n >= 0 && r->d->nodes[n].type != AJ_NULL) {
            char ctx[32];
            snprintf(ctx, sizeof ctx, "config.%s", certs[i].k);
            if (!rp_bytes(r, n, certs[i].p, true, ctx)) {
                return false;
            }
        }
    }
    return true;
}

void ac_config_free(ac_config_t *c)
{
    char **strs[] = {&c->uri, &c->host, &c->username, &c->password, &c->path, &c->task_name,
                     &c->subprotocol, &c->user_agent, &c->headers, &c->cert_common_name};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
    }
    ac_bytes_free(&c->cert_pem);
    ac_bytes_free(&c->client_cert);
    ac_bytes_free(&c->client_key);
    memset(c, 0, sizeof *c);
}

static bool rp_match(rp_t *r, int obj, ac_match_t *m)
{
    memset(m, 0, sizeof *m);
    if (obj < 0 || r->d->nodes[obj].type != AJ_OBJ) {
        return rp_err(r, "reaction: on is not an object%s%s", "", "");
    }
    char *ev = NULL;
    if (!rp_str(r, obj, "event", &ev, "on")) {
        return false;
    }
    int e = ev ? ac_event_from_name(ev) : -1;
    free(ev);
    if (e < 0) {
        return rp_err(r, "reaction: on.event is missing or unknown%s%s", "", "");
    }
    m->event = (ac_event_t)e;
    int64_t v = 0;
    if (!rp_int(r, obj, "op_code", 0, 255, &v, &m->has_op_code, "on")) {
        return false;
    }
    m->op_code = (uint8_t)v;
    int f = aj_get(r->d, obj, "fin");
    if (f >= 0 && r->d->nodes[f].type != AJ_NULL) {
        if (r->d->nodes[f].type != AJ_BOOL) {
            return rp_err(r, "on: fin is not a boolean%s%s", "", "");
        }
        m->has_fin = true;
        m->fin = r->d->nodes[f].b;
    }
    if (!rp_u64(r, obj, "data_len", &m->data_len, &m->has_data_len, "on")) {
        return false;
    }
    if (!rp_int(r, obj, "payload_len", INT32_MIN, INT32_MAX, &v, &m->has_payload_len, "on")) {
        return false;
    }
    m->payload_len = (int32_t)v;
    if (!rp_int(r, obj, "payload_offset", INT32_MIN, INT32_MAX, &v, &m->has_payload_offset, "on")) {
        return false;
    }
    m->payload_offset = (int32_t)v;
    int t = aj_get(r->d, obj, "text");
    if (t >= 0 && r->d->nodes[t].type != AJ_NULL) {
        if (r->d->nodes[t].type != AJ_STR) {
            return rp_err(r, "on: text is not a string%s%s", "", "");
        }
        m->has_text = true;
        m->text_len = r->d->nodes[t].slen;
        m->text = malloc(m->text_len + 1);
        if (!m->text) {
            return rp_err(r, "on: out of memory%s%s", "", "");
        }
        memcpy(m->text, r->d->nodes[t].s, m->text_len + 1);
    }
    return true;
}

void ac_reaction_free(ac_reaction_t *x)
{
    free(x->on.text);
    ac_call_free(&x->call);
    free(x->reason);
    memset(x, 0, sizeof *x);
}

static bool rp_reaction(rp_t *r, int obj, ac_reaction_t *x)
{
    memset(x, 0, sizeof *x);
    if (r->d->nodes[obj].type != AJ_OBJ) {
        return rp_err(r, "reaction: not an object%s%s", "", "");
    }
    char *kind = NULL;
    if (!rp_str(r, obj, "kind", &kind, "reaction")) {
        return false;
    }
    if (!kind) {
        return rp_err(r, "reaction: kind missing%s%s", "", "");
    }
    int64_t v = 0;
    bool ok = true;
    if (!strcmp(kind, "call")) {
        x->kind = AC_REACT_CALL;
        int c = aj_get(r->d, obj, "call");
        if (c < 0 || r->d->nodes[c].type != AJ_OBJ) {
            ok = rp_err(r, "reaction: call is not an object%s%s", "", "");
        } else {
            ok = rp_match(r, aj_get(r->d, obj, "on"), &x->on) && rp_call(r, c, &x->call, true);
            if (ok && !ac_handler_may_call(x->call.kind)) {
                ok = rp_err(r, "a handler cannot call %s%s", CALL_NAMES[x->call.kind], "");
            }
        }
    } else if (!strcmp(kind, "echo")) {
        x->kind = AC_REACT_ECHO;
        ok = rp_int(r, obj, "timeout", 0, UINT32_MAX, &v, NULL, "echo");
        x->timeout = (uint32_t)v;
    } else if (!strcmp(kind, "close_after")) {
        x->kind = AC_REACT_CLOSE_AFTER;
        bool has;
        ok = rp_u64(r, obj, "messages", &x->messages, &has, "close_after") &&
             (has || rp_err(r, "close_after: messages missing%s%s", "", "")) &&
             (x->messages >= 1 || rp_err(r, "close_after: messages must be at least 1%s%s", "", "")) &&
             rp_int(r, obj, "code", INT32_MIN, INT32_MAX, &v, NULL, "close_after");
        x->code = (int32_t)v;
        if (ok) {
            ok = rp_int(r, obj, "timeout", 0, UINT32_MAX, &v, NULL, "close_after");
            x->timeout = (uint32_t)v;
        }
        if (ok) {
            int rs = aj_get(r->d, obj, "reason");
            if (rs >= 0 && r->d->nodes[rs].type != AJ_NULL) {
                ok = rp_b64(r, rs, &x->reason, &x->reason_len, "close_after", "reason");
            } else {
                x->reason = calloc(1, 1);
            }
        }
    } else {
        ok = rp_err(r, "reaction: unknown kind \"%.40s\"%s", kind, "");
    }
    free(kind);
    return ok;
}

ac_parse_result_t ac_parse_request(const char *body, size_t len, ac_request_t *req, char *err, size_t errlen)
{
    memset(req, 0, sizeof *req);
    err[0] = 0;
    aj_doc_t d;
    if (aj_parse(&d, body, len) < 0) {
        snprintf(err, errlen, "bad JSON: %s", d.err);
        aj_free(&d);
        return AC_PARSE_GARBLED;
    }
    rp_t r = {.d = &d, .err = err, .errlen = errlen};
    ac_parse_result_t res = AC_PARSE_GARBLED;
    int t = aj_get(&d, 0, "t");
    int id = aj_get(&d, 0, "id");
    int op = aj_get(&d, 0, "op");
    if (t < 0 || d.nodes[t].type != AJ_STR || strcmp(d.nodes[t].s, "req") != 0) {
        snprintf(err, errlen, "not a request");
        goto out;
    }
    if (id < 0 || d.nodes[id].type != AJ_NUM || !(d.nodes[id].is_int || d.nodes[id].is_u64) ||
            (d.nodes[id].is_int && d.nodes[id].i < 0)) {
        snprintf(err, errlen, "the request id is missing or not an unsigned integer");
        goto out;
    }
    req->id = d.nodes[id].u;
    if (op < 0 || d.nodes[op].type != AJ_STR) {
        snprintf(err, errlen, "the op is missing");
        goto out;
    }
    const char *o = d.nodes[op].s;
    res = AC_PARSE_REFUSED;
    if (!strcmp(o, "hello")) {
        req->op = AC_OP_HELLO;
    } else if (!strcmp(o, "destroy_all")) {
        req->op = AC_OP_DESTROY_ALL;
    } else if (!strcmp(o, "reset")) {
        req->op = AC_OP_RESET;
        int s = aj_get(&d, 0, "sdkconfig");
        if (s >= 0 && d.nodes[s].type != AJ_NULL) {
            if (d.nodes[s].type != AJ_ARR) {
                snprintf(err, errlen, "reset: sdkconfig is not an array");
                goto out;
            }
            for (int c = d.nodes[s].first; c >= 0; c = d.nodes[c].next) {
                if (d.nodes[c].type != AJ_STR || req->n_sdkconfig == AC_MAX_SDKCONFIG) {
                    snprintf(err, errlen, "reset: sdkconfig: not a string, or more than %d lines", AC_MAX_SDKCONFIG);
                    goto out;
                }
                req->sdkconfig[req->n_sdkconfig] = ac_strdup(d.nodes[c].s);
                if (!req->sdkconfig[req->n_sdkconfig++]) {
                    snprintf(err, errlen, "out of memory");
                    goto out;
                }
            }
        }
        int g = aj_get(&d, 0, "global_ca");
        if (g >= 0 && d.nodes[g].type != AJ_NULL && !rp_bytes(&r, g, &req->global_ca, true, "global_ca")) {
            goto out;
        }
        if (!rp_u64(&r, 0, "seed", &req->seed, &req->has_seed, "reset")) {
            goto out;
        }
    } else if (!strcmp(o, "init") || !strcmp(o, "call")) {
        bool init = o[0] == 'i';
        req->op = init ? AC_OP_INIT : AC_OP_CALL;
        int c = aj_get(&d, 0, "client");
        if (c < 0 || d.nodes[c].type != AJ_STR) {
            snprintf(err, errlen, "%s: client missing", o);
            goto out;
        }
        if (d.nodes[c].slen < 1 || d.nodes[c].slen > AC_MAX_CLIENT_NAME || memchr(d.nodes[c].s, 0, d.nodes[c].slen)) {
            snprintf(err, errlen, "client names are 1 to 64 bytes");
            goto out;
        }
        memcpy(req->client, d.nodes[c].s, d.nodes[c].slen + 1);
        if (init) {
            if (!rp_config(&r, aj_get(&d, 0, "config"), &req->config)) {
                goto out;
            }
            int rs = aj_get(&d, 0, "reactions");
            if (rs >= 0 && d.nodes[rs].type != AJ_NULL) {
                if (d.nodes[rs].type != AJ_ARR) {
                    snprintf(err, errlen, "init: reactions is not an array");
                    goto out;
                }
                for (int x = d.nodes[rs].first; x >= 0; x = d.nodes[x].next) {
                    if (req->n_reactions == AC_MAX_REACTIONS) {
                        snprintf(err, errlen, "init: more than %d reactions", AC_MAX_REACTIONS);
                        goto out;
                    }
                    if (!rp_reaction(&r, x, &req->reactions[req->n_reactions++])) {
                        goto out;
                    }
                }
            }
        } else {
            if (!rp_bool(&r, 0, "background", &req->background, "call") || !rp_call(&r, 0, &req->call, false)) {
                goto out;
            }
        }
    } else if (!strcmp(o, "data")) {
        req->op = AC_OP_DATA;
        int64_t v;
        bool has;
        if (!rp_int(&r, 0, "buf", 0, UINT32_MAX, &v, NULL, "data")) {
            goto out;
        }
        req->buf = (uint32_t)v;
        if (!rp_u64(&r, 0, "offset", &req->offset, &has, "data")) {
            goto out;
        }
        if (!has) {
            snprintf(err, errlen, "data: offset missing");
            goto out;
        }
        int b = aj_get(&d, 0, "b64");
        if (b < 0) {
            snprintf(err, errlen, "data: b64 missing");
            goto out;
        }
        if (!rp_b64(&r, b, &req->bytes, &req->bytes_len, "data", "b64")) {
            goto out;
        }
    } else {
        snprintf(err, errlen, "unknown op \"%.40s\"", o);
        /* An unknown op is not a message of the protocol: garbled, no answer. */
        res = AC_PARSE_GARBLED;
        goto out;
    }
    res = AC_PARSE_OK;
out:
    aj_free(&d);
    return res;
}

void ac_request_free(ac_request_t *req)
{
    for (int i = 0; i < req->n_sdkconfig; i++) {
        free(req->sdkconfig[i]);
    }
    ac_bytes_free(&req->global_ca);
    ac_config_free(&req->config);
    for (int i = 0; i < req->n_reactions; i++) {
        ac_reaction_free(&req->reactions[i]);
    }
    ac_call_free(&req->call);
    free(req->bytes);
    memset(req, 0, sizeof *req);
}

/* ---- agent messages ------------------------------------------------------------------------- */

void ac_body_hello(ac_buf_t *b, const ac_hello_t *h)
{
    ac_buf_puts(b, "{\"t\":\"hello\",\"proto\":1,");
    ac_json_key(b, "agent");
    ac_json_str(b, h->agent, strlen(h->agent));
    ac_buf_puts(b, ",");
    ac_json_key(b, "chip");
    ac_json_str(b, h->chip, strlen(h->chip));
    ac_buf_puts(b, ",");
    ac_json_key(b, "idf");
    ac_json_str(b, h->idf, strlen(h->idf));
    ac_buf_puts(b, ",");
    ac_json_key(b, "client");
    ac_json_str(b, h->client, strlen(h->client));
    ac_buf_puts(b, ",\"heap\":");
    ac_json_u64(b, h->heap);
    ac_buf_puts(b, ",\"sdkconfig\":{\"CONFIG_ESP_TLS_INSECURE\":");
    ac_buf_puts(b, h->tls_insecure ? "true" : "false");
    ac_buf_puts(b, ",\"CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY\":");
    ac_buf_puts(b, h->skip_server_cert_verify ? "true" : "false");
    ac_buf_puts(b, ",\"CONFIG_MBEDTLS_HAVE_TIME_DATE\":");
    ac_buf_puts(b, h->have_time_date ? "true" : "false");
    ac_buf_puts(b, ",\"CONFIG_ESP_WS_CLIENT_ENABLE_DYNAMIC_BUFFER\":");
    ac_buf_puts(b, h->dynamic_buffer ? "true" : "false");
    ac_buf_puts(b, ",\"CONFIG_ESP_WS_CLIENT_SEPARATE_TX_LOCK\":");
    ac_buf_puts(b, h->separate_tx_lock ? "true" : "false");
    ac_buf_puts(b, ",\"CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS\":");
    ac_json_u64(b, h->tx_lock_timeout_ms);
    ac_buf_puts(b, ",\"CONFIG_FREERTOS_HZ\":");
    ac_json_u64(b, h->freertos_hz);
    ac_buf_puts(b, "},\"max_line\":");
    ac_json_u64(b, h->max_line);
    ac_buf_puts(b, ",\"inline_max\":");
    ac_json_u64(b, h->inline_max);
    ac_buf_puts(b, ",\"abilities\":[");
    for (int i = 0; i < h->n_abilities; i++) {
        if (i) {
            ac_buf_puts(b, ",");
        }
        ac_json_str(b, h->abilities[i], strlen(h->abilities[i]));
    }
    ac_buf_puts(b, "]}");
}

void ac_body_resp(ac_buf_t *b, const char *t, uint64_t id, bool ok, int64_t ret, const char *err, bool pending)
{
    ac_buf_puts(b, "{\"t\":");
    ac_json_str(b, t, strlen(t));
    ac_buf_puts(b, ",\"id\":");
    ac_json_u64(b, id);
    if (ok) {
        ac_buf_puts(b, ",\"ret\":");
        ac_json_i64(b, ret);
    } else {
        ac_buf_puts(b, ",\"err\":");
        ac_json_str(b, err, strlen(err));
    }
    if (pending) {
        ac_buf_puts(b, ",\"pending\":true");
    }
    ac_buf_puts(b, "}");
}

void ac_body_event(ac_buf_t *b, const ac_event_msg_t *e, size_t inline_max)
{
    ac_buf_puts(b, "{\"t\":\"event\",\"client\":");
    ac_json_str(b, e->client, strlen(e->client));
    ac_buf_puts(b, ",\"ms\":");
    ac_json_u64(b, e->ms);
    ac_buf_puts(b, ",\"event\":\"");
    ac_buf_puts(b, ac_event_name(e->event));
    ac_buf_puts(b, "\",\"op_code\":");
    ac_json_u64(b, e->op_code);
    ac_buf_puts(b, e->fin ? ",\"fin\":true" : ",\"fin\":false");
    ac_buf_puts(b, ",\"data_len\":");
    ac_json_u64(b, e->data_len);
    ac_buf_puts(b, ",\"payload_len\":");
    ac_json_i64(b, e->payload_len);
    ac_buf_puts(b, ",\"payload_offset\":");
    ac_json_i64(b, e->payload_offset);
    ac_buf_puts(b, ",\"close_status_code\":");
    ac_json_i64(b, e->close_status_code);
    const ac_error_handle_t *h = &e->error_handle;
    ac_buf_puts(b, ",\"error_handle\":{\"esp_tls_last_esp_err\":");
    ac_json_i64(b, h->esp_tls_last_esp_err);
    ac_buf_puts(b, ",\"esp_tls_stack_err\":");
    ac_json_i64(b, h->esp_tls_stack_err);
    ac_buf_puts(b, ",\"esp_tls_cert_verify_flags\":");
    ac_json_i64(b, h->esp_tls_cert_verify_flags);
    ac_buf_puts(b, ",\"error_type\":\"");
    ac_buf_puts(b, ac_error_type_name(h->error_type));
    ac_buf_puts(b, "\",\"esp_ws_handshake_status_code\":");
    ac_json_i64(b, h->esp_ws_handshake_status_code);
    ac_buf_puts(b, ",\"esp_transport_sock_errno\":");
    ac_json_i64(b, h->esp_transport_sock_errno);
    ac_buf_puts(b, "}");
    if (e->data_len > 0 && e->data_len <= inline_max && e->data) {
        ac_buf_puts(b, ",\"data\":");
        ac_json_b64(b, e->data, (size_t)e->data_len);
    } else if (e->data_len > inline_max && e->sha256) {
        char hex[65];
        for (int i = 0; i < 32; i++) {
            snprintf(hex + 2 * i, 3, "%02x", e->sha256[i]);
        }
        ac_buf_puts(b, ",\"sha256\":\"");
        ac_buf_puts(b, hex);
        ac_buf_puts(b, "\"");
    }
    ac_buf_puts(b, "}");
}

void ac_body_hcall(ac_buf_t *b, const char *client, uint64_t ms, unsigned reaction, const char *function, int64_t ret)
{
    ac_buf_puts(b, "{\"t\":\"hcall\",\"client\":");
    ac_json_str(b, client, strlen(client));
    ac_buf_puts(b, ",\"ms\":");
    ac_json_u64(b, ms);
    ac_buf_puts(b, ",\"reaction\":");
    ac_json_u64(b, reaction);
    ac_buf_puts(b, ",\"function\":");
    ac_json_str(b, function, strlen(function));
    ac_buf_puts(b, ",\"ret\":");
    ac_json_i64(b, ret);
    ac_buf_puts(b, "}");
}

static void frame_body(ac_buf_t *out, uint32_t seq, ac_buf_t *body)
{
    if (body->oom) {
        out->oom = true;
    } else {
        ac_frame(out, seq, body->p, body->len);
    }
    ac_buf_free(body);
}

void ac_msg_hello(ac_buf_t *out, uint32_t seq, const ac_hello_t *h)
{
    ac_buf_t b = {0};
    ac_body_hello(&b, h);
    frame_body(out, seq, &b);
}

void ac_msg_resp(ac_buf_t *out, uint32_t seq, uint64_t id, int64_t ret, bool pending)
{
    ac_buf_t b = {0};
    ac_body_resp(&b, "resp", id, true, ret, NULL, pending);
    frame_body(out, seq, &b);
}

void ac_msg_err(ac_buf_t *out, uint32_t seq, uint64_t id, const char *err)
{
    ac_buf_t b = {0};
    ac_body_resp(&b, "resp", id, false, 0, err, false);
    frame_body(out, seq, &b);
}

void ac_msg_done(ac_buf_t *out, uint32_t seq, uint64_t id, bool ok, int64_t ret, const char *err)
{
    ac_buf_t b = {0};
    ac_body_resp(&b, "done", id, ok, ret, err, false);
    frame_body(out, seq, &b);
}

void ac_msg_event(ac_buf_t *out, uint32_t seq, const ac_event_msg_t *e, size_t inline_max)
{
    ac_buf_t b = {0};
    ac_body_event(&b, e, inline_max);
    frame_body(out, seq, &b);
}

void ac_msg_hcall(ac_buf_t *out, uint32_t seq, const char *client, uint64_t ms, unsigned reaction,
                  const char *function, int64_t ret)
{
    ac_buf_t b = {0};
    ac_body_hcall(&b, client, ms, reaction, function, ret);
    frame_body(out, seq, &b);
}

/* ---- reassembly and matching ------------------------------------------------------------------ */

static void reasm_reset(ac_reasm_t *r)
{
    r->opcode = 0;
    r->len = 0;
    r->too_long = false;
}

ac_reasm_result_t ac_reasm_push(ac_reasm_t *r, ac_event_t ev, uint8_t op_code, bool fin,
                                const uint8_t *data, size_t data_len, int32_t payload_len,
                                int32_t payload_offset, int *opcode, size_t *len)
{
    if (ev == AC_EV_CONNECTED || ev == AC_EV_DISCONNECTED || ev == AC_EV_CLOSED || ev == AC_EV_FINISH) {
        reasm_reset(r);
        return AC_REASM_PENDING;
    }
    if (ev != AC_EV_DATA) {
        return AC_REASM_PENDING;
    }
    bool first = payload_offset == 0;
    if ((op_code == 1 || op_code == 2) && first) {
        reasm_reset(r);
        r->opcode = op_code;
    } else if (op_code <= 2 && r->opcode != 0) {
        /* a later chunk, or a CONT frame */
    } else {
        return AC_REASM_PENDING;
    }
    if (!r->too_long && r->len + data_len <= r->max) {
        if (r->len + data_len > r->cap) {
            size_t c = (r->len + data_len) * 2 + 64;
            if (c > r->max) {
                c = r->max;
            }
            uint8_t *p = realloc(r->data, c ? c : 1);
            if (!p) {
                r->too_long = true;
            } else {
                r->data = p;
                r->cap = c;
            }
        }
        if (!r->too_long && data_len > 0) {
            memcpy(r->data + r->len, data, data_len);
        }
    } else {
        r->too_long = true;
    }
    r->len += data_len;
    bool frame_done = (int64_t)payload_offset + (int64_t)data_len >= (int64_t)payload_len;
    if (!(fin && frame_done)) {
        return AC_REASM_PENDING;
    }
    *opcode = r->opcode;
    *len = r->len;
    bool long_ = r->too_long;
    r->opcode = 0;
    r->len = 0;
    r->too_long = false;
    return long_ ? AC_REASM_TOO_LONG : AC_REASM_MESSAGE;
}

void ac_reasm_free(ac_reasm_t *r)
{
    free(r->data);
    r->data = NULL;
    r->len = r->cap = 0;
}

bool ac_match(const ac_match_t *m, ac_event_t ev, uint8_t op_code, bool fin, size_t data_len,
              int32_t payload_len, int32_t payload_offset, const uint8_t *data)
{
    return ev == m->event && (!m->has_op_code || m->op_code == op_code) && (!m->has_fin || m->fin == fin) &&
           (!m->has_data_len || m->data_len == data_len) &&
           (!m->has_payload_len || m->payload_len == payload_len) &&
           (!m->has_payload_offset || m->payload_offset == payload_offset) &&
           (!m->has_text || (m->text_len == data_len && (data_len == 0 || memcmp(m->text, data, data_len) == 0)));
}
