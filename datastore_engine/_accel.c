/* Optional compiled accelerator: the hottest per-document steps of a write.
 *
 * 1. plain_json: the common case of document validation (below).
 * 2. first_revisions: the records, feed entries and revision ids of a chunk of
 *    new documents (changes.first_revisions; the same bytes as the Python loop),
 *    and first_revision, the same for one document (the single-insert lane).
 * 3. unpack_tail: the entries of a store's feed tail (engine.unpack_tail), read
 *    each time the tail moves into the feed tree and when the feed is listed.
 * 4. string_eq: the filter of an indexed lookup (``email eq "a@b.c"``) split
 *    into path and literal without the regex (query.scim.string_eq), the first
 *    step of every find() with a text filter.
 *
 * plain_json(value, max_depth) answers one question: is ``value`` made only
 * of exact ``dict`` (with exact ``str`` keys), exact ``list``, exact ``str``,
 * ``bool``, ``None``, exact ``int`` in signed 64 bits and exact finite
 * ``float``, nested no deeper than ``max_depth``?  True means the value is
 * storable JSON, exactly as codec._check would accept it.  False means "not
 * sure": the value may hold subclasses (which codec._check accepts) or may be
 * invalid; the caller then runs the pure-Python check, which decides and words
 * the error.  So this module never raises a validation error of its own and
 * the messages users see come from one place.
 *
 * plain_json runs no Python code (no __hash__, __eq__ or __index__ of user
 * types: only exact built-in types are looked into), so the containers cannot
 * change while they are walked.  Recursion is bounded by HARD_DEPTH whatever
 * max_depth says; deeper values answer False and go to the Python check.
 *
 * Measured on this project's bench document (~0.8 KB, 20-odd fields):
 * codec._check ~3 us, this ~0.3 us; first_revisions ~1.0 us a document against
 * ~2.1 us for the Python loop, most of it SHA-256 itself (docs/performance.md).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define HARD_DEPTH 512

static int
plain(PyObject *v, long depth, long max_depth)
{
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyUnicode_Type || v == Py_None || t == &PyBool_Type) {
        return 1;
    }
    if (t == &PyLong_Type) {
        int overflow = 0;
        (void)PyLong_AsLongLongAndOverflow(v, &overflow);
        return overflow == 0;
    }
    if (t == &PyFloat_Type) {
        return isfinite(PyFloat_AS_DOUBLE(v)) ? 1 : 0;
    }
    if (t == &PyDict_Type) {
        if (depth >= max_depth) {
            return 0;
        }
        Py_ssize_t pos = 0;
        PyObject *key, *item;
        while (PyDict_Next(v, &pos, &key, &item)) {
            if (Py_TYPE(key) != &PyUnicode_Type || !plain(item, depth + 1, max_depth)) {
                return 0;
            }
        }
        return 1;
    }
    if (t == &PyList_Type) {
        if (depth >= max_depth) {
            return 0;
        }
        Py_ssize_t n = PyList_GET_SIZE(v);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!plain(PyList_GET_ITEM(v, i), depth + 1, max_depth)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

static PyObject *
plain_json(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "plain_json() takes 2 arguments (value, max_depth), got %zd", nargs);
        return NULL;
    }
    long max_depth = PyLong_AsLong(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max_depth > HARD_DEPTH) {
        max_depth = HARD_DEPTH;  /* deeper values answer False: the Python check decides */
    }
    if (plain(args[0], 0, max_depth)) {
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

/* first_revisions(sha, prefix, seq, chunk, /) -> (records, entries, revs)
 *
 * For item i of ``chunk`` (tuples whose item 1 is the id's bytes and item 3
 * the encoded body), sequence ``seq + i``:
 *   digest  = sha.copy().update(body).digest()[:16]   (``sha`` holds the prefix)
 *   record  = 00 | 00000001 | seq (8, big-endian) | 0001 | digest | body
 *   records[i] = (prefix + id, record)
 *   entries[i] = (prefix + seq, 00 | 00000001 | digest | id)
 *   revs[i]    = "1-" + hex(digest)
 * exactly what changes.first_revisions builds in Python (tests/test_accel.py
 * compares the two).  The digest is SHA-256 over 00 + body: from OpenSSL's EVP
 * functions when use_openssl() bound them, else through ``sha``'s methods.
 */
#define DIGEST 16
#define RECORD_FIXED 15  /* flags(1) + generation(4) + seq(8) + history count(2) */

static PyObject *str_copy, *str_update, *str_digest;

/* SHA-256 straight from the OpenSSL that Python's own _hashlib module loaded,
 * bound by use_openssl(): no hashlib object, no context copies per document.
 * Unbound (no dlopen, another library, a failed self-test), the digest goes
 * through the hashlib object's methods instead.  The GIL is held throughout,
 * so one context serves every call.
 */
typedef void *(*ctx_new_fn)(void);
typedef int (*init_fn)(void *, const void *, void *);
typedef int (*update_fn)(void *, const void *, size_t);
typedef int (*final_fn)(void *, unsigned char *, unsigned int *);
typedef const void *(*md_fn)(void);
typedef const void *(*fetch_fn)(void *, const char *, const char *);
typedef void (*free_fn)(void *);
static struct {
    void *ctx;        /* NULL: not bound, hash through the hashlib object */
    const void *md;
    const void *fetched;  /* md when it came from EVP_MD_fetch (freed with md_free) */
    init_fn init;
    update_fn update;
    final_fn final;
    free_fn ctx_free;
    free_fn md_free;
} evp;

static void
evp_unbind(void)
{
    if (evp.ctx != NULL && evp.ctx_free != NULL) {
        evp.ctx_free(evp.ctx);
    }
    if (evp.fetched != NULL && evp.md_free != NULL) {
        evp.md_free((void *)evp.fetched);
    }
    evp.ctx = NULL;
    evp.fetched = NULL;
}

static int
evp_first_digest(const char *body, Py_ssize_t n, unsigned char *out)
{
    static const unsigned char flag = 0;  /* no parent, not deleted */
    unsigned char full[64];
    unsigned int len = 0;
    if (!evp.init(evp.ctx, evp.md, NULL) || !evp.update(evp.ctx, &flag, 1)
        || !evp.update(evp.ctx, body, (size_t)n) || !evp.final(evp.ctx, full, &len) || len < DIGEST) {
        PyErr_SetString(PyExc_RuntimeError, "first_revisions(): OpenSSL's SHA-256 failed");
        return -1;
    }
    memcpy(out, full, DIGEST);
    return 0;
}

static void
put_be64(unsigned char *out, unsigned long long v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static int
one_digest(PyObject *sha, PyObject *body, unsigned char *out)
{
    PyObject *h = PyObject_CallMethodNoArgs(sha, str_copy);
    if (h == NULL) {
        return -1;
    }
    PyObject *r = PyObject_CallMethodOneArg(h, str_update, body);
    if (r == NULL) {
        Py_DECREF(h);
        return -1;
    }
    Py_DECREF(r);
    PyObject *d = PyObject_CallMethodNoArgs(h, str_digest);
    Py_DECREF(h);
    if (d == NULL) {
        return -1;
    }
    if (!PyBytes_CheckExact(d) || PyBytes_GET_SIZE(d) < DIGEST) {
        Py_DECREF(d);
        PyErr_SetString(PyExc_TypeError, "first_revisions(): sha.digest() did not give 16 bytes or more");
        return -1;
    }
    memcpy(out, PyBytes_AS_STRING(d), DIGEST);
    Py_DECREF(d);
    return 0;
}

static PyObject *
pair(PyObject *a, PyObject *b)  /* steals both references */
{
    if (a == NULL || b == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        return NULL;
    }
    PyObject *t = PyTuple_New(2);
    if (t == NULL) {
        Py_DECREF(a);
        Py_DECREF(b);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);
    return t;
}

static PyObject *
joined(const char *a, Py_ssize_t na, const char *b, Py_ssize_t nb)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, na + nb);
    if (out != NULL) {
        memcpy(PyBytes_AS_STRING(out), a, (size_t)na);
        memcpy(PyBytes_AS_STRING(out) + na, b, (size_t)nb);
    }
    return out;
}

