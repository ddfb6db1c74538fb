/* gearshift.ingest._scan -- the native fast path of gearshift.ingest.parse.
 *
 * Scanner.scan(buf, start, end, line_no) does, for the complete lines in buf[start:end], what
 * the pure Python _scan/_decode/_add do: it finds the lines containing the bytes `"usage"` and turns the
 * billable ones into Entry tuples (plus Agent/Task tool calls and subagent tool results).
 *
 * Phase 1 runs with the GIL released: it counts lines, finds `"usage"` lines and runs a small,
 * strictly validating JSON parser over each, driven by the schema of the msgspec Structs in
 * parse.py, recording offsets and integers into C arrays. Phase 2 (GIL held) builds the Python
 * objects in line order.
 *
 * Unless created with dedup=False, the Scanner also deduplicates the entries of its file as
 * gearshift.ingest.dedup.Deduper does (state kept across scan() calls): phase 2 decides from
 * the message id, request id, sidechain and progress flags and token total whether a line's
 * entry is a copy that loses to the one kept -- then it is never built -- or replaces it in
 * place in the entries list. Entries the fallback appends are taken back and run through the
 * same rules, in line order. finish() puts the list in Deduper.kept() order.
 *
 * Correctness by construction: a line is handled here only when msgspec would certainly decode
 * it to the same values -- the whole line is valid JSON, every declared field has exactly the
 * expected type, extracted strings hold no escapes and are valid UTF-8, token counts are plain
 * non-negative integers of at most 18 digits, no declared key repeats, nesting stays under
 * MAX_DEPTH. Anything else is handed back to Python (the `fallback` callable gets a memoryview
 * of the line), which decodes it with msgspec exactly as the pure path does. Being stricter than
 * msgspec is always safe; being laxer never happens.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

/* AVX2 variants of the two hot loops, chosen at import time by what the CPU supports. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(HAVE_SSE2)
#define HAVE_AVX2_TARGET 1
#include <immintrin.h>
static int g_avx2;
#endif

#if defined(__SIZEOF_INT128__)
#define HAVE_INT128 1
typedef unsigned __int128 u128;
#endif

#define MAX_DEPTH 64

/* ------------------------------------------------------------------------------------------ */
/* Records of phase 1                                                                           */

typedef struct {
    Py_ssize_t off;
    Py_ssize_t len; /* < 0: None */
} Span;

static const Span NONE_SPAN = {0, -1};

enum { REC_FALLBACK = 1, REC_ENTRY = 2, REC_USER = 3 };

typedef struct {
    int kind;
    unsigned char sidechain, from_progress, fast, api_error_flag, ts_ok, has_cost;
    Py_ssize_t start, end;
    long long line_no;
    Span msg_id, model, request, timestamp, session, agent, attribution, cwd, branch, entrypoint;
    Span cost;     /* costUSD as written (the _exact_cost rule); len < 0: None */
    Span tur_agent, tur_type, tool_use_id;
    long long tok[5]; /* input, output, 5m writes, 1h writes, cache reads */
    long long ts_us;
    Py_ssize_t pairs_begin, pairs_end; /* Agent/Task tool calls: (id, subagent_type) spans */
} Rec;

typedef struct {
    int present;
    Span id, model;
    int usage;
    long long in, out, ccit, crit;
    int cc;
    long long e5, e1;
    int fast;
    Py_ssize_t pairs_begin, pairs_end;
    Span first_tool_use_id;
} Msg;

typedef struct {
    Span type, timestamp, session, agent, attribution, cwd, branch, entrypoint, request;
    int sidechain, api_error, cost;
    Msg m1;
    int data;
    Span data_agent;
    int inner;
    Span inner_ts, inner_req;
    Msg m2;
    int tur_obj;
    Span tur_agent, tur_type;
} Line;

typedef struct {
    const unsigned char *base; /* the buffer; spans are offsets from here */
    const unsigned char *p, *e;
    Span *pairs;
    Py_ssize_t npairs, cap_pairs;
    Rec *recs;
    Py_ssize_t nrecs, cap_recs;
    int oom;
} Ctx;

/* ------------------------------------------------------------------------------------------ */
/* Lexing                                                                                       */

static inline void ws(Ctx *c)
{
    const unsigned char *p = c->p, *e = c->e;
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    c->p = p;
}

static inline int lit(Ctx *c, const char *s, Py_ssize_t n)
{
    if (c->e - c->p < n || memcmp(c->p, s, (size_t)n) != 0)
        return -1;
    c->p += n;
    return 0;
}

/* A value that must be null or an object: 0 after consuming a null, 1 when an object starts at
 * c->p (left for the caller to parse), -1 for anything else. */
static inline int null_or_object(Ctx *c)
{
    if (*c->p == 'n')
        return lit(c, "null", 4) ? -1 : 0;
    return *c->p == '{' ? 1 : -1;
}

/* Length of the strictly valid UTF-8 sequence at p (no overlongs, surrogates or > U+10FFFF),
 * or 0. p[0] >= 0x80. */
static inline int utf8_seq(const unsigned char *p, const unsigned char *e)
{
    unsigned char b0 = p[0], b1;
    if (b0 < 0xC2)
        return 0;
    if (b0 < 0xE0) {
        if (e - p < 2 || (p[1] & 0xC0) != 0x80)
            return 0;
        return 2;
    }
    if (b0 < 0xF0) {
        if (e - p < 3)
            return 0;
        b1 = p[1];
        if ((b1 & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 > 0x9F))
            return 0;
        return 3;
    }
    if (b0 < 0xF5) {
        if (e - p < 4)
            return 0;
        b1 = p[1];
        if ((b1 & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((b0 == 0xF0 && b1 < 0x90) || (b0 == 0xF4 && b1 > 0x8F))
            return 0;
        return 4;
    }
    return 0;
}

static inline int hex4(const unsigned char *p, const unsigned char *e)
{
    int v = 0, i;
    if (e - p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        unsigned char ch = p[i];
        int d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            d = ch - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

#ifdef HAVE_AVX2_TARGET
/* The first '"', '\\', control or non-ASCII byte in [p, e), or a position < 32 bytes from e. */
__attribute__((target("avx2"))) static const unsigned char *string_stop_avx2(
    const unsigned char *p, const unsigned char *e)
{
    const __m256i vq = _mm256_set1_epi8('"'), vb = _mm256_set1_epi8('\\'),
                  vs = _mm256_set1_epi8(0x20);
    while (e - p >= 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)p);
        __m256i m = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(v, vq), _mm256_cmpeq_epi8(v, vb)),
            _mm256_cmpgt_epi8(vs, v));
        unsigned mask = (unsigned)_mm256_movemask_epi8(m);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 32;
    }
    return p;
}
#endif

/* c->p is at an opening quote. On success c->p is after the closing quote, *out spans the raw
 * content and *esc tells whether it held a backslash escape. */
static int scan_string(Ctx *c, Span *out, int *esc)
{
    const unsigned char *p = c->p + 1, *e = c->e, *s = p;
    int escaped = 0;
    for (;;) {
        unsigned char ch;
#ifdef HAVE_SSE2
        {
            const __m128i vq = _mm_set1_epi8('"'), vb = _mm_set1_epi8('\\'),
                          vs = _mm_set1_epi8(0x20);
            /* Most strings are short: one 16-byte look inline, then the wide loop. */
            if (e - p >= 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)p);
                __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, vq), _mm_cmpeq_epi8(v, vb)),
                                         _mm_cmplt_epi8(v, vs));
                int mask = _mm_movemask_epi8(m);
                if (mask) {
                    p += __builtin_ctz((unsigned)mask);
                    goto special;
                }
                p += 16;
#ifdef HAVE_AVX2_TARGET
                if (g_avx2)
                    p = string_stop_avx2(p, e);
#endif
            }
            while (e - p >= 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)p);
                /* signed compare: bytes < 0x20 and bytes >= 0x80 are both "less than" 0x20 */
                __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, vq), _mm_cmpeq_epi8(v, vb)),
                                         _mm_cmplt_epi8(v, vs));
                int mask = _mm_movemask_epi8(m);
                if (mask) {
                    p += __builtin_ctz((unsigned)mask);
                    goto special;
                }
                p += 16;
            }
        }
#endif
        while (p < e) {
            ch = *p;
            if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x80)
                goto special;
            p++;
        }
        return -1; /* unterminated */
    special:
        ch = *p;
        if (ch == '"') {
            out->off = s - c->base;
            out->len = p - s;
            *esc = escaped;
            c->p = p + 1;
            return 0;
        }
        if (ch == '\\') {
            escaped = 1;
            p++;
            if (p >= e)
                return -1;
            switch (*p) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p++;
                break;
            case 'u': {
                int u = hex4(p + 1, e);
                if (u < 0)
                    return -1;
                p += 5;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    int l;
                    if (e - p < 6 || p[0] != '\\' || p[1] != 'u')
                        return -1;
                    l = hex4(p + 2, e);
                    if (l < 0xDC00 || l > 0xDFFF)
                        return -1;
                    p += 6;
                }
                else if (u >= 0xDC00 && u <= 0xDFFF) {
                    return -1;
                }
                break;
            }
            default:
                return -1;
            }
            continue;
        }
        if (ch < 0x20)
            return -1;
        {
            int n = utf8_seq(p, e);
            if (!n)
                return -1;
            p += n;
        }
    }
}

typedef struct {
    int neg, int_digits, frac_digits, has_exp;
    long long ival;
} Num;

static int scan_number(Ctx *c, Num *n)
{
    const unsigned char *p = c->p, *e = c->e;
    n->neg = n->int_digits = n->frac_digits = n->has_exp = 0;
    n->ival = 0;
    if (p < e && *p == '-') {
        n->neg = 1;
        p++;
    }
    if (p >= e)
        return -1;
    if (*p == '0') {
        p++;
        n->int_digits = 1;
    }
    else if (*p >= '1' && *p <= '9') {
        while (p < e && *p >= '0' && *p <= '9') {
            if (n->int_digits < 18)
                n->ival = n->ival * 10 + (*p - '0');
            n->int_digits++;
            p++;
        }
    }
    else {
        return -1;
    }
    if (p < e && *p == '.') {
        p++;
        while (p < e && *p >= '0' && *p <= '9') {
            n->frac_digits++;
            p++;
        }
        if (!n->frac_digits)
            return -1;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        int digits = 0;
        n->has_exp = 1;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        while (p < e && *p >= '0' && *p <= '9') {
            digits++;
            p++;
        }
        if (!digits)
            return -1;
    }
    c->p = p;
    return 0;
}