/* One new document's record, feed entry and revision id (new references in
 * *record, *entry, *rev), for sequence bytes seq_b; -1 with an exception set
 * and nothing allocated if the digest or an allocation fails.
 */
static int
first_parts(PyObject *sha, PyObject *rid, PyObject *body, const unsigned char *seq_b,
            PyObject **record, PyObject **entry, PyObject **rev)
{
    static const char hexdigits[] = "0123456789abcdef";
    unsigned char dig[DIGEST];
    *record = *entry = *rev = NULL;
    Py_INCREF(rid);  /* alive whatever the hashlib fallback's calls do */
    Py_INCREF(body);
    int rc = -1;
    if ((evp.ctx != NULL ? evp_first_digest(PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body), dig)
                         : one_digest(sha, body, dig)) != 0) {
        goto done;
    }
    Py_ssize_t nbody = PyBytes_GET_SIZE(body), nrid = PyBytes_GET_SIZE(rid);
    *record = PyBytes_FromStringAndSize(NULL, RECORD_FIXED + DIGEST + nbody);
    *entry = PyBytes_FromStringAndSize(NULL, 5 + DIGEST + nrid);
    if (*record == NULL || *entry == NULL) {
        goto done;
    }
    unsigned char *r = (unsigned char *)PyBytes_AS_STRING(*record);
    r[0] = 0;
    r[1] = 0; r[2] = 0; r[3] = 0; r[4] = 1;  /* generation 1 */
    memcpy(r + 5, seq_b, 8);
    r[13] = 0; r[14] = 1;  /* one history digest */
    memcpy(r + RECORD_FIXED, dig, DIGEST);
    memcpy(r + RECORD_FIXED + DIGEST, PyBytes_AS_STRING(body), (size_t)nbody);
    unsigned char *e = (unsigned char *)PyBytes_AS_STRING(*entry);
    e[0] = 0;
    e[1] = 0; e[2] = 0; e[3] = 0; e[4] = 1;
    memcpy(e + 5, dig, DIGEST);
    memcpy(e + 5 + DIGEST, PyBytes_AS_STRING(rid), (size_t)nrid);
    char text[2 + 2 * DIGEST];
    text[0] = '1';
    text[1] = '-';
    for (int k = 0; k < DIGEST; k++) {
        text[2 + 2 * k] = hexdigits[dig[k] >> 4];
        text[3 + 2 * k] = hexdigits[dig[k] & 0xf];
    }
    *rev = PyUnicode_FromStringAndSize(text, (Py_ssize_t)sizeof(text));
    if (*rev != NULL) {
        rc = 0;
    }