static int skip_value(Ctx *c, int depth);

/* Advance to the next member of an object whose '{' was consumed: 1 with c->p at the value,
 * 0 at the end (the '}' consumed), -1 on bad JSON. */
static int obj_next(Ctx *c, int *first, Span *key, int *kesc)
{
    ws(c);
    if (c->p >= c->e)
        return -1;
    if (*first) {
        *first = 0;
        if (*c->p == '}') {
            c->p++;
            return 0;
        }
    }
    else {
        if (*c->p == '}') {
            c->p++;
            return 0;
        }
        if (*c->p != ',')
            return -1;
        c->p++;
        ws(c);
        if (c->p >= c->e)
            return -1;
    }
    if (*c->p != '"' || scan_string(c, key, kesc))
        return -1;
    ws(c);
    if (c->p >= c->e || *c->p != ':')
        return -1;
    c->p++;
    ws(c);
    if (c->p >= c->e)
        return -1;
    return 1;
}

static int skip_object(Ctx *c, int depth)
{
    int first = 1, kesc, r;
    Span key;
    if (depth > MAX_DEPTH)
        return -1;
    c->p++;
    while ((r = obj_next(c, &first, &key, &kesc)) == 1) {
        if (skip_value(c, depth))
            return -1;
    }
    return r;
}

static int skip_array(Ctx *c, int depth)
{
    if (depth > MAX_DEPTH)
        return -1;
    c->p++;
    ws(c);
    if (c->p < c->e && *c->p == ']') {
        c->p++;
        return 0;
    }
    for (;;) {
        ws(c);
        if (skip_value(c, depth))
            return -1;
        ws(c);
        if (c->p >= c->e)
            return -1;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == ']') {
            c->p++;
            return 0;
        }
        return -1;
    }
}

/* Validate any JSON value at c->p (whitespace already skipped); depth is its container's. */
static int skip_value(Ctx *c, int depth)
{
    Span s;
    int esc;
    Num n;
    if (c->p >= c->e)
        return -1;
    switch (*c->p) {
    case '"':
        return scan_string(c, &s, &esc);
    case '{':
        return skip_object(c, depth + 1);
    case '[':
        return skip_array(c, depth + 1);
    case 't':
        return lit(c, "true", 4);
    case 'f':
        return lit(c, "false", 5);
    case 'n':
        return lit(c, "null", 4);
    default:
        if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
            return scan_number(c, &n);
        return -1;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Typed fields                                                                                 */

/* str | None, no escapes (the raw bytes are the value). */
static int get_str(Ctx *c, Span *out)
{
    int esc;
    if (*c->p == 'n') {
        *out = NONE_SPAN;
        return lit(c, "null", 4);
    }
    if (*c->p != '"' || scan_string(c, out, &esc) || esc)
        return -1;
    return 0;
}

/* str | None whose value is not used: escapes allowed. */
static int get_any_str(Ctx *c)
{
    Span s;
    int esc;
    if (*c->p == 'n')
        return lit(c, "null", 4);
    if (*c->p != '"')
        return -1;
    return scan_string(c, &s, &esc);
}

/* int | None token count, taken as `value or 0`: only plain non-negative integers <= 18 digits. */
static int get_tok(Ctx *c, long long *out)
{
    Num n;
    if (*c->p == 'n') {
        *out = 0;
        return lit(c, "null", 4);
    }
    if (*c->p < '0' || *c->p > '9' || scan_number(c, &n))
        return -1;
    if (n.neg || n.frac_digits || n.has_exp || n.int_digits > 18)
        return -1;
    *out = n.ival;
    return 0;
}

/* bool | None, taken as bool(value). */
static int get_bool(Ctx *c, int *out)
{
    switch (*c->p) {
    case 't':
        *out = 1;
        return lit(c, "true", 4);
    case 'f':
        *out = 0;
        return lit(c, "false", 5);
    case 'n':
        *out = 0;
        return lit(c, "null", 4);
    default:
        return -1;
    }
}

/* costUSD: float | int | None; only numbers that cannot be out of range (no exponent). */
static int get_cost(Ctx *c, int *present)
{
    Num n;
    if (*c->p == 'n') {
        *present = 0;
        return lit(c, "null", 4);
    }
    if (*c->p != '-' && (*c->p < '0' || *c->p > '9'))
        return -1;
    if (scan_number(c, &n) || n.has_exp || n.int_digits > 18 || n.frac_digits > 30)
        return -1;
    *present = 1;
    return 0;
}

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

static ALWAYS_INLINE int key_is(Ctx *c, Span k, const char *name, Py_ssize_t n)
{
    return k.len == n && memcmp(c->base + k.off, name, (size_t)n) == 0;
}

static ALWAYS_INLINE int span_is(const unsigned char *base, Span s, const char *text,
                                 Py_ssize_t n)
{
    return s.len == n && memcmp(base + s.off, text, (size_t)n) == 0;
}

#define KEY(name) key_is(c, k, name, (Py_ssize_t)(sizeof(name) - 1))
#define SEEN(bit)                                                                                  \
    do {                                                                                           \
        if (seen & (1u << (bit)))                                                                  \
            return -1;                                                                             \
        seen |= 1u << (bit);                                                                       \
    } while (0)

/* A struct object member loop: a key with an escape could decode to a field name: fall back. */
#define MEMBERS_BEGIN                                                                              \
    int first = 1, kesc, r;                                                                        \
    unsigned seen = 0;                                                                             \
    Span k;                                                                                        \
    if (depth > MAX_DEPTH)                                                                         \
        return -1;                                                                                 \
    c->p++;                                                                                        \
    while ((r = obj_next(c, &first, &k, &kesc)) == 1) {                                            \
        if (kesc)                                                                                  \
            return -1;
#define MEMBERS_END                                                                                \
    }                                                                                              \
    (void)seen;                                                                                    \
    return r;

static int push_pair(Ctx *c, Span id, Span kind)
{
    if (c->npairs + 2 > c->cap_pairs) {
        Py_ssize_t cap = c->cap_pairs ? c->cap_pairs * 2 : 64;
        Span *np = (Span *)PyMem_RawRealloc(c->pairs, (size_t)cap * sizeof(Span));
        if (!np) {
            c->oom = 1;
            return -1;
        }
        c->pairs = np;
        c->cap_pairs = cap;
    }
    c->pairs[c->npairs++] = id;
    c->pairs[c->npairs++] = kind;
    return 0;
}

/* _ToolInput */
static int parse_input(Ctx *c, int depth, Span *subagent)
{
    MEMBERS_BEGIN
    if (KEY("subagent_type")) {
        SEEN(0);
        if (get_str(c, subagent))
            return -1;
    }
    else if (skip_value(c, depth))
        return -1;
    MEMBERS_END
}

/* _Block; with collect, records Agent/Task calls and the first tool_use_id into m. */
static int parse_block(Ctx *c, int depth, Msg *m, int collect)
{
    Span type = NONE_SPAN, id = NONE_SPAN, name = NONE_SPAN, tuid = NONE_SPAN, sub = NONE_SPAN;
    int input = 0;
    {
        MEMBERS_BEGIN
        if (KEY("type")) {
            SEEN(0);
            if (get_str(c, &type))
                return -1;
        }
        else if (KEY("id")) {
            SEEN(1);
            if (get_str(c, &id))
                return -1;
        }
        else if (KEY("name")) {
            SEEN(2);
            if (get_str(c, &name))
                return -1;
        }
        else if (KEY("input")) {
            SEEN(3);
            input = null_or_object(c);
            if (input < 0)
                return -1;
            if (input) {
                sub = NONE_SPAN;
                if (parse_input(c, depth + 1, &sub))
                    return -1;
            }
        }
        else if (KEY("tool_use_id")) {
            SEEN(4);
            if (get_str(c, &tuid))
                return -1;
        }
        else if (skip_value(c, depth))
            return -1;
        }
        if (r < 0)
            return -1;
        (void)seen;
    }
    if (collect) {
        const unsigned char *b = c->base;
        if (span_is(b, type, "tool_use", 8) &&
            (span_is(b, name, "Agent", 5) || span_is(b, name, "Task", 4)) && id.len > 0 && input &&
            sub.len > 0) {
            if (push_pair(c, id, sub))
                return -1;
        }
        if (m->first_tool_use_id.len < 0 && tuid.len > 0)
            m->first_tool_use_id = tuid;
    }
    return 0;
}

/* list[_Block] | str | None */
static int parse_content(Ctx *c, int depth, Msg *m, int collect)
{
    Span s;
    int esc;
    if (*c->p == 'n')
        return lit(c, "null", 4);
    if (*c->p == '"')
        return scan_string(c, &s, &esc);
    if (*c->p != '[' || depth > MAX_DEPTH)
        return -1;
    c->p++;
    ws(c);
    if (c->p < c->e && *c->p == ']') {
        c->p++;
        return 0;
    }
    for (;;) {
        ws(c);
        if (c->p >= c->e || *c->p != '{')
            return -1;
        if (parse_block(c, depth + 1, m, collect))
            return -1;
        ws(c);
        if (c->p >= c->e)
            return -1;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == ']') {
            c->p++;
            return 0;
        }
        return -1;
    }
}

/* _CacheCreation */
static int parse_cache(Ctx *c, int depth, Msg *m)
{
    MEMBERS_BEGIN
    if (KEY("ephemeral_5m_input_tokens")) {
        SEEN(0);
        if (get_tok(c, &m->e5))
            return -1;
    }
    else if (KEY("ephemeral_1h_input_tokens")) {
        SEEN(1);
        if (get_tok(c, &m->e1))
            return -1;
    }
    else if (skip_value(c, depth))
        return -1;
    MEMBERS_END
}

/* _Usage */
static int parse_usage(Ctx *c, int depth, Msg *m)
{
    Span speed;
    MEMBERS_BEGIN
    if (KEY("input_tokens")) {
        SEEN(0);
        if (get_tok(c, &m->in))
            return -1;
    }
    else if (KEY("output_tokens")) {
        SEEN(1);
        if (get_tok(c, &m->out))
            return -1;
    }
    else if (KEY("cache_creation_input_tokens")) {
        SEEN(2);
        if (get_tok(c, &m->ccit))
            return -1;
    }
    else if (KEY("cache_read_input_tokens")) {
        SEEN(3);
        if (get_tok(c, &m->crit))
            return -1;
    }
    else if (KEY("cache_creation")) {
        SEEN(4);
        m->cc = null_or_object(c);
        if (m->cc < 0 || (m->cc && parse_cache(c, depth + 1, m)))
            return -1;
    }
    else if (KEY("speed")) {
        SEEN(5);
        if (get_str(c, &speed))
            return -1;
        m->fast = span_is(c->base, speed, "fast", 4);
    }
    else if (KEY("inference_geo")) {
        SEEN(6);
        if (get_any_str(c))
            return -1;
    }
    else if (skip_value(c, depth))
        return -1;
    MEMBERS_END
}

static void msg_init(Msg *m, Py_ssize_t npairs)
{
    memset(m, 0, sizeof(*m));
    m->id = m->model = m->first_tool_use_id = NONE_SPAN;
    m->pairs_begin = m->pairs_end = npairs;
}

/* _Message */
static int parse_message(Ctx *c, int depth, Msg *m, int collect)
{
    m->present = 1;
    m->pairs_begin = c->npairs;
    {
        MEMBERS_BEGIN
        if (KEY("id")) {
            SEEN(0);
            if (get_str(c, &m->id))
                return -1;
        }
        else if (KEY("model")) {
            SEEN(1);
            if (get_str(c, &m->model))
                return -1;
        }
        else if (KEY("usage")) {
            SEEN(2);
            m->usage = null_or_object(c);
            if (m->usage < 0 || (m->usage && parse_usage(c, depth + 1, m)))
                return -1;
        }
        else if (KEY("content")) {
            SEEN(3);
            if (parse_content(c, depth + 1, m, collect))
                return -1;
        }
        else if (skip_value(c, depth))
            return -1;
        }
        if (r < 0)
            return -1;
        (void)seen;
    }
    m->pairs_end = c->npairs;
    return 0;
}

/* message: _Message | None */
static int get_message(Ctx *c, int depth, Msg *m, int collect)
{
    if (*c->p == 'n') {
        m->present = 0;
        return lit(c, "null", 4);
    }
    if (*c->p != '{')
        return -1;
    return parse_message(c, depth, m, collect);
}

/* _Inner (progress.data.message) */
static int parse_inner(Ctx *c, int depth, Line *l)
{
    l->inner = 1;
    {
        MEMBERS_BEGIN
        if (KEY("type")) {
            SEEN(0);
            if (get_any_str(c))
                return -1;
        }
        else if (KEY("timestamp")) {
            SEEN(1);
            if (get_str(c, &l->inner_ts))
                return -1;
        }
        else if (KEY("message")) {
            SEEN(2);
            msg_init(&l->m2, c->npairs);
            if (get_message(c, depth + 1, &l->m2, 0))
                return -1;
        }
        else if (KEY("requestId")) {
            SEEN(3);
            if (get_str(c, &l->inner_req))
                return -1;
        }
        else if (skip_value(c, depth))
            return -1;
        MEMBERS_END
    }
}

/* _ProgressData */
static int parse_data(Ctx *c, int depth, Line *l)
{
    l->data = 1;
    {
        MEMBERS_BEGIN
        if (KEY("type")) {
            SEEN(0);
            if (get_any_str(c))
                return -1;
        }
        else if (KEY("agentId")) {
            SEEN(1);
            if (get_str(c, &l->data_agent))
                return -1;
        }
        else if (KEY("message")) {
            SEEN(2);
            int kind = null_or_object(c);
            if (kind < 0 || (kind && parse_inner(c, depth + 1, l)))
                return -1;
            if (!kind) {
                l->inner = 0;
                l->inner_ts = l->inner_req = NONE_SPAN;
                msg_init(&l->m2, c->npairs);
            }
        }
        else if (skip_value(c, depth))
            return -1;
        MEMBERS_END
    }
}

/* _ToolUseResult */
static int parse_tur(Ctx *c, int depth, Line *l)
{
    l->tur_obj = 1;
    {
        MEMBERS_BEGIN
        if (KEY("agentId")) {
            SEEN(0);
            if (get_str(c, &l->tur_agent))
                return -1;
        }
        else if (KEY("agentType")) {
            SEEN(1);
            if (get_str(c, &l->tur_type))
                return -1;
        }
        else if (skip_value(c, depth))
            return -1;
        MEMBERS_END
    }
}

static void line_init(Line *l, Py_ssize_t npairs)
{
    memset(l, 0, sizeof(*l));
    l->type = l->timestamp = l->session = l->agent = l->attribution = l->cwd = l->branch =
        l->entrypoint = l->request = NONE_SPAN;
    l->data_agent = l->inner_ts = l->inner_req = l->tur_agent = l->tur_type = NONE_SPAN;
    msg_init(&l->m1, npairs);
    msg_init(&l->m2, npairs);
}

/* _Line: the whole line [c->p, c->e). */
static int parse_line(Ctx *c, Line *l)
{
    int depth = 1;
    ws(c);
    if (c->p >= c->e || *c->p != '{')
        return -1;
    {
        int first = 1, kesc, r;
        unsigned seen = 0;
        Span k;
        c->p++;
        while ((r = obj_next(c, &first, &k, &kesc)) == 1) {
            if (kesc)
                return -1;
            switch (k.len) {
            case 3:
                if (KEY("cwd")) {
                    SEEN(0);
                    if (get_str(c, &l->cwd))
                        return -1;
                    continue;
                }
                break;
            case 4:
                if (KEY("type")) {
                    SEEN(1);
                    if (get_str(c, &l->type))
                        return -1;
                    continue;
                }
                if (KEY("data")) {
                    SEEN(2);
                    int kind = null_or_object(c);
                    if (kind < 0 || (kind && parse_data(c, depth + 1, l)))
                        return -1;
                    if (!kind) {
                        l->data = l->inner = 0;
                        l->data_agent = l->inner_ts = l->inner_req = NONE_SPAN;
                        msg_init(&l->m2, c->npairs);
                    }
                    continue;
                }
                break;
            case 7:
                if (KEY("agentId")) {
                    SEEN(3);
                    if (get_str(c, &l->agent))
                        return -1;
                    continue;
                }
                if (KEY("costUSD")) {
                    SEEN(4);
                    if (get_cost(c, &l->cost))
                        return -1;
                    continue;
                }
                if (KEY("version")) {
                    SEEN(5);
                    if (get_any_str(c))
                        return -1;
                    continue;
                }
                if (KEY("message")) {
                    SEEN(6);
                    msg_init(&l->m1, c->npairs);
                    if (get_message(c, depth + 1, &l->m1, 1))
                        return -1;
                    continue;
                }
                break;
            case 9:
                if (KEY("timestamp")) {
                    SEEN(7);
                    if (get_str(c, &l->timestamp))
                        return -1;
                    continue;
                }
                if (KEY("sessionId")) {
                    SEEN(8);
                    if (get_str(c, &l->session))
                        return -1;
                    continue;
                }
                if (KEY("gitBranch")) {
                    SEEN(9);
                    if (get_str(c, &l->branch))
                        return -1;
                    continue;
                }
                if (KEY("requestId")) {
                    SEEN(10);
                    if (get_str(c, &l->request))
                        return -1;
                    continue;
                }
                break;
            case 10:
                if (KEY("entrypoint")) {
                    SEEN(11);
                    if (get_str(c, &l->entrypoint))
                        return -1;
                    continue;
                }
                break;
            case 11:
                if (KEY("isSidechain")) {
                    SEEN(12);
                    if (get_bool(c, &l->sidechain))
                        return -1;
                    continue;
                }
                break;
            case 13:
                if (KEY("toolUseResult")) {
                    Span s;
                    int esc;
                    SEEN(13);
                    l->tur_obj = 0;
                    l->tur_agent = l->tur_type = NONE_SPAN;
                    switch (*c->p) {
                    case 'n':
                        if (lit(c, "null", 4))
                            return -1;
                        break;
                    case '"':
                        if (scan_string(c, &s, &esc))
                            return -1;
                        break;
                    case '[':
                        if (skip_value(c, depth))
                            return -1;
                        break;
                    case '{':
                        if (parse_tur(c, depth + 1, l))
                            return -1;
                        break;
                    default:
                        return -1;
                    }
                    continue;
                }
                break;
            case 16:
                if (KEY("attributionAgent")) {
                    SEEN(14);
                    if (get_str(c, &l->attribution))
                        return -1;
                    continue;
                }
                break;
            case 17:
                if (KEY("isApiErrorMessage")) {
                    SEEN(15);
                    if (get_bool(c, &l->api_error))
                        return -1;
                    continue;
                }
                break;
            default:
                break;
            }
            if (skip_value(c, depth))
                return -1;
        }
        if (r < 0)
            return -1;
    }
    ws(c);
    return c->p == c->e ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Timestamps and costUSD text                                                                  */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const unsigned char *s, int n, int *out)
{
    int v = 0, i;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* The canonical `YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z` as microseconds since the epoch; -1 for any
 * other form (Python's datetime.fromisoformat handles those). */
static int parse_ts(const unsigned char *s, Py_ssize_t n, long long *out)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, frac = 0, nf = 0, days;
    if (n < 20 || s[n - 1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
        return -1;
    if (n > 20) {
        nf = (int)(n - 21);
        if (s[19] != '.' || nf < 1 || nf > 6 || digits(s + 20, nf, &frac))
            return -1;
        for (int i = nf; i < 6; i++)
            frac *= 10;
    }
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return -1;
    days = dim[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    if (d > days)
        return -1;
    *out = ((long long)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400LL + h * 3600LL +
            mi * 60LL + se) *
               1000000LL +
           frac;
    return 0;
}

/* parse._exact_cost: the text after the first `"costUSD":` made of [0-9.eE+- ], stripped. */
static Span exact_cost(const unsigned char *base, Py_ssize_t start, Py_ssize_t end)
{
    static const char needle[] = "\"costUSD\":";
    const Py_ssize_t nl = (Py_ssize_t)(sizeof(needle) - 1);
    const unsigned char *p = base + start, *e = base + end, *hit = NULL, *q, *a, *b;
    Span out = NONE_SPAN;
    while (e - p >= nl) {
        const unsigned char *x = memchr(p, '"', (size_t)(e - p - nl + 1));
        if (!x)
            break;
        if (memcmp(x, needle, (size_t)nl) == 0) {
            hit = x;
            break;
        }
        p = x + 1;
    }
    if (!hit)
        return out;
    q = hit + nl;
    a = q;
    while (q < e && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
                     *q == '+' || *q == '-' || *q == ' '))
        q++;
    b = q;
    while (a < b && *a == ' ')
        a++;
    while (b > a && b[-1] == ' ')
        b--;
    if (b > a) {
        out.off = a - base;
        out.len = b - a;
    }
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Phase 1: the whole chunk, no Python objects (runs without the GIL)                           */

static Rec *new_rec(Ctx *c)
{
    if (c->nrecs == c->cap_recs) {
        Py_ssize_t cap = c->cap_recs ? c->cap_recs * 2 : 256;
        Rec *nr = (Rec *)PyMem_RawRealloc(c->recs, (size_t)cap * sizeof(Rec));
        if (!nr) {
            c->oom = 1;
            return NULL;
        }
        c->recs = nr;
        c->cap_recs = cap;
    }
    return &c->recs[c->nrecs++];
}

static inline int popcount32(unsigned x) { return __builtin_popcount(x); }
static inline int highbit32(unsigned x) { return 31 - __builtin_clz(x); }

/* Whether the 7 bytes at p (7 must be readable) are `"usage"`. */
static inline int is_usage(const unsigned char *p)
{
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + 3, 4);
    return a == ((uint32_t)'"' | (uint32_t)'u' << 8 | (uint32_t)'s' << 16 | (uint32_t)'a' << 24) &&
           b == ((uint32_t)'a' | (uint32_t)'g' << 8 | (uint32_t)'e' << 16 | (uint32_t)'"' << 24);
}

#ifdef HAVE_AVX2_TARGET
/* find_usage over 32-byte blocks; *pp is where it stopped (< 33 bytes from e) without a hit. */
__attribute__((target("avx2,popcnt"))) static const unsigned char *find_usage_avx2(
    const unsigned char **pp, const unsigned char *e, Py_ssize_t *nl,
    const unsigned char **line_start)
{
    const unsigned char *p = *pp;
    const __m256i vq = _mm256_set1_epi8('"'), vu = _mm256_set1_epi8('u'),
                  vn = _mm256_set1_epi8('\n');
    while (e - p >= 33) {
        __m256i a = _mm256_loadu_si256((const __m256i *)p);
        __m256i b = _mm256_loadu_si256((const __m256i *)(p + 1));
        unsigned m = (unsigned)_mm256_movemask_epi8(
            _mm256_and_si256(_mm256_cmpeq_epi8(a, vq), _mm256_cmpeq_epi8(b, vu)));
        unsigned n = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, vn));
        while (m) {
            int i = __builtin_ctz(m);
            if (e - (p + i) >= 7 && is_usage(p + i)) {
                unsigned below = i ? n & (0xFFFFFFFFu >> (32 - i)) : 0;
                if (below) {
                    *nl += __builtin_popcount(below);
                    *line_start = p + (31 - __builtin_clz(below)) + 1;
                }
                *pp = p;
                return p + i;
            }
            m &= m - 1;
        }
        if (n) {
            *nl += __builtin_popcount(n);
            *line_start = p + (31 - __builtin_clz(n)) + 1;
        }
        p += 32;
    }
    *pp = p;
    return NULL;
}
#endif

/* Find the next `"usage"` in [p, e): adds the newlines before it to *nl and points *line_start
 * after the last of them. Returns the hit, or NULL (then every newline in [p, e) is counted). */
static const unsigned char *find_usage(const unsigned char *p, const unsigned char *e,
                                       Py_ssize_t *nl, const unsigned char **line_start)
{
#ifdef HAVE_AVX2_TARGET
    if (g_avx2) {
        const unsigned char *hit = find_usage_avx2(&p, e, nl, line_start);
        if (hit)
            return hit;
    }
#endif
#ifdef HAVE_SSE2
    const __m128i vq = _mm_set1_epi8('"'), vu = _mm_set1_epi8('u'), vn = _mm_set1_epi8('\n');
    while (e - p >= 17) {
        __m128i a = _mm_loadu_si128((const __m128i *)p);
        __m128i b = _mm_loadu_si128((const __m128i *)(p + 1));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(a, vq), _mm_cmpeq_epi8(b, vu)));
        unsigned n = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, vn));
        while (m) {
            int i = __builtin_ctz(m);
            if (e - (p + i) >= 7 && is_usage(p + i)) {
                unsigned below = n & ((1u << i) - 1u);
                if (below) {
                    *nl += popcount32(below);
                    *line_start = p + highbit32(below) + 1;
                }
                return p + i;
            }
            m &= m - 1;
        }
        if (n) {
            *nl += popcount32(n);
            *line_start = p + highbit32(n) + 1;
        }
        p += 16;
    }