done:
    if (rc != 0) {
        Py_CLEAR(*record);
        Py_CLEAR(*entry);
        Py_CLEAR(*rev);
    }
    Py_DECREF(rid);
    Py_DECREF(body);
    return rc;
}

static PyObject *
first_revisions(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "first_revisions() takes 4 arguments (sha, prefix, seq, chunk), got %zd", nargs);
        return NULL;
    }
    PyObject *sha = args[0], *prefix = args[1], *chunk = args[3];
    if (!PyBytes_CheckExact(prefix) || !PyList_CheckExact(chunk)) {
        PyErr_SetString(PyExc_TypeError, "first_revisions(): prefix must be bytes and chunk a list");
        return NULL;
    }
    unsigned long long seq = PyLong_AsUnsignedLongLong(args[2]);
    if (seq == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(chunk);
    if (n > 0 && seq + (unsigned long long)(n - 1) < seq) {
        PyErr_SetString(PyExc_OverflowError, "first_revisions(): sequence numbers pass 2**64");
        return NULL;
    }
    const char *pre = PyBytes_AS_STRING(prefix);
    Py_ssize_t npre = PyBytes_GET_SIZE(prefix);
    PyObject *records = PyList_New(n), *entries = PyList_New(n), *revs = PyList_New(n);
    if (records == NULL || entries == NULL || revs == NULL) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i >= PyList_GET_SIZE(chunk)) {  /* only if sha's methods ran code that shrank it */
            PyErr_SetString(PyExc_RuntimeError, "first_revisions(): chunk changed size");
            goto fail;
        }
        PyObject *item = PyList_GET_ITEM(chunk, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) < 4
            || !PyBytes_CheckExact(PyTuple_GET_ITEM(item, 1))
            || !PyBytes_CheckExact(PyTuple_GET_ITEM(item, 3))) {
            PyErr_Format(PyExc_TypeError, "first_revisions(): chunk item %zd is not a (rid, id bytes, doc, body bytes) tuple", i);
            goto fail;
        }
        PyObject *rid = PyTuple_GET_ITEM(item, 1), *body = PyTuple_GET_ITEM(item, 3);
        unsigned char seq_b[8];
        put_be64(seq_b, seq + (unsigned long long)i);
        Py_INCREF(item);  /* keeps rid alive for its key below, whatever the digest's calls do */
        PyObject *record, *entry, *rev_s;
        if (first_parts(sha, rid, body, seq_b, &record, &entry, &rev_s) != 0) {
            Py_DECREF(item);
            goto fail;
        }
        PyObject *rec_pair = pair(joined(pre, npre, PyBytes_AS_STRING(rid), PyBytes_GET_SIZE(rid)), record);
        Py_DECREF(item);
        PyObject *feed_pair = pair(joined(pre, npre, (const char *)seq_b, 8), entry);
        if (rec_pair == NULL || feed_pair == NULL) {
            Py_XDECREF(rec_pair);
            Py_XDECREF(feed_pair);
            Py_DECREF(rev_s);
            goto fail;
        }
        PyList_SET_ITEM(records, i, rec_pair);
        PyList_SET_ITEM(entries, i, feed_pair);
        PyList_SET_ITEM(revs, i, rev_s);
    }
    PyObject *out = PyTuple_Pack(3, records, entries, revs);
    Py_DECREF(records);
    Py_DECREF(entries);
    Py_DECREF(revs);
    return out;
fail:
    /* PyList_New fills with NULL and list_dealloc skips NULL slots */
    Py_XDECREF(records);
    Py_XDECREF(entries);
    Py_XDECREF(revs);
    return NULL;
}

/* first_revision(sha, prefix, seq, rid, body, /) -> (record, feed key, entry, rev)
 *
 * One document of first_revisions, without its lists and pairs: the fast lane
 * of a single insert (Store._insert_alone).  The same bytes as
 * changes.first_revision (tests/test_accel.py compares the two).
 */
static PyObject *
first_revision(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "first_revision() takes 5 arguments (sha, prefix, seq, rid, body), got %zd", nargs);
        return NULL;
    }
    PyObject *sha = args[0], *prefix = args[1], *rid = args[3], *body = args[4];
    if (!PyBytes_CheckExact(prefix) || !PyBytes_CheckExact(rid) || !PyBytes_CheckExact(body)) {
        PyErr_SetString(PyExc_TypeError, "first_revision(): prefix, rid and body must be bytes");
        return NULL;
    }
    unsigned long long seq = PyLong_AsUnsignedLongLong(args[2]);
    if (seq == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    unsigned char seq_b[8];
    put_be64(seq_b, seq);
    PyObject *record, *entry, *rev_s;
    if (first_parts(sha, rid, body, seq_b, &record, &entry, &rev_s) != 0) {
        return NULL;
    }
    PyObject *out = NULL, *key = joined(PyBytes_AS_STRING(prefix), PyBytes_GET_SIZE(prefix), (const char *)seq_b, 8);
    if (key != NULL) {
        out = PyTuple_Pack(4, record, key, entry, rev_s);
        Py_DECREF(key);
    }
    Py_DECREF(record);
    Py_DECREF(entry);
    Py_DECREF(rev_s);
    return out;
}