#endif
    while (p < e) {
        if (*p == '\n') {
            (*nl)++;
            *line_start = p + 1;
        }
        else if (*p == '"' && e - p >= 7 && is_usage(p)) {
            return p;
        }
        p++;
    }
    return NULL;
}

static void make_rec(Ctx *c, Line *l, Py_ssize_t start, Py_ssize_t end, long long line_no,
                     Py_ssize_t pairs_mark)
{
    const unsigned char *b = c->base;
    Rec *r;
    Msg *m;
    int progress = 0;
    if (span_is(b, l->type, "assistant", 9) && l->m1.present && l->m1.usage) {
        m = &l->m1;
    }
    else if (span_is(b, l->type, "progress", 8) && l->data && l->inner && l->m2.present &&
             l->m2.usage) {
        m = &l->m2;
        progress = 1;
    }
    else if (span_is(b, l->type, "user", 4) && l->tur_obj && l->tur_agent.len > 0) {
        c->npairs = pairs_mark;
        r = new_rec(c);
        if (!r)
            return;
        memset(r, 0, sizeof(*r));
        r->kind = REC_USER;
        r->start = start;
        r->end = end;
        r->line_no = line_no;
        r->tur_agent = l->tur_agent;
        r->tur_type = l->tur_type;
        r->tool_use_id = l->m1.present ? l->m1.first_tool_use_id : NONE_SPAN;
        return;
    }
    else {
        c->npairs = pairs_mark; /* nothing to record for this line */
        return;
    }
    r = new_rec(c);
    if (!r)
        return;
    memset(r, 0, sizeof(*r));
    r->kind = REC_ENTRY;
    r->start = start;
    r->end = end;
    r->line_no = line_no;
    r->from_progress = (unsigned char)progress;
    r->msg_id = m->id;
    r->model = m->model;
    r->session = l->session;
    r->attribution = l->attribution;
    r->cwd = l->cwd;
    r->branch = l->branch;
    r->entrypoint = l->entrypoint;
    r->api_error_flag = (unsigned char)(l->api_error != 0);
    r->fast = (unsigned char)m->fast;
    r->tur_agent = r->tur_type = r->tool_use_id = NONE_SPAN;
    if (progress) {
        r->request = l->inner_req;
        r->timestamp = l->inner_ts.len > 0 ? l->inner_ts : l->timestamp;
        r->sidechain = 1;
        r->agent = l->data_agent;
        r->pairs_begin = r->pairs_end = pairs_mark;
        c->npairs = pairs_mark;
        r->cost = NONE_SPAN;
        r->has_cost = 0;
    }
    else {
        r->request = l->request;
        r->timestamp = l->timestamp;
        r->sidechain = (unsigned char)(l->sidechain != 0);
        r->agent = l->agent;
        r->pairs_begin = m->pairs_begin;
        r->pairs_end = m->pairs_end;
        r->has_cost = (unsigned char)(l->cost != 0);
        r->cost = r->has_cost ? exact_cost(b, start, end) : NONE_SPAN;
    }
    r->tok[0] = m->in;
    r->tok[1] = m->out;
    if (m->cc) {
        r->tok[2] = m->e5;
        r->tok[3] = m->e1;
    }
    else {
        r->tok[2] = m->ccit;
        r->tok[3] = 0;
    }
    r->tok[4] = m->crit;
    r->ts_ok = 0;
    if (r->timestamp.len > 0 &&
        parse_ts(b + r->timestamp.off, r->timestamp.len, &r->ts_us) == 0)
        r->ts_ok = 1;
}

static void fallback_rec(Ctx *c, Py_ssize_t start, Py_ssize_t end, long long line_no,
                         Py_ssize_t pairs_mark)
{
    Rec *r;
    c->npairs = pairs_mark;
    r = new_rec(c);
    if (!r)
        return;
    memset(r, 0, sizeof(*r));
    r->kind = REC_FALLBACK;
    r->start = start;
    r->end = end;
    r->line_no = line_no;
}

/* Returns the number of newlines in buf[:end]. */
static Py_ssize_t phase1(Ctx *c, Py_ssize_t start, Py_ssize_t end, long long line_no)
{
    const unsigned char *buf = c->base, *pos = buf + start, *e = buf + end;
    Py_ssize_t nl = 0;
    Line line;
    while (pos < e && !c->oom) {
        const unsigned char *line_start = pos, *hit, *line_end;
        Py_ssize_t mark = c->npairs;
        hit = find_usage(pos, e, &nl, &line_start);
        if (!hit)
            return nl;
        line_end = memchr(hit, '\n', (size_t)(e - hit));
        if (!line_end) /* cannot happen: buf[end - 1] is a newline */
            line_end = e - 1;
        line_init(&line, c->npairs);
        c->p = line_start;
        c->e = line_end;
        if (parse_line(c, &line) == 0 && !c->oom)
            make_rec(c, &line, line_start - buf, line_end - buf, line_no + nl + 1, mark);
        else if (!c->oom)
            fallback_rec(c, line_start - buf, line_end - buf, line_no + nl + 1, mark);
        nl++; /* the newline ending this line */
        pos = line_end + 1;
    }
    return nl;
}

/* ------------------------------------------------------------------------------------------ */
/* The Scanner type                                                                             */

typedef struct {
    PyObject *obj;  /* last value (a str) */
    PyObject *obj2; /* for cwd: its project */
} Last;

typedef struct {
    PyObject *model; /* identity of the (interned) model string */
    long long day;
    int fast, api_error, valid;
    int kind; /* 0 slow path, 1 constant, 2 rates */
    PyObject *card;
    long long threshold, base[5], lc[5], num, den;
    int has_lc;
} CardCache;

/* A kept copy of the deduplication within the file (gearshift.ingest.dedup.Deduper's slot):
 * what _better and the duplicate test read of it, and where it is in the entries list. */