/* unpack_tail(sid, tail): the (feed key, entry) pairs of a store's feed tail,
 * as engine.unpack_tail gives them (each entry: 8-byte sequence, 2-byte big-endian
 * length, the entry's bytes; the key is sid + sequence).  ValueError, with the
 * same words, when the tail is cut short.  The tail may be any contiguous
 * buffer (the engine passes bytes).  27 entries of a 1 KiB tail: ~36 us
 * in the Python loop, every ~27th insert of the single-insert lane. */
static PyObject *
unpack_tail(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "unpack_tail(sid, tail) takes 2 arguments");
        return NULL;
    }
    Py_buffer sid, tail;
    if (PyObject_GetBuffer(args[0], &sid, PyBUF_SIMPLE) != 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &tail, PyBUF_SIMPLE) != 0) {
        PyBuffer_Release(&sid);
        return NULL;
    }
    PyObject *out = PyList_New(0);
    const unsigned char *t = (const unsigned char *)tail.buf;
    Py_ssize_t at = 0, end = tail.len;
    while (out != NULL && at < end) {
        if (at + 10 > end) {
            PyErr_Format(PyExc_ValueError, "feed tail cut short at byte %zd of %zd", at, end);
            Py_CLEAR(out);
            break;
        }
        Py_ssize_t size = ((Py_ssize_t)t[at + 8] << 8) | t[at + 9];
        if (at + 10 + size > end) {
            PyErr_Format(PyExc_ValueError, "feed tail entry of %zd bytes cut short at byte %zd of %zd", size, at, end);
            Py_CLEAR(out);
            break;
        }
        PyObject *item = pair(joined((const char *)sid.buf, sid.len, (const char *)t + at, 8),
                              PyBytes_FromStringAndSize((const char *)t + at + 10, size));
        if (item == NULL || PyList_Append(out, item) != 0) {
            Py_XDECREF(item);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(item);
        at += 10 + size;
    }
    PyBuffer_Release(&tail);
    PyBuffer_Release(&sid);
    return out;
}

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>

static PyObject *
use_openssl(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyUnicode_Check(args[0]) || !PyBytes_CheckExact(args[1]) || !PyBytes_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "use_openssl(library path, probe body, expected digest) takes a str and two bytes");
        return NULL;
    }
    evp_unbind();
    const char *path = PyUnicode_AsUTF8(args[0]);
    if (path == NULL) {
        return NULL;
    }
    /* RTLD_NOLOAD: only a library this process has loaded already; dlsym on its
     * handle also searches what it depends on (libcrypto for _hashlib). */
    void *lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (lib == NULL) {
        Py_RETURN_FALSE;
    }
    ctx_new_fn ctx_new = (ctx_new_fn)dlsym(lib, "EVP_MD_CTX_new");
    md_fn sha256 = (md_fn)dlsym(lib, "EVP_sha256");
    fetch_fn fetch = (fetch_fn)dlsym(lib, "EVP_MD_fetch");  /* OpenSSL 3: fetched once, not per init */
    evp.init = (init_fn)dlsym(lib, "EVP_DigestInit_ex");
    evp.update = (update_fn)dlsym(lib, "EVP_DigestUpdate");
    evp.final = (final_fn)dlsym(lib, "EVP_DigestFinal_ex");
    evp.ctx_free = (free_fn)dlsym(lib, "EVP_MD_CTX_free");
    evp.md_free = (free_fn)dlsym(lib, "EVP_MD_free");  /* OpenSSL 3, with EVP_MD_fetch */
    if (ctx_new == NULL || sha256 == NULL || evp.init == NULL || evp.update == NULL || evp.final == NULL
        || evp.ctx_free == NULL) {
        Py_RETURN_FALSE;
    }
    evp.fetched = fetch != NULL && evp.md_free != NULL ? fetch(NULL, "SHA256", NULL) : NULL;
    evp.md = evp.fetched != NULL ? evp.fetched : sha256();
    evp.ctx = evp.md != NULL ? ctx_new() : NULL;
    if (evp.ctx == NULL) {
        evp_unbind();
        Py_RETURN_FALSE;
    }
    /* Known answer: the probe's digest must be the one hashlib gave. */
    unsigned char dig[DIGEST];
    if (evp_first_digest(PyBytes_AS_STRING(args[1]), PyBytes_GET_SIZE(args[1]), dig) != 0) {
        PyErr_Clear();
        evp_unbind();
        Py_RETURN_FALSE;
    }
    if (PyBytes_GET_SIZE(args[2]) < DIGEST || memcmp(dig, PyBytes_AS_STRING(args[2]), DIGEST) != 0) {
        evp_unbind();
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}
#else
static PyObject *
use_openssl(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    (void)args;
    (void)nargs;
    Py_RETURN_FALSE;
}
#endif