typedef struct {
    PyObject *req;    /* its request_id (a str or None; a new reference) */
    Py_ssize_t index; /* its position in entries */
    Py_ssize_t head;  /* the first slot of its bucket */
    Py_ssize_t next;  /* the next slot of its bucket, or -1 */
    long long total;  /* its total tokens */
    unsigned char side, prog;
} Slot;

typedef struct {
    PyObject_HEAD
    PyObject *entry_type, *entries, *malformed, *tool_types, *result_types, *result_tools;
    PyObject *interned, *projects, *fallback, *ts_fn, *card_fn, *slow_fn, *cards;
    long long max_tokens;
    Py_ssize_t usage_lines;
    int fast_alloc, busy;
    Last l_session, l_branch, l_entry, l_model, l_agent, l_attr, l_cwd, l_msg, l_req;
    CardCache card;
    /* Deduplication within the file (when `dedup`): message id -> the index of its bucket's
     * first slot, in order of first appearance, as Deduper.groups. */
    int dedup, reorder; /* reorder: entries are not in bucket order (finish() sorts them) */
    PyObject *buckets;
    Slot *slots;
    Py_ssize_t nslots, cap_slots, newest, duplicates; /* newest: the last bucket's first slot */
} Scanner;

static PyObject *s_unknown, *s_empty, *s_no_id, *s_range;

static void last_clear(Last *l)
{
    Py_CLEAR(l->obj);
    Py_CLEAR(l->obj2);
}

static int is_ascii(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    unsigned char acc = 0;
    for (; i < n; i++)
        acc |= p[i];
    return acc < 0x80;
}

static PyObject *mkstr(const unsigned char *base, Span s)
{
    const unsigned char *p;
    if (s.len < 0)
        Py_RETURN_NONE;
    p = base + s.off;
    if (is_ascii(p, s.len)) {
        PyObject *o = PyUnicode_New(s.len, 127);
        if (!o)
            return NULL;
        if (s.len)
            memcpy(PyUnicode_DATA(o), p, (size_t)s.len);
        return o;
    }
    return PyUnicode_DecodeUTF8((const char *)p, s.len, "strict");
}

/* A str for span s (None stays None; with empty_for_none None becomes ""), reusing the last value
 * when the bytes are equal and, with dict, sharing one copy through it (parse._i). */
static PyObject *cached_str(Last *last, const unsigned char *base, Span s, PyObject *dict,
                            int empty_for_none)
{
    PyObject *o;
    if (s.len < 0) {
        if (!empty_for_none)
            Py_RETURN_NONE;
        s.len = 0;
        s.off = 0;
    }
    if (last->obj) {
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(last->obj, &n);
        if (!u)
            return NULL;
        if (n == s.len && memcmp(u, base + s.off, (size_t)n) == 0)
            return Py_NewRef(last->obj);
    }
    o = mkstr(base, s);
    if (!o)
        return NULL;
    if (dict) {
        PyObject *shared = PyDict_SetDefault(dict, o, o);
        if (!shared) {
            Py_DECREF(o);
            return NULL;
        }
        Py_INCREF(shared);
        Py_SETREF(o, shared);
    }
    Py_XSETREF(last->obj, Py_NewRef(o));
    Py_CLEAR(last->obj2);
    return o;
}

static PyObject *project_of(Scanner *self, const unsigned char *base, Span cwd)
{
    PyObject *cwd_s, *proj;
    Span tail;
    Py_ssize_t n, i;
    const unsigned char *p;
    if (cwd.len < 0) {
        cwd.off = 0;
        cwd.len = 0;
    }
    if (self->l_cwd.obj && self->l_cwd.obj2) {
        Py_ssize_t ln;
        const char *u = PyUnicode_AsUTF8AndSize(self->l_cwd.obj, &ln);
        if (!u)
            return NULL;
        if (ln == cwd.len && memcmp(u, base + cwd.off, (size_t)ln) == 0)
            return Py_NewRef(self->l_cwd.obj2);
    }
    cwd_s = mkstr(base, cwd);
    if (!cwd_s)
        return NULL;
    proj = PyDict_GetItemWithError(self->projects, cwd_s);
    if (proj) {
        Py_INCREF(proj);
    }
    else {
        if (PyErr_Occurred()) {
            Py_DECREF(cwd_s);
            return NULL;
        }
        /* cwd.rstrip("/").rsplit("/", 1)[-1] if cwd else "" */
        p = base + cwd.off;
        n = cwd.len;
        while (n > 0 && p[n - 1] == '/')
            n--;
        i = n;
        while (i > 0 && p[i - 1] != '/')
            i--;
        tail.off = cwd.off + i;
        tail.len = n - i;
        proj = mkstr(base, tail);
        if (!proj || PyDict_SetItem(self->projects, cwd_s, proj) < 0) {
            Py_XDECREF(proj);
            Py_DECREF(cwd_s);
            return NULL;
        }
    }
    Py_XSETREF(self->l_cwd.obj, cwd_s);
    Py_XSETREF(self->l_cwd.obj2, Py_NewRef(proj));
    return proj;
}

/* Forget the kept slots (not the buckets dict). */
static void slots_clear(Scanner *self)
{
    Py_ssize_t i;
    Slot *slots = self->slots;
    Py_ssize_t n = self->nslots;
    self->slots = NULL;
    self->nslots = self->cap_slots = 0;
    self->newest = -1;
    self->duplicates = 0;
    self->reorder = 0;
    for (i = 0; i < n; i++)
        Py_XDECREF(slots[i].req);
    PyMem_Free(slots);
}

static int Scanner_init(Scanner *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"entry_type", "entries",  "malformed", "tool_types",
                             "result_types", "result_tools", "interned", "projects",
                             "fallback",   "ts_fn",    "card_fn",   "slow_fn",
                             "cards",      "max_tokens", "dedup", NULL};
    PyObject *et, *en, *ma, *tt, *rt, *rl, *in, *pr, *fb, *ts, *cf, *sf, *cd, *buckets;
    long long mt;
    int dd = 1;
    PyTypeObject *t;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!O!O!O!O!O!O!OOOOOL|p", kwlist, &et,
                                     &PyList_Type, &en, &PyList_Type, &ma, &PyDict_Type, &tt,
                                     &PyDict_Type, &rt, &PyDict_Type, &rl, &PyDict_Type, &in,
                                     &PyDict_Type, &pr, &fb, &ts, &cf, &sf, &cd, &mt, &dd))
        return -1;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Scanner.__init__ during a scan");
        return -1;
    }
    if (!PyType_Check(et) || !PyType_IsSubtype((PyTypeObject *)et, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "entry_type must be a tuple subclass");
        return -1;
    }
    if (!PyCallable_Check(fb) || !PyCallable_Check(ts)) {
        PyErr_SetString(PyExc_TypeError, "fallback and ts_fn must be callable");
        return -1;
    }
    if (cf != Py_None && (!PyCallable_Check(cf) || !PyCallable_Check(sf) || !PyDict_Check(cd))) {
        PyErr_SetString(PyExc_TypeError, "card_fn, slow_fn must be callable and cards a dict");
        return -1;
    }
    if (mt < 0) {
        PyErr_SetString(PyExc_ValueError, "max_tokens must not be negative");
        return -1;
    }
    if (dd && PyList_GET_SIZE(en)) {
        PyErr_SetString(PyExc_ValueError, "with dedup the entries list must start empty");
        return -1;
    }
    if (!(buckets = PyDict_New()))
        return -1;
    slots_clear(self);
    Py_XSETREF(self->buckets, buckets);
    self->dedup = dd;
    t = (PyTypeObject *)et;
    /* A plain namedtuple: same layout as tuple, so tp_alloc + PyTuple_SET_ITEM builds one
     * exactly as tuple.__new__(cls, items) does. Anything else is called. */
    self->fast_alloc = t->tp_basicsize == PyTuple_Type.tp_basicsize &&
                       t->tp_itemsize == PyTuple_Type.tp_itemsize && t->tp_dictoffset == 0;
    Py_XSETREF(self->entry_type, Py_NewRef(et));
    Py_XSETREF(self->entries, Py_NewRef(en));
    Py_XSETREF(self->malformed, Py_NewRef(ma));
    Py_XSETREF(self->tool_types, Py_NewRef(tt));
    Py_XSETREF(self->result_types, Py_NewRef(rt));
    Py_XSETREF(self->result_tools, Py_NewRef(rl));
    Py_XSETREF(self->interned, Py_NewRef(in));
    Py_XSETREF(self->projects, Py_NewRef(pr));
    Py_XSETREF(self->fallback, Py_NewRef(fb));
    Py_XSETREF(self->ts_fn, Py_NewRef(ts));
    Py_XSETREF(self->card_fn, Py_NewRef(cf));
    Py_XSETREF(self->slow_fn, Py_NewRef(sf));
    Py_XSETREF(self->cards, Py_NewRef(cd));
    self->max_tokens = mt;
    return 0;
}

static int Scanner_traverse(Scanner *self, visitproc visit, void *arg)
{
    Py_VISIT(self->entry_type);
    Py_VISIT(self->entries);
    Py_VISIT(self->malformed);
    Py_VISIT(self->tool_types);
    Py_VISIT(self->result_types);
    Py_VISIT(self->result_tools);
    Py_VISIT(self->interned);
    Py_VISIT(self->projects);
    Py_VISIT(self->fallback);
    Py_VISIT(self->ts_fn);
    Py_VISIT(self->card_fn);
    Py_VISIT(self->slow_fn);
    Py_VISIT(self->cards);
    Py_VISIT(self->card.card);
    Py_VISIT(self->buckets);
    return 0;
}

static int Scanner_clear(Scanner *self)
{
    Py_CLEAR(self->entry_type);
    Py_CLEAR(self->entries);
    Py_CLEAR(self->malformed);
    Py_CLEAR(self->tool_types);
    Py_CLEAR(self->result_types);
    Py_CLEAR(self->result_tools);
    Py_CLEAR(self->interned);
    Py_CLEAR(self->projects);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->ts_fn);
    Py_CLEAR(self->card_fn);
    Py_CLEAR(self->slow_fn);
    Py_CLEAR(self->cards);
    last_clear(&self->l_session);
    last_clear(&self->l_branch);
    last_clear(&self->l_entry);
    last_clear(&self->l_model);
    last_clear(&self->l_agent);
    last_clear(&self->l_attr);
    last_clear(&self->l_cwd);
    last_clear(&self->l_msg);
    last_clear(&self->l_req);
    Py_CLEAR(self->card.model);
    Py_CLEAR(self->card.card);
    self->card.valid = 0;
    Py_CLEAR(self->buckets);
    slots_clear(self);
    return 0;
}

static void Scanner_dealloc(Scanner *self)
{
    PyObject_GC_UnTrack(self);
    Scanner_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int append_malformed(Scanner *self, long long line_no, PyObject *msg)
{
    PyObject *n = PyLong_FromLongLong(line_no), *t;
    int rc;
    if (!n)
        return -1;
    t = PyTuple_Pack(2, n, msg);
    Py_DECREF(n);
    if (!t)
        return -1;
    rc = PyList_Append(self->malformed, t);
    Py_DECREF(t);
    return rc;
}

static int call_fallback(Scanner *self, const unsigned char *base, Rec *r)
{
    PyObject *mv, *n, *res, *rel;
    mv = PyMemoryView_FromMemory((char *)(base + r->start), r->end - r->start, PyBUF_READ);
    if (!mv)
        return -1;
    n = PyLong_FromLongLong(r->line_no);
    if (!n) {
        Py_DECREF(mv);
        return -1;
    }
    res = PyObject_CallFunctionObjArgs(self->fallback, mv, n, NULL);
    Py_DECREF(n);
    /* The memory is lent only for the call: release the view so that no one keeps it (that
     * fails, with BufferError, only if something still holds an export of it). */
    if (!res) {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        rel = PyObject_CallMethod(mv, "release", NULL);
        if (!rel)
            PyErr_Clear();
        Py_XDECREF(rel);
        PyErr_Restore(et, ev, tb);
        Py_DECREF(mv);
        return -1;
    }
    Py_DECREF(res);
    rel = PyObject_CallMethod(mv, "release", NULL);
    Py_DECREF(mv);
    if (!rel)
        return -1;
    Py_DECREF(rel);
    return 0;
}

static int load_i64(PyObject *o, long long lo, long long hi, long long *out)
{
    int overflow = 0;
    long long v;
    if (!PyLong_CheckExact(o))
        return -1;
    v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return -1;
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int load_rates(PyObject *t, long long *out)
{
    int i;
    if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) != 5)
        return -1;
    for (i = 0; i < 5; i++)
        if (load_i64(PyTuple_GET_ITEM(t, i), 0, (1LL << 40) - 1, &out[i]))
            return -1;
    return 0;
}

/* Decode a card from parse_native._card into the cache: ("c", model_id, tier, nanos, version,
 * known) or ("r", model_id, tier, version, threshold, base rates, lc rates | None, num, den);
 * anything else (None) means: ask the pricer for every entry. */
static void load_card(CardCache *cc, PyObject *card, long long max_tokens)
{
    PyObject *tag;
    cc->kind = 0;
    if (!PyTuple_CheckExact(card) || PyTuple_GET_SIZE(card) < 1)
        return;
    tag = PyTuple_GET_ITEM(card, 0);
    if (!PyUnicode_Check(tag))
        return;
    if (PyUnicode_CompareWithASCIIString(tag, "c") == 0 && PyTuple_GET_SIZE(card) == 6) {
        cc->kind = 1;
        return;
    }
#ifdef HAVE_INT128
    if (PyUnicode_CompareWithASCIIString(tag, "r") == 0 && PyTuple_GET_SIZE(card) == 9 &&
        max_tokens <= (1LL << 34)) {
        PyObject *lc = PyTuple_GET_ITEM(card, 6);
        if (load_i64(PyTuple_GET_ITEM(card, 4), -1, LLONG_MAX, &cc->threshold) ||
            load_rates(PyTuple_GET_ITEM(card, 5), cc->base) ||
            load_i64(PyTuple_GET_ITEM(card, 7), 1, (1LL << 32) - 1, &cc->num) ||
            load_i64(PyTuple_GET_ITEM(card, 8), 1, (1LL << 32) - 1, &cc->den))
            return;
        cc->has_lc = lc != Py_None;
        if (cc->has_lc && load_rates(lc, cc->lc))
            return;
        if (!cc->has_lc)
            cc->threshold = -1;
        cc->kind = 2;
    }
#else
    (void)max_tokens;
#endif
}

/* The card for (model, day, fast, api_error): a one-entry cache, then the shared dict, then
 * card_fn. Returns the cache or NULL on error. */
static CardCache *get_card(Scanner *self, PyObject *model, long long day, int fast, int api_error)
{
    CardCache *cc = &self->card;
    PyObject *key, *card, *dayo;
    if (cc->valid && cc->model == model && cc->day == day && cc->fast == fast &&
        cc->api_error == api_error)
        return cc;
    dayo = PyLong_FromLongLong(day);
    if (!dayo)
        return NULL;
    key = PyTuple_Pack(4, model, dayo, fast ? Py_True : Py_False, api_error ? Py_True : Py_False);
    if (!key) {
        Py_DECREF(dayo);
        return NULL;
    }
    card = PyDict_GetItemWithError(self->cards, key);
    if (card) {
        Py_INCREF(card);
    }
    else if (PyErr_Occurred()) {
        Py_DECREF(key);
        Py_DECREF(dayo);
        return NULL;
    }
    else {
        card = PyObject_CallFunctionObjArgs(self->card_fn, model, dayo, fast ? Py_True : Py_False,
                                            api_error ? Py_True : Py_False, NULL);
        if (!card || PyDict_SetItem(self->cards, key, card) < 0) {
            Py_XDECREF(card);
            Py_DECREF(key);
            Py_DECREF(dayo);
            return NULL;
        }
    }
    Py_DECREF(key);
    Py_DECREF(dayo);
    Py_XSETREF(cc->model, Py_NewRef(model));
    Py_XSETREF(cc->card, card);
    cc->day = day;
    cc->fast = fast;
    cc->api_error = api_error;
    cc->valid = 1;
    load_card(cc, card, self->max_tokens);
    return cc;
}

#ifdef HAVE_INT128
/* round_half_even(femto * num, den * 10**6) with the card's rates; -1 when it would not fit. */
static long long card_nanos(CardCache *cc, const long long *tok)
{
    const long long *rates;
    u128 femto, n, d, q, rem;
    long long prompt = tok[0] + tok[2] + tok[3] + tok[4];
    int i;
    rates = (cc->has_lc && prompt > cc->threshold) ? cc->lc : cc->base;
    /* rates are (input, output, 5m, 1h, read); tok is (input, output, 5m, 1h, read) */
    femto = 0;
    for (i = 0; i < 5; i++)
        femto += (u128)(unsigned long long)tok[i] * (u128)(unsigned long long)rates[i];
    n = femto * (u128)(unsigned long long)cc->num;
    d = (u128)(unsigned long long)cc->den * (u128)1000000u;
    q = n / d;
    rem = n % d;
    if (2 * rem > d || (2 * rem == d && (q & 1)))
        q += 1;
    if (q > (u128)LLONG_MAX)
        return -1;
    return (long long)q;
}
#endif

static long long floor_div(long long a, long long b)
{
    long long q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Entry fields, in order. */
enum {
    E_MSG,
    E_REQ,
    E_SIDE,
    E_PROG,
    E_SESSION,
    E_AGENT,
    E_ATTR,
    E_BRANCH,
    E_ENTRY,
    E_MODEL,
    E_I,
    E_O,
    E_W5,
    E_W1,
    E_R,
    E_FAST,
    E_APIERR,
    E_TS,
    E_PROJECT,
    E_MODEL_ID,
    E_TIER,
    E_NANOS,
    E_VERSION,
    E_PRICED,
    E_N
};

/* ------------------------------------------------------------------------------------------ */
/* Deduplication within the file                                                                */

/* Where an entry goes, by the rules of gearshift.ingest.dedup.Deduper.add. */
enum { DD_NEW_BUCKET, DD_NEW_SLOT, DD_REPLACE, DD_DROP };

/* dedup._better(new, old). */
static int dd_better(int side, int prog, long long total, const Slot *old)
{
    if (side != old->side)
        return !side;
    if (total != old->total)
        return total > old->total;
    if (prog != old->prog)
        return !prog;
    return 0;
}

/* DD_NEW_BUCKET; DD_NEW_SLOT with *at the bucket's last slot; DD_REPLACE or DD_DROP with *at
 * the slot this entry duplicates; -1 on error. */
static int dd_find(Scanner *self, PyObject *msg, PyObject *req, int side, int prog,
                   long long total, Py_ssize_t *at)
{
    PyObject *first = PyDict_GetItemWithError(self->buckets, msg);
    Py_ssize_t k, last = -1;
    if (!first)
        return PyErr_Occurred() ? -1 : DD_NEW_BUCKET;
    for (k = PyLong_AsSsize_t(first); k >= 0 && k < self->nslots; k = self->slots[k].next) {
        Slot *s = &self->slots[k];
        int same = 1;
        last = k;
        /* other.request_id == entry.request_id or other.sidechain or entry.sidechain */
        if (!s->side && !side && s->req != req) {
            if (s->req == Py_None || req == Py_None)
                same = 0;
            else if ((same = PyObject_RichCompareBool(s->req, req, Py_EQ)) < 0)
                return -1;
        }
        if (same) {
            *at = k;
            return dd_better(side, prog, total, s) ? DD_REPLACE : DD_DROP;
        }
    }
    if (last < 0) {
        PyErr_SetString(PyExc_SystemError, "Scanner: a corrupt dedup bucket");
        return -1;
    }
    *at = last;
    return DD_NEW_SLOT;
}

/* Keep `entry` as dd_find decided (how is DD_NEW_BUCKET, DD_NEW_SLOT or DD_REPLACE). */
static int dd_keep(Scanner *self, int how, Py_ssize_t at, PyObject *msg, PyObject *req, int side,
                   int prog, long long total, PyObject *entry)
{
    Slot *s;
    Py_ssize_t k, n = PyList_GET_SIZE(self->entries);
    if (how == DD_REPLACE) {
        s = &self->slots[at];
        if (s->index >= n) {
            PyErr_SetString(PyExc_RuntimeError, "Scanner: the entries list was shortened");
            return -1;
        }
        /* The replaced slot keeps its place and holds the better copy. */
        Py_SETREF(s->req, Py_NewRef(req));
        s->side = (unsigned char)side;
        s->prog = (unsigned char)prog;
        s->total = total;
        self->duplicates++;
        return PyList_SetItem(self->entries, s->index, Py_NewRef(entry));
    }
    if (self->nslots == self->cap_slots) {
        Py_ssize_t cap = self->cap_slots ? 2 * self->cap_slots : 256;
        Slot *grown = PyMem_Realloc(self->slots, (size_t)cap * sizeof(Slot));
        if (!grown) {
            PyErr_NoMemory();
            return -1;
        }
        self->slots = grown;
        self->cap_slots = cap;
    }
    k = self->nslots;
    if (how == DD_NEW_BUCKET) {
        PyObject *ko = PyLong_FromSsize_t(k);
        int x;
        if (!ko)
            return -1;
        x = PyDict_SetItem(self->buckets, msg, ko);
        Py_DECREF(ko);
        if (x < 0)
            return -1;
    }
    if (PyList_Append(self->entries, entry) < 0) {
        if (how == DD_NEW_BUCKET && PyDict_DelItem(self->buckets, msg) < 0)
            PyErr_Clear(); /* keep the first error */
        return -1;
    }
    s = &self->slots[k];
    s->req = Py_NewRef(req);
    s->index = n;
    s->next = -1;
    s->total = total;
    s->side = (unsigned char)side;
    s->prog = (unsigned char)prog;
    if (how == DD_NEW_BUCKET) {
        s->head = k;
        self->newest = k;
    }
    else {
        s->head = self->slots[at].head;
        self->slots[at].next = k;
        /* Deduper.kept() lists a bucket's slots together: appended after a later bucket's
         * entries, this one is out of place until finish(). */
        if (s->head != self->newest)
            self->reorder = 1;
    }
    self->nslots++;
    return 0;
}

/* An entry built in Python (by the fallback, parse._add): deduplicated as the fast path's. */
static int dd_add_object(Scanner *self, PyObject *entry)
{
    PyObject *msg, *req;
    long long total = 0;
    Py_ssize_t at = -1;
    int side, prog, i, how;
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < E_N) {
        PyErr_SetString(PyExc_TypeError, "Scanner: the fallback added an entry of another shape");
        return -1;
    }
    msg = PyTuple_GET_ITEM(entry, E_MSG);
    req = PyTuple_GET_ITEM(entry, E_REQ);
    if ((side = PyObject_IsTrue(PyTuple_GET_ITEM(entry, E_SIDE))) < 0 ||
        (prog = PyObject_IsTrue(PyTuple_GET_ITEM(entry, E_PROG))) < 0)
        return -1;
    for (i = 0; i < 5; i++) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(entry, E_I + i), &overflow);
        if (v == -1 && PyErr_Occurred())
            return -1;
        /* parse._add keeps counts within MAX_TOKENS: 5 of them cannot overflow the sum */
        if (overflow || v < 0 || v >= 1000000000000000000LL) {
            PyErr_SetString(PyExc_ValueError, "Scanner: an entry's token count is out of range");
            return -1;
        }
        total += v;
    }
    how = dd_find(self, msg, req, side, prog, total, &at);
    if (how < 0)
        return -1;
    if (how == DD_DROP) {
        self->duplicates++;
        return 0;
    }
    return dd_keep(self, how, at, msg, req, side, prog, total, entry);
}