static PyObject *
drop_openssl(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    evp_unbind();
    Py_RETURN_NONE;
}

/* string_eq(text, max_length): (dotted path, literal) when text is whole
 * ``path eq "literal"`` as query.scim.string_eq reads it, else None.
 *
 * The same language as scim._STRING_EQ_RE with fullmatch:
 *     \s* NAME(.NAME)* \s+ [eE][qQ] \s+ " [^"\\\x00-\x1f]* " \s*
 * where NAME is [A-Za-z0-9_$][A-Za-z0-9_$-]* and \s is what the regex takes
 * as white space in a str pattern (Py_UNICODE_ISSPACE); and, as there, None
 * for a text longer than max_length or a path whose first name is and / or /
 * not (the parser reads those as keywords). No backtracking is needed: a
 * name cannot hold white space, a dot or a quote, nor the literal a quote, so
 * each part ends at the first character that cannot continue it.
 * ~0.6 us in Python (regex, groups, checks), ~0.1 us here.
 */
static int
name_start(Py_UCS4 c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

static int
reserved_first(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    static const char *words[] = {"and", "or", "not"};
    Py_ssize_t len = end - start;
    for (Py_ssize_t i = start; i < end; i++) {
        if (PyUnicode_READ(kind, data, i) == '.') {
            len = i - start;
            break;
        }
    }
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        if ((Py_ssize_t)strlen(words[w]) != len) {
            continue;
        }
        Py_ssize_t i = 0;
        while (i < len) {
            Py_UCS4 c = PyUnicode_READ(kind, data, start + i);
            if (c >= 'A' && c <= 'Z') {
                c += 'a' - 'A';
            }
            if (c != (Py_UCS4)(unsigned char)words[w][i]) {
                break;
            }
            i++;
        }
        if (i == len) {
            return 1;
        }
    }
    return 0;
}