/* Run the entries the fallback appended after entries[before:] through the deduplication. */
static int dd_adopt(Scanner *self, Py_ssize_t before)
{
    Py_ssize_t n = PyList_GET_SIZE(self->entries), i;
    PyObject *added;
    int rc = 0;
    if (!self->dedup || n <= before)
        return 0;
    if (!(added = PyList_GetSlice(self->entries, before, n)))
        return -1;
    if (PyList_SetSlice(self->entries, before, n, NULL) < 0) {
        Py_DECREF(added);
        return -1;
    }
    for (i = 0; i < PyList_GET_SIZE(added) && rc == 0; i++)
        rc = dd_add_object(self, PyList_GET_ITEM(added, i));
    Py_DECREF(added);
    return rc;
}

/* pricer.price(...) itself, through slow_fn: its five results into it[E_MODEL_ID...]. */
static int slow_price(Scanner *self, PyObject **it, PyObject **ts_text, const unsigned char *base,
                      Rec *r, PyObject *cost)
{
    PyObject *tokens, *res, *seq;
    Py_ssize_t i;
    if (!*ts_text) {
        *ts_text = mkstr(base, r->timestamp);
        if (!*ts_text)
            return -1;
    }
    tokens = PyTuple_Pack(5, it[E_I], it[E_O], it[E_W5], it[E_W1], it[E_R]);
    if (!tokens)
        return -1;
    res = PyObject_CallFunctionObjArgs(self->slow_fn, it[E_MODEL], *ts_text, tokens, it[E_FAST],
                                       cost, it[E_APIERR], NULL);
    Py_DECREF(tokens);
    if (!res)
        return -1;
    seq = PySequence_Fast(res, "the pricer must return a sequence");
    Py_DECREF(res);
    if (!seq)
        return -1;
    if (PySequence_Fast_GET_SIZE(seq) != 5) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "the pricer must return five values");
        return -1;
    }
    for (i = 0; i < 5; i++)
        it[E_MODEL_ID + i] = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
    Py_DECREF(seq);
    return 0;
}

/* parse._add for a line the fast path decoded (after _decode's usage_lines and _tool_calls). */
static int do_entry(Scanner *self, Ctx *c, Rec *r)
{
    const unsigned char *base = c->base;
    PyObject *it[E_N];
    PyObject *ts_text = NULL, *cost = NULL, *entry = NULL, *msg, *req;
    Py_ssize_t j, at = -1;
    int rc = -1, i, api_error, have_day = 0, how = DD_NEW_BUCKET;
    long long day = 0, total = 0;

    memset(it, 0, sizeof(it));
    self->usage_lines++;
    for (j = r->pairs_begin; j + 1 < r->pairs_end; j += 2) {
        PyObject *a = mkstr(base, c->pairs[j]), *b;
        int x;
        if (!a)
            return -1;
        b = mkstr(base, c->pairs[j + 1]);
        if (!b) {
            Py_DECREF(a);
            return -1;
        }
        x = PyDict_SetItem(self->tool_types, a, b);
        Py_DECREF(a);
        Py_DECREF(b);
        if (x < 0)
            return -1;
    }
    if (r->msg_id.len <= 0 || r->timestamp.len <= 0)
        return append_malformed(self, r->line_no, s_no_id);
    for (i = 0; i < 5; i++)
        if (r->tok[i] > self->max_tokens)
            return append_malformed(self, r->line_no, s_range);

    /* What parse._add does for every copy, kept or not: intern the session, branch and
     * entrypoint and map the cwd to its project (FileResult.interned and .projects). */
    if (!(it[E_MSG] = cached_str(&self->l_msg, base, r->msg_id, NULL, 0)) ||
        !(it[E_REQ] = cached_str(&self->l_req, base, r->request, NULL, 0)) ||
        !(it[E_SESSION] = cached_str(&self->l_session, base, r->session, self->interned, 1)) ||
        !(it[E_BRANCH] = cached_str(&self->l_branch, base, r->branch, self->interned, 1)) ||
        !(it[E_ENTRY] = cached_str(&self->l_entry, base, r->entrypoint, self->interned, 1)) ||
        !(it[E_PROJECT] = project_of(self, base, r->cwd)))
        goto done;
    msg = it[E_MSG]; /* borrowed: held by it[] or, once built, by the entry */
    req = it[E_REQ];
    if (self->dedup) {
        /* A copy that loses to the one kept is never built (tok[i] <= 10**18 - 1: no overflow) */
        for (i = 0; i < 5; i++)
            total += r->tok[i];
        how = dd_find(self, it[E_MSG], it[E_REQ], r->sidechain, r->from_progress, total, &at);
        if (how < 0)
            goto done;
        if (how == DD_DROP) {
            self->duplicates++;
            rc = 0;
            goto done;
        }
    }
    if (!(it[E_AGENT] = cached_str(&self->l_agent, base, r->agent, NULL, 0)) ||
        !(it[E_ATTR] = cached_str(&self->l_attr, base, r->attribution, NULL, 0)) ||
        !(it[E_MODEL] = cached_str(&self->l_model, base, r->model, NULL, 1)))
        goto done;
    it[E_SIDE] = Py_NewRef(r->sidechain ? Py_True : Py_False);
    it[E_PROG] = Py_NewRef(r->from_progress ? Py_True : Py_False);
    for (i = 0; i < 5; i++)
        if (!(it[E_I + i] = PyLong_FromLongLong(r->tok[i])))
            goto done;
    it[E_FAST] = Py_NewRef(r->fast ? Py_True : Py_False);
    api_error = r->api_error_flag || span_is(base, r->model, "<synthetic>", 11);
    it[E_APIERR] = Py_NewRef(api_error ? Py_True : Py_False);
    if (r->ts_ok) {
        if (!(it[E_TS] = PyLong_FromLongLong(r->ts_us)))
            goto done;
        day = floor_div(r->ts_us, 86400000000LL);
        have_day = 1;
    }
    else {
        int overflow = 0;
        long long v;
        if (!(ts_text = mkstr(base, r->timestamp)))
            goto done;
        if (!(it[E_TS] = PyObject_CallOneArg(self->ts_fn, ts_text)))
            goto done;
        if (PyLong_CheckExact(it[E_TS])) {
            v = PyLong_AsLongLongAndOverflow(it[E_TS], &overflow);
            if (v == -1 && PyErr_Occurred())
                PyErr_Clear();
            else if (!overflow) {
                day = floor_div(v, 86400000000LL);
                have_day = 1;
            }
        }
    }
    if (r->has_cost && r->cost.len >= 0) {
        if (!(cost = mkstr(base, r->cost)))
            goto done;
    }
    else {
        cost = Py_NewRef(Py_None);
    }

    if (self->card_fn == Py_None) {
        it[E_MODEL_ID] = Py_NewRef(it[E_MODEL]);
        it[E_TIER] = Py_NewRef(s_unknown);
        it[E_NANOS] = PyLong_FromLong(0);
        it[E_VERSION] = Py_NewRef(s_empty);
        it[E_PRICED] = Py_NewRef(Py_False);
        if (!it[E_NANOS])
            goto done;
    }
    else {
        CardCache *cc = NULL;
        int priced = 0;
        if (cost == Py_None && have_day) {
            cc = get_card(self, it[E_MODEL], day, r->fast, api_error);
            if (!cc)
                goto done;
        }
        if (cc && cc->kind == 1) {
            for (i = 0; i < 5; i++)
                it[E_MODEL_ID + i] = Py_NewRef(PyTuple_GET_ITEM(cc->card, 1 + i));
            priced = 1;
        }
#ifdef HAVE_INT128
        else if (cc && cc->kind == 2) {
            long long nanos = card_nanos(cc, r->tok);
            if (nanos >= 0) {
                if (!(it[E_NANOS] = PyLong_FromLongLong(nanos)))
                    goto done;
                it[E_MODEL_ID] = Py_NewRef(PyTuple_GET_ITEM(cc->card, 1));
                it[E_TIER] = Py_NewRef(PyTuple_GET_ITEM(cc->card, 2));
                it[E_VERSION] = Py_NewRef(PyTuple_GET_ITEM(cc->card, 3));
                it[E_PRICED] = Py_NewRef(Py_True);
                priced = 1;
            }
        }
#endif
        if (!priced && slow_price(self, it, &ts_text, base, r, cost) < 0)
            goto done;
    }

    if (self->fast_alloc) {
        PyTypeObject *t = (PyTypeObject *)self->entry_type;
        entry = t->tp_alloc(t, E_N);
        if (!entry)
            goto done;
        for (i = 0; i < E_N; i++) {
            PyTuple_SET_ITEM(entry, i, it[i]);
            it[i] = NULL;
        }
        /* Holding only atomic values it cannot be part of a cycle (the collector would untrack
         * it on its first pass anyway): keep it out of the collections. */
        for (i = 0; i < E_N; i++) {
            PyObject *v = PyTuple_GET_ITEM(entry, i);
            if (!(PyUnicode_CheckExact(v) || PyLong_CheckExact(v) || PyBool_Check(v) ||
                  v == Py_None))
                break;
        }
        if (i == E_N)
            PyObject_GC_UnTrack(entry);
    }
    else {
        entry = PyObject_Vectorcall(self->entry_type, it, E_N, NULL);
        if (!entry)
            goto done;
    }
    if (self->dedup)
        rc = dd_keep(self, how, at, msg, req, r->sidechain, r->from_progress, total, entry);
    else
        rc = PyList_Append(self->entries, entry);
done:
    for (i = 0; i < E_N; i++)
        Py_XDECREF(it[i]);
    Py_XDECREF(entry);
    Py_XDECREF(ts_text);
    Py_XDECREF(cost);
    return rc;
}