static PyObject *
string_eq(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "string_eq(text, max_length) takes a str and an int");
        return NULL;
    }
    PyObject *text = args[0];
    Py_ssize_t max_length = PyLong_AsSsize_t(args[1]);
    if (max_length == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n > max_length) {
        Py_RETURN_NONE;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t i = 0;
#define AT(k) PyUnicode_READ(kind, data, (k))
    while (i < n && Py_UNICODE_ISSPACE(AT(i))) {
        i++;
    }
    Py_ssize_t path_start = i;
    for (;;) { /* one NAME, then on to the next after a dot */
        if (i >= n || !name_start(AT(i))) {
            Py_RETURN_NONE;
        }
        i++;
        while (i < n && (name_start(AT(i)) || AT(i) == '-')) {
            i++;
        }
        if (i + 1 < n && AT(i) == '.' && name_start(AT(i + 1))) {
            i++;
            continue;
        }
        break;
    }
    Py_ssize_t path_end = i;
    if (i >= n || !Py_UNICODE_ISSPACE(AT(i))) {
        Py_RETURN_NONE;
    }
    while (i < n && Py_UNICODE_ISSPACE(AT(i))) {
        i++;
    }
    if (i + 1 >= n || (AT(i) != 'e' && AT(i) != 'E') || (AT(i + 1) != 'q' && AT(i + 1) != 'Q')) {
        Py_RETURN_NONE;
    }
    i += 2;
    if (i >= n || !Py_UNICODE_ISSPACE(AT(i))) {
        Py_RETURN_NONE;
    }
    while (i < n && Py_UNICODE_ISSPACE(AT(i))) {
        i++;
    }
    if (i >= n || AT(i) != '"') {
        Py_RETURN_NONE;
    }
    Py_ssize_t literal_start = ++i;
    for (;;) {
        if (i >= n) {
            Py_RETURN_NONE; /* no closing quote */
        }
        Py_UCS4 c = AT(i);
        if (c == '"') {
            break;
        }
        if (c == '\\' || c < 0x20) {
            Py_RETURN_NONE;
        }
        i++;
    }
    Py_ssize_t literal_end = i++;
    while (i < n && Py_UNICODE_ISSPACE(AT(i))) {
        i++;
    }
    if (i != n || reserved_first(kind, data, path_start, path_end)) {
        Py_RETURN_NONE;
    }
#undef AT
    PyObject *path = PyUnicode_Substring(text, path_start, path_end);
    PyObject *literal = path == NULL ? NULL : PyUnicode_Substring(text, literal_start, literal_end);
    if (literal == NULL) {
        Py_XDECREF(path);
        return NULL;
    }
    PyObject *out = PyTuple_Pack(2, path, literal);
    Py_DECREF(path);
    Py_DECREF(literal);
    return out;
}

static PyMethodDef methods[] = {
    {"plain_json", (PyCFunction)(void (*)(void))plain_json, METH_FASTCALL,
     "plain_json(value, max_depth, /) -> bool\n\n"
     "True if value is storable JSON made only of exact built-in types;\n"
     "False if not, or not sure (the pure-Python check decides)."},
    {"first_revisions", (PyCFunction)(void (*)(void))first_revisions, METH_FASTCALL,
     "first_revisions(sha, prefix, seq, chunk, /) -> (records, entries, revs)\n\n"
     "The records, feed entries and revision ids of new documents (see changes.py)."},
    {"first_revision", (PyCFunction)(void (*)(void))first_revision, METH_FASTCALL,
     "first_revision(sha, prefix, seq, rid, body, /) -> (record, feed key, entry, rev)\n\n"
     "One new document's record, feed entry and revision id (see changes.py)."},
    {"unpack_tail", (PyCFunction)(void (*)(void))unpack_tail, METH_FASTCALL,
     "unpack_tail(sid, tail, /) -> [(feed key, entry), ...]\n\n"
     "The entries of a store's feed tail (see engine.unpack_tail); ValueError if cut short."},
    {"string_eq", (PyCFunction)(void (*)(void))string_eq, METH_FASTCALL,
     "string_eq(text, max_length, /) -> (path, literal) or None\n\n"
     "The path and literal of a whole `path eq \"literal\"` filter (see query.scim.string_eq)."},
    {"use_openssl", (PyCFunction)(void (*)(void))use_openssl, METH_FASTCALL,
     "use_openssl(library, probe, expected, /) -> bool\n\n"
     "Hash first revisions with the EVP functions of an already loaded library\n"
     "(Python's _hashlib) if its SHA-256 of 00 + probe starts with expected."},
    {"drop_openssl", drop_openssl, METH_NOARGS,
     "drop_openssl() -> None\n\nHash through the hashlib object again (tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "datastore_engine._accel",
    "Optional compiled fast paths (see codec.py, changes.py, engine.py and find.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__accel(void)
{
    str_copy = PyUnicode_InternFromString("copy");
    str_update = PyUnicode_InternFromString("update");
    str_digest = PyUnicode_InternFromString("digest");
    if (str_copy == NULL || str_update == NULL || str_digest == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