/* A user line whose toolUseResult names a subagent. */
static int do_user(Scanner *self, Ctx *c, Rec *r)
{
    const unsigned char *base = c->base;
    PyObject *agent = mkstr(base, r->tur_agent), *v;
    int x;
    if (!agent)
        return -1;
    if (r->tur_type.len > 0) {
        if (!(v = mkstr(base, r->tur_type))) {
            Py_DECREF(agent);
            return -1;
        }
        x = PyDict_SetItem(self->result_types, agent, v);
        Py_DECREF(v);
        if (x < 0) {
            Py_DECREF(agent);
            return -1;
        }
    }
    if (r->tool_use_id.len > 0) {
        if (!(v = mkstr(base, r->tool_use_id))) {
            Py_DECREF(agent);
            return -1;
        }
        x = PyDict_SetItem(self->result_tools, agent, v);
        Py_DECREF(v);
        if (x < 0) {
            Py_DECREF(agent);
            return -1;
        }
    }
    Py_DECREF(agent);
    return 0;
}

PyDoc_STRVAR(scan_doc,
             "scan(buf, start, end, line_no) -> int\n\n"
             "Process the complete lines of buf[start:end] (buf[end - 1] must be a newline), the "
             "first of which is line line_no + 1; return the number of the last line.");

static PyObject *Scanner_scan(Scanner *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t start, end, nl, i;
    long long line_no;
    Ctx c;
    PyObject *ret = NULL;
    if (!PyArg_ParseTuple(args, "y*nnL", &view, &start, &end, &line_no))
        return NULL;
    if (start < 0 || end <= start || end > view.len ||
        ((const unsigned char *)view.buf)[end - 1] != '\n') {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError,
                        "need 0 <= start < end <= len(buf) and a newline at buf[end - 1]");
        return NULL;
    }
    if (self->busy || !self->entries) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_RuntimeError,
                        self->entries ? "Scanner.scan is not reentrant" : "Scanner not initialised");
        return NULL;
    }
    self->busy = 1;
    memset(&c, 0, sizeof(c));
    c.base = (const unsigned char *)view.buf;
    Py_BEGIN_ALLOW_THREADS
    nl = phase1(&c, start, end, line_no);
    Py_END_ALLOW_THREADS

    if (c.oom) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < c.nrecs; i++) {
        Rec *r = &c.recs[i];
        int x;
        if (r->kind == REC_FALLBACK) {
            Py_ssize_t before = PyList_GET_SIZE(self->entries);
            x = call_fallback(self, c.base, r);
            if (x == 0)
                x = dd_adopt(self, before);
        }
        else if (r->kind == REC_ENTRY)
            x = do_entry(self, &c, r);
        else
            x = do_user(self, &c, r);
        if (x < 0)
            goto done;
    }
    ret = PyLong_FromLongLong(line_no + (long long)nl);
done:
    PyMem_RawFree(c.recs);
    PyMem_RawFree(c.pairs);
    self->busy = 0;
    PyBuffer_Release(&view);
    return ret;
}

PyDoc_STRVAR(finish_doc,
             "finish() -> int\n\n"
             "Put the entries in the order of gearshift.ingest.dedup.Deduper.kept() (buckets in "
             "order of first appearance, a bucket's slots in order of creation) and return the "
             "number of duplicates removed so far. Call it after the last scan; more scans may "
             "follow.");

static PyObject *Scanner_finish(Scanner *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n, pos = 0, i, k;
    PyObject *key, *val, *ordered;
    if (self->busy || !self->entries) {
        PyErr_SetString(PyExc_RuntimeError,
                        self->entries ? "Scanner.finish during a scan" : "Scanner not initialised");
        return NULL;
    }
    if (self->dedup && self->reorder) {
        n = PyList_GET_SIZE(self->entries);
        if (n != self->nslots) {
            PyErr_SetString(PyExc_RuntimeError, "Scanner: the entries list was changed");
            return NULL;
        }
        if (!(ordered = PyList_New(n)))
            return NULL;
        i = 0;
        while (PyDict_Next(self->buckets, &i, &key, &val)) {
            for (k = PyLong_AsSsize_t(val); k >= 0; k = self->slots[k].next) {
                if (pos >= n || k >= self->nslots || self->slots[k].index >= n) {
                    Py_DECREF(ordered);
                    PyErr_SetString(PyExc_SystemError, "Scanner: a corrupt dedup bucket");
                    return NULL;
                }
                PyList_SET_ITEM(ordered, pos++,
                                Py_NewRef(PyList_GET_ITEM(self->entries, self->slots[k].index)));
            }
        }
        if (pos != n) {
            Py_DECREF(ordered); /* its unset items are NULL: list_dealloc skips them */
            PyErr_SetString(PyExc_SystemError, "Scanner: a corrupt dedup bucket");
            return NULL;
        }
        if (PyList_SetSlice(self->entries, 0, n, ordered) < 0) {
            Py_DECREF(ordered);
            return NULL;
        }
        Py_DECREF(ordered);
        pos = i = 0;
        while (PyDict_Next(self->buckets, &i, &key, &val))
            for (k = PyLong_AsSsize_t(val); k >= 0; k = self->slots[k].next)
                self->slots[k].index = pos++;
        self->reorder = 0;
    }
    return PyLong_FromSsize_t(self->duplicates);
}

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_VARARGS, scan_doc},
    {"finish", (PyCFunction)Scanner_finish, METH_NOARGS, finish_doc},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Scanner_members[] = {
    {"usage_lines", T_PYSSIZET, offsetof(Scanner, usage_lines), READONLY,
     "usage lines decoded by the fast path so far"},
    {"duplicates", T_PYSSIZET, offsetof(Scanner, duplicates), READONLY,
     "entries removed so far as duplicates of another entry of the file"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gearshift.ingest._scan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = PyDoc_STR("Per-file state of the native transcript parser."),
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_traverse = (traverseproc)Scanner_traverse,
    .tp_clear = (inquiry)Scanner_clear,
    .tp_methods = Scanner_methods,
    .tp_members = Scanner_members,
};

/* ------------------------------------------------------------------------------------------ */
/* Module functions for tests                                                                   */

static PyObject *mod_fast_path(PyObject *mod, PyObject *arg)
{
    Py_buffer view;
    Ctx c;
    Line l;
    int ok;
    (void)mod;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    memset(&c, 0, sizeof(c));
    c.base = c.p = (const unsigned char *)view.buf;
    c.e = c.base + view.len;
    line_init(&l, 0);
    ok = memchr(view.buf, '\n', (size_t)view.len) == NULL && parse_line(&c, &l) == 0 && !c.oom;
    PyMem_RawFree(c.pairs);
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

static PyObject *mod_parse_timestamp(PyObject *mod, PyObject *arg)
{
    Py_buffer view;
    long long us;
    int rc;
    (void)mod;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    rc = parse_ts((const unsigned char *)view.buf, view.len, &us);
    PyBuffer_Release(&view);
    if (rc)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(us);
}

static PyMethodDef module_methods[] = {
    {"fast_path", mod_fast_path, METH_O,
     PyDoc_STR("fast_path(line) -> bool: whether the native parser decodes this line itself.")},
    {"parse_timestamp", mod_parse_timestamp, METH_O,
     PyDoc_STR("parse_timestamp(text) -> int | None: microseconds since the epoch of a canonical "
               "UTC timestamp, None for any other form.")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT, "_scan",
    PyDoc_STR("Native fast path of gearshift.ingest.parse (see parse.py)."), -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void)
{
    PyObject *m;
    if (PyType_Ready(&ScannerType) < 0)
        return NULL;
#ifdef HAVE_AVX2_TARGET
    __builtin_cpu_init();
    g_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
#endif
    if (!s_unknown) {
        s_unknown = PyUnicode_InternFromString("unknown");
        s_empty = PyUnicode_InternFromString("");
        s_no_id = PyUnicode_InternFromString("usage line without message.id or timestamp");
        s_range = PyUnicode_InternFromString("a token count out of range");
        if (!s_unknown || !s_empty || !s_no_id || !s_range)
            return NULL;
    }
    m = PyModule_Create(&scan_module);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "Scanner", (PyObject *)&ScannerType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_DEPTH", MAX_DEPTH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
