/* Python bindings of the ecgedge preprocessing kernel (module ecgedge._kernel).
 *
 * Arrays cross the boundary through the buffer protocol only (no NumPy C-API, no torch): every
 * argument must be C-contiguous with the exact item type named below, and outputs are buffers the
 * caller allocated. The GIL is released while the kernel runs. This module is private: the
 * checks a user needs (shapes, stability, rates) are made, with messages, in ecgedge/dsp.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "ecgedge_dsp.h"
#include "ecgedge_quality.h"
#include "ecgedge_wfdb.h"

#if !defined(_WIN32)
#include <pthread.h>
#define EE_THREADS 1
#else
#define EE_THREADS 0
#endif

/* ----------------------------------------------------------------------------- buffer helpers -- */
static char fmt_code(const Py_buffer *v) {
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++;
    if (f[0] && f[1]) return '?';
    /* 'l' is a 64-bit or 32-bit long depending on the platform; normalise by item size */
    if (*f == 'l' && v->itemsize == 4) return 'i';
    if (*f == 'l' && v->itemsize == 8) return 'q';
    return *f;
}

static int get(PyObject *obj, Py_buffer *v, char want, int writable, const char *name) {
    memset(v, 0, sizeof(*v));
    if (obj == NULL || obj == Py_None) return 0;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;
    if (writable) flags |= PyBUF_WRITABLE;
    if (PyObject_GetBuffer(obj, v, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s must be a %sC-contiguous buffer", name, writable ? "writable " : "");
        return -1;
    }
    const char c = fmt_code(v);
    if (want != '*' && c != want) {
        PyErr_Format(PyExc_TypeError, "%s has item type '%s', expected '%c'", name, v->format ? v->format : "B",
                     want);
        PyBuffer_Release(v);
        memset(v, 0, sizeof(*v));
        return -1;
    }
    return 0;
}

static void release(Py_buffer *v) {
    if (v->obj) PyBuffer_Release(v);
}

static PyObject *raise_rc(int rc, const ee_err *err) {
    switch (rc) {
    case EE_ENOMEM:
        return PyErr_NoMemory();
    case EE_ETOOSHORT:
        PyErr_SetString(PyExc_ValueError, "record too short for the filter's edge padding");
        return NULL;
    case EE_ENONFINITE:
        PyErr_Format(PyExc_FloatingPointError, "non-finite sample: lead %d, sample %zd, run %zd", err->lead,
                     err->sample, err->length);
        return NULL;
    case EE_EGAP:
        PyErr_Format(PyExc_FloatingPointError, "gap too long to interpolate: lead %d, sample %zd, run %zd",
                     err->lead, err->sample, err->length);
        return NULL;
    default:
        PyErr_SetString(PyExc_ValueError, "invalid kernel argument");
        return NULL;
    }
}

static int dtype_of(char c) {
    switch (c) {
    case 'h': return EE_I16;
    case 'i': return EE_I32;
    case 'f': return EE_F32;
    case 'd': return EE_F64;
    default: return -1;
    }
}

/* ----------------------------------------------------------------------------------- the plan -- */
typedef struct {
    ee_plan plan;
    Py_buffer gather, gain, baseline, sos, h;
} plan_args;

static void plan_release(plan_args *a) {
    release(&a->gather);
    release(&a->gain);
    release(&a->baseline);
    release(&a->sos);
    release(&a->h);
}

/* Fill a plan from keyword arguments shared by run() and run_batch(). */
static int plan_from(plan_args *a, int L, PyObject *gather, PyObject *gain, PyObject *baseline, PyObject *invalid,
                     int nan_policy, Py_ssize_t max_gap, int filter_first, int k1, int k2, PyObject *sos,
                     int zero_phase, PyObject *h, int up, int down, Py_ssize_t pre_remove, int norm,
                     Py_ssize_t window, Py_ssize_t stride, int cover_tail, int pad) {
    memset(a, 0, sizeof(*a));
    ee_plan *p = &a->plan;
    p->L = L;
    if (get(gather, &a->gather, 'i', 0, "gather") || get(gain, &a->gain, 'd', 0, "gain") ||
        get(baseline, &a->baseline, 'd', 0, "baseline") || get(sos, &a->sos, 'd', 0, "sos") ||
        get(h, &a->h, 'd', 0, "h"))
        goto fail;
    if ((a->gather.obj && a->gather.len / 4 != L) || (a->gain.obj && a->gain.len / 8 != L) ||
        (a->baseline.obj && a->baseline.len / 8 != L)) {
        PyErr_SetString(PyExc_ValueError, "gather/gain/baseline must have one entry per lead");
        goto fail;
    }
    if (a->sos.obj && (a->sos.len / 8) % 6) {
        PyErr_SetString(PyExc_ValueError, "sos must have 6 coefficients per section");
        goto fail;
    }
    p->gather = a->gather.obj ? (const int32_t *)a->gather.buf : NULL;
    p->gain = a->gain.obj ? (const double *)a->gain.buf : NULL;
    p->baseline = a->baseline.obj ? (const double *)a->baseline.buf : NULL;
    if (invalid && invalid != Py_None) {
        p->has_invalid = 1;
        p->invalid = PyLong_AsLongLong(invalid);
        if (PyErr_Occurred()) goto fail;
    }
    p->nan_policy = nan_policy;
    p->max_gap = max_gap;
    p->filter_first = filter_first;
    p->k1 = k1;
    p->k2 = k2;
    p->sos = a->sos.obj ? (const double *)a->sos.buf : NULL;
    p->n_sections = a->sos.obj ? (int)(a->sos.len / 48) : 0;
    if (p->sos && p->n_sections == 0) p->sos = NULL;
    p->zero_phase = zero_phase;
    p->h = a->h.obj ? (const double *)a->h.buf : NULL;
    p->H = a->h.obj ? a->h.len / 8 : 0;
    if (p->h && (up < 1 || down < 1 || p->H < 1)) {
        PyErr_SetString(PyExc_ValueError, "resampling needs up, down >= 1 and a non-empty filter");
        goto fail;
    }
    p->up = up;
    p->down = down;
    p->pre_remove = pre_remove;
    p->norm = norm;
    p->window = window;
    p->stride = stride;
    p->cover_tail = cover_tail;
    p->pad = pad;
    if (window > 0 && stride < 1) {
        PyErr_SetString(PyExc_ValueError, "stride must be >= 1");
        goto fail;
    }
    if ((k1 > 0 && !(k1 & 1)) || (k2 > 0 && !(k2 & 1))) {
        PyErr_SetString(PyExc_ValueError, "median widths must be odd");
        goto fail;
    }
    return 0;
fail:
    plan_release(a);
    return -1;
}

/* Every lead the plan gathers must be a channel of the source. */
static int check_channels(const ee_plan *p, Py_ssize_t C) {
    if (p->gather) {
        for (int l = 0; l < p->L; l++)
            if (p->gather[l] < 0 || p->gather[l] >= C) {
                PyErr_Format(PyExc_IndexError, "gather[%d] = %d is not a channel of a %zd-channel source", l,
                             p->gather[l], C);
                return -1;
            }
    } else if (C < p->L) {
        PyErr_SetString(PyExc_ValueError, "source has fewer channels than n_leads");
        return -1;
    }
    return 0;
}

#define PLAN_KW                                                                                                  \
    "gather", "gain", "baseline", "invalid", "nan_policy", "max_gap", "filter_first", "k1", "k2", "sos",          \
        "zero_phase", "h", "up", "down", "pre_remove", "norm", "window", "stride", "cover_tail", "pad"
#define PLAN_FMT "|$OOOOinpiiOpOiininnpi"
#define PLAN_REFS                                                                                                \
    &gather, &gain, &baseline, &invalid, &nan_policy, &max_gap, &filter_first, &k1, &k2, &sos, &zero_phase, &h, \
        &up, &down, &pre_remove, &norm, &window, &stride, &cover_tail, &pad
#define PLAN_DECL                                                                                                \
    PyObject *gather = NULL, *gain = NULL, *baseline = NULL, *invalid = NULL, *sos = NULL, *h = NULL;          \
    int nan_policy = 0, filter_first = 0, k1 = 0, k2 = 0, zero_phase = 1, up = 1, down = 1, norm = 0,          \
        cover_tail = 1, pad = 0;                                                                                 \
    Py_ssize_t max_gap = 0, pre_remove = 0, window = 0, stride = 1
#define PLAN_ARGS                                                                                                \
    gather, gain, baseline, invalid, nan_policy, max_gap, filter_first, k1, k2, sos, zero_phase, h, up, down,   \
        pre_remove, norm, window, stride, cover_tail, pad

/* One cached workspace for single-record calls, taken with a try-lock so that concurrent callers
 * (the GIL is released while the kernel runs) fall back to a private one instead of waiting. */
#if EE_THREADS
static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
#endif
static ee_work shared_work;

/* run(src, layout, n_leads, out, flags, **plan, starts=None) -> samples per lead after resampling.
 * starts: an int64 buffer, one per window, given the first sample (at the output rate) of each window cut. */
static PyObject *py_run(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"src", "layout", "n_leads", "out", "flags", PLAN_KW, "starts", NULL};
    PyObject *src_o, *out_o, *flags_o, *starts_o = NULL;
    int layout, L;
    PLAN_DECL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OiiOO" PLAN_FMT "O", kwlist, &src_o, &layout, &L, &out_o, &flags_o,
                                     PLAN_REFS, &starts_o))
        return NULL;
    if (L < 1) {
        PyErr_SetString(PyExc_ValueError, "n_leads must be >= 1");
        return NULL;
    }
    plan_args a;
    if (plan_from(&a, L, PLAN_ARGS)) return NULL;
    Py_buffer src, out, fl;
    PyObject *result = NULL;
    if (get(src_o, &src, '*', 0, "src")) goto end0;
    if (get(out_o, &out, 'f', 1, "out")) goto end1;
    if (get(flags_o, &fl, 'B', 1, "flags")) goto end2;
    Py_buffer st;
    if (get(starts_o, &st, 'q', 1, "starts")) goto end3;
    const int dt = dtype_of(fmt_code(&src));
    if (dt < 0 || src.ndim != 2) {
        PyErr_SetString(PyExc_TypeError, "src must be a 2-D int16, int32, float32 or float64 array");
        goto end4;
    }
    if (fl.len < L) {
        PyErr_SetString(PyExc_ValueError, "flags must have one byte per lead");
        goto end4;
    }
    const Py_ssize_t rows = src.shape[0], cols = src.shape[1];
    const Py_ssize_t n = layout == 0 ? rows : cols, C = layout == 0 ? cols : rows;
    const Py_ssize_t s_t = layout == 0 ? C : 1, s_c = layout == 0 ? 1 : n;
    if (check_channels(&a.plan, C)) goto end4;
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "zero-length input");
        goto end4;
    }
    const Py_ssize_t need = ee_plan_out_size(&a.plan, n), m = ee_plan_out_len(&a.plan, n);
    if (out.len / 4 != need) {
        PyErr_Format(PyExc_ValueError, "out holds %zd floats, the plan writes %zd", out.len / 4, need);
        goto end4;
    }
    const Py_ssize_t W = a.plan.window > 0 ? ee_window_count(m, a.plan.window, a.plan.stride, a.plan.cover_tail) : 0;
    if (st.obj && st.len / 8 != W) {
        PyErr_Format(PyExc_ValueError, "starts holds %zd values, the plan cuts %zd windows", st.len / 8, W);
        goto end4;
    }
    ee_err err = {0, 0, 0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
#if EE_THREADS
    if (pthread_mutex_trylock(&work_lock) == 0) {
        rc = ee_run(&a.plan, src.buf, dt, n, s_t, s_c, (float *)out.buf, (uint8_t *)fl.buf, &err, &shared_work);
        /* keep at most ~16 MB cached between calls */
        size_t held = 0;
        for (int i = 0; i < EE_WORK_SLOTS; i++) held += shared_work.cap[i];
        if (held > ((size_t)16 << 20)) ee_work_free(&shared_work);
        pthread_mutex_unlock(&work_lock);
    } else {
        ee_work own = {{0}, {0}};
        rc = ee_run(&a.plan, src.buf, dt, n, s_t, s_c, (float *)out.buf, (uint8_t *)fl.buf, &err, &own);
        ee_work_free(&own);
    }
#else
    ee_work own = {{0}, {0}};
    rc = ee_run(&a.plan, src.buf, dt, n, s_t, s_c, (float *)out.buf, (uint8_t *)fl.buf, &err, &own);
    ee_work_free(&own);
#endif
    Py_END_ALLOW_THREADS if (rc) raise_rc(rc, &err);
    else {
        for (Py_ssize_t w = 0; st.obj && w < W; w++)
            ((int64_t *)st.buf)[w] = ee_window_start(m, a.plan.window, a.plan.stride, w);
        result = PyLong_FromSsize_t(m);
    }
end4:
    release(&st);
end3:
    release(&fl);
end2:
    release(&out);
end1:
    release(&src);
end0:
    plan_release(&a);
    return result;
}

/* ------------------------------------------------------------------------------------ batches -- */
typedef struct {
    const ee_plan *plan;
    const char *src;
    int dtype;
    Py_ssize_t B, n, s_t, s_c, rec_bytes, out_size;
    float *out;
    uint8_t *flags;
    int first, step;
    int rc;
    Py_ssize_t failed;
    ee_err err;
} batch_job;

static void *batch_worker(void *arg) {
    batch_job *j = (batch_job *)arg;
    ee_work work = {{0}, {0}};
    for (Py_ssize_t b = j->first; b < j->B; b += j->step) {
        int rc = ee_run(j->plan, j->src + b * j->rec_bytes, j->dtype, j->n, j->s_t, j->s_c, j->out + b * j->out_size,
                        j->flags + b * j->plan->L, &j->err, &work);
        if (rc) {
            j->rc = rc;
            j->failed = b;
            break;
        }
    }
    ee_work_free(&work);
    return NULL;
}

/* run_batch(src[B, ...], layout, n_leads, out, flags[B, L], threads, **plan) */
static PyObject *py_run_batch(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"src", "layout", "n_leads", "out", "flags", "threads", PLAN_KW, NULL};
    PyObject *src_o, *out_o, *flags_o;
    int layout, L, threads;
    PLAN_DECL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OiiOOi" PLAN_FMT, kwlist, &src_o, &layout, &L, &out_o, &flags_o,
                                     &threads, PLAN_REFS))
        return NULL;
    if (L < 1) {
        PyErr_SetString(PyExc_ValueError, "n_leads must be >= 1");
        return NULL;
    }
    plan_args a;
    if (plan_from(&a, L, PLAN_ARGS)) return NULL;
    Py_buffer src, out, fl;
    PyObject *result = NULL;
    if (get(src_o, &src, '*', 0, "src")) goto end0;
    if (get(out_o, &out, 'f', 1, "out")) goto end1;
    if (get(flags_o, &fl, 'B', 1, "flags")) goto end2;
    const int dt = dtype_of(fmt_code(&src));
    if (dt < 0 || src.ndim != 3) {
        PyErr_SetString(PyExc_TypeError, "src must be a 3-D int16, int32, float32 or float64 array");
        goto end3;
    }
    const Py_ssize_t B = src.shape[0], rows = src.shape[1], cols = src.shape[2];
    const Py_ssize_t n = layout == 0 ? rows : cols, C = layout == 0 ? cols : rows;
    if (n < 1 || B < 1) {
        PyErr_SetString(PyExc_ValueError, "zero-length input");
        goto end3;
    }
    if (check_channels(&a.plan, C)) goto end3;
    const Py_ssize_t size = ee_plan_out_size(&a.plan, n);
    if (out.len / 4 != size * B || fl.len < B * L) {
        PyErr_Format(PyExc_ValueError, "out holds %zd floats, the plan writes %zd", out.len / 4, size * B);
        goto end3;
    }
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    if (threads > B) threads = (int)B;
    batch_job jobs[256];
    for (int t = 0; t < threads; t++) {
        batch_job *j = &jobs[t];
        memset(j, 0, sizeof(*j));
        j->plan = &a.plan;
        j->src = (const char *)src.buf;
        j->dtype = dt;
        j->B = B;
        j->n = n;
        j->s_t = layout == 0 ? C : 1;
        j->s_c = layout == 0 ? 1 : n;
        j->rec_bytes = rows * cols * src.itemsize;
        j->out_size = size;
        j->out = (float *)out.buf;
        j->flags = (uint8_t *)fl.buf;
        j->first = t;
        j->step = threads;
    }
    Py_BEGIN_ALLOW_THREADS
#if EE_THREADS
    pthread_t tid[256];
    int started[256];
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, batch_worker, &jobs[t]) == 0;
    batch_worker(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else batch_worker(&jobs[t]); /* could not start a thread: do its share here */
    }
#else
    for (int t = 0; t < threads; t++) batch_worker(&jobs[t]);
#endif
    Py_END_ALLOW_THREADS
    for (int t = 0; t < threads; t++)
        if (jobs[t].rc) {
            raise_rc(jobs[t].rc, &jobs[t].err);
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            PyObject *msg = PyUnicode_FromFormat("record %zd: %S", jobs[t].failed, ev ? ev : Py_None);
            Py_XDECREF(ev);
            PyErr_Restore(et, msg, tb);
            goto end3;
        }
    result = PyLong_FromSsize_t(ee_plan_out_len(&a.plan, n));
end3:
    release(&fl);
end2:
    release(&out);
end1:
    release(&src);
end0:
    plan_release(&a);
    return result;
}

/* ---------------------------------------------------------------- single operations (streaming) -- */
/* Interleaved float64 x[n, L] for all of these. */
static int get_x(PyObject *o, Py_buffer *v, int writable, Py_ssize_t *n, int *L) {
    if (get(o, v, 'd', writable, "x")) return -1;
    if (v->ndim != 2) {
        PyErr_SetString(PyExc_ValueError, "x must be 2-D [samples, leads]");
        release(v);
        return -1;
    }
    *n = v->shape[0];
    *L = (int)v->shape[1];
    return 0;
}

static PyObject *py_sosfilt(PyObject *self, PyObject *args) {
    PyObject *xo, *so, *zo;
    if (!PyArg_ParseTuple(args, "OOO", &xo, &so, &zo)) return NULL;
    Py_buffer x, s, z;
    Py_ssize_t n;
    int L;
    if (get_x(xo, &x, 1, &n, &L)) return NULL;
    if (get(so, &s, 'd', 0, "sos")) {
        release(&x);
        return NULL;
    }
    if (get(zo, &z, 'd', 1, "zi")) {
        release(&x);
        release(&s);
        return NULL;
    }
    const int S = (int)(s.len / 48);
    if (z.len / 8 != (Py_ssize_t)2 * S * L || s.len % 48) {
        PyErr_SetString(PyExc_ValueError, "zi must be [2 * sections, leads]; sos [sections, 6]");
    } else {
        Py_BEGIN_ALLOW_THREADS ee_sosfilt((const double *)s.buf, S, (double *)x.buf, n, L, (double *)z.buf);
        Py_END_ALLOW_THREADS
    }
    release(&x);
    release(&s);
    release(&z);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_sosfilt_zi(PyObject *self, PyObject *args) {
    PyObject *so, *zo;
    if (!PyArg_ParseTuple(args, "OO", &so, &zo)) return NULL;
    Py_buffer s, z;
    if (get(so, &s, 'd', 0, "sos")) return NULL;
    if (get(zo, &z, 'd', 1, "zi")) {
        release(&s);
        return NULL;
    }
    const int S = (int)(s.len / 48);
    if (z.len / 8 != 2 * S) PyErr_SetString(PyExc_ValueError, "zi must hold 2 values per section");
    else ee_sosfilt_zi((const double *)s.buf, S, (double *)z.buf);
    release(&s);
    release(&z);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_sosfiltfilt(PyObject *self, PyObject *args) {
    PyObject *xo, *so;
    if (!PyArg_ParseTuple(args, "OO", &xo, &so)) return NULL;
    Py_buffer x, s;
    Py_ssize_t n;
    int L, rc;
    if (get_x(xo, &x, 1, &n, &L)) return NULL;
    if (get(so, &s, 'd', 0, "sos")) {
        release(&x);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS rc = ee_sosfiltfilt((const double *)s.buf, (int)(s.len / 48), (double *)x.buf, n, L);
    Py_END_ALLOW_THREADS release(&x);
    release(&s);
    if (rc) return raise_rc(rc, NULL);
    Py_RETURN_NONE;
}

static PyObject *py_medfilt(PyObject *self, PyObject *args) {
    PyObject *xo, *oo;
    int k, rc;
    if (!PyArg_ParseTuple(args, "OiO", &xo, &k, &oo)) return NULL;
    Py_buffer x, o;
    Py_ssize_t n;
    int L;
    if (get_x(xo, &x, 0, &n, &L)) return NULL;
    if (get(oo, &o, 'd', 1, "out")) {
        release(&x);
        return NULL;
    }
    if (o.len != x.len) {
        release(&x);
        release(&o);
        PyErr_SetString(PyExc_ValueError, "out must have the shape of x");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS rc = ee_medfilt((const double *)x.buf, (double *)o.buf, n, L, k);
    Py_END_ALLOW_THREADS release(&x);
    release(&o);
    if (rc) return raise_rc(rc, NULL);
    Py_RETURN_NONE;
}

/* remove_baseline(x, k1, k2, rows=0): x[n, L] interleaved, or with rows x[L, n] lead-major; in place */
static PyObject *py_remove_baseline(PyObject *self, PyObject *args) {
    PyObject *xo;
    int k1, k2, rows = 0, rc;
    if (!PyArg_ParseTuple(args, "Oii|p", &xo, &k1, &k2, &rows)) return NULL;
    if ((k1 > 0 && !(k1 & 1)) || (k2 > 0 && !(k2 & 1))) {
        PyErr_SetString(PyExc_ValueError, "median widths must be odd");
        return NULL;
    }
    Py_buffer x;
    Py_ssize_t d0;
    int d1;
    if (get_x(xo, &x, 1, &d0, &d1)) return NULL;
    Py_BEGIN_ALLOW_THREADS rc = rows ? ee_remove_baseline_rows((double *)x.buf, d1, (int)d0, k1, k2)
                                     : ee_remove_baseline((double *)x.buf, d0, d1, k1, k2);
    Py_END_ALLOW_THREADS release(&x);
    if (rc) return raise_rc(rc, NULL);
    Py_RETURN_NONE;
}

/* resample(x[n, L], x_start, h, up, down, pre_remove, j0, out[n_out, L]) */
static PyObject *py_resample(PyObject *self, PyObject *args) {
    PyObject *xo, *ho, *oo;
    Py_ssize_t x_start, pre_remove, j0;
    int up, down;
    if (!PyArg_ParseTuple(args, "OnOiinnO", &xo, &x_start, &ho, &up, &down, &pre_remove, &j0, &oo)) return NULL;
    if (up < 1 || down < 1) {
        PyErr_SetString(PyExc_ValueError, "up and down must be >= 1");
        return NULL;
    }
    Py_buffer x, h, o;
    Py_ssize_t n;
    int L;
    if (get_x(xo, &x, 0, &n, &L)) return NULL;
    if (get(ho, &h, 'd', 0, "h")) {
        release(&x);
        return NULL;
    }
    if (get(oo, &o, 'd', 1, "out")) {
        release(&x);
        release(&h);
        return NULL;
    }
    if (o.ndim != 2 || o.shape[1] != L || h.len < 8) {
        PyErr_SetString(PyExc_ValueError, "out must be [n_out, leads] and h non-empty");
    } else {
        const Py_ssize_t n_out = o.shape[0];
        Py_BEGIN_ALLOW_THREADS ee_resample((const double *)x.buf, n, x_start, L, (const double *)h.buf, h.len / 8, up,
                                           down, pre_remove, j0, n_out, (double *)o.buf);
        Py_END_ALLOW_THREADS
    }
    release(&x);
    release(&h);
    release(&o);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_normalize(PyObject *self, PyObject *args) {
    PyObject *xo, *fo;
    int method;
    if (!PyArg_ParseTuple(args, "OiO", &xo, &method, &fo)) return NULL;
    Py_buffer x, f;
    Py_ssize_t n;
    int L;
    if (get_x(xo, &x, 1, &n, &L)) return NULL;
    if (get(fo, &f, 'B', 1, "flags")) {
        release(&x);
        return NULL;
    }
    if (f.len < L) PyErr_SetString(PyExc_ValueError, "flags must have one byte per lead");
    else {
        Py_BEGIN_ALLOW_THREADS ee_normalize((double *)x.buf, n, L, method, (uint8_t *)f.buf);
        Py_END_ALLOW_THREADS
    }
    release(&x);
    release(&f);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_windows(PyObject *self, PyObject *args) {
    PyObject *xo, *oo;
    Py_ssize_t window, stride;
    int cover_tail, pad;
    if (!PyArg_ParseTuple(args, "OnnpiO", &xo, &window, &stride, &cover_tail, &pad, &oo)) return NULL;
    if (window < 1 || stride < 1) {
        PyErr_SetString(PyExc_ValueError, "window and stride must be >= 1");
        return NULL;
    }
    Py_buffer x, o;
    Py_ssize_t n;
    int L;
    if (get_x(xo, &x, 0, &n, &L)) return NULL;
    if (get(oo, &o, 'f', 1, "out")) {
        release(&x);
        return NULL;
    }
    const Py_ssize_t W = ee_window_count(n, window, stride, cover_tail);
    if (n < 1 || o.len / 4 != W * L * window) PyErr_SetString(PyExc_ValueError, "out has the wrong size");
    else {
        Py_BEGIN_ALLOW_THREADS ee_windows((const double *)x.buf, n, L, window, stride, cover_tail, pad, (float *)o.buf);
        Py_END_ALLOW_THREADS
    }
    release(&x);
    release(&o);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_window_count(PyObject *self, PyObject *args) {
    Py_ssize_t n, window, stride;
    int cover_tail;
    if (!PyArg_ParseTuple(args, "nnnp", &n, &window, &stride, &cover_tail)) return NULL;
    if (window < 1 || stride < 1) {
        PyErr_SetString(PyExc_ValueError, "window and stride must be >= 1");
        return NULL;
    }
    return PyLong_FromSsize_t(ee_window_count(n, window, stride, cover_tail));
}

static PyObject *py_filtfilt_padlen(PyObject *self, PyObject *args) {
    PyObject *so;
    if (!PyArg_ParseTuple(args, "O", &so)) return NULL;
    Py_buffer s;
    if (get(so, &s, 'd', 0, "sos")) return NULL;
    Py_ssize_t p = ee_filtfilt_padlen((const double *)s.buf, (int)(s.len / 48));
    release(&s);
    return PyLong_FromSsize_t(p);
}

/* ------------------------------------------------------------------------------ signal quality -- */
/* quality(x, fs, out, basis, m, wsum, flat_mV, clip_share, hum_over_sides, derive, lead_i, lead_ii, limits): x
 * planar float32 [L, n], out float64 [L, QUALITY_FEATURES]; basis float32 [12, m] or None; derive int32 [L] or
 * None; limits float64 [QUALITY_LIMITS] or None. Returns (poor, score) with limits, else None. */
static PyObject *py_quality(PyObject *self, PyObject *args) {
    PyObject *xo, *oo, *bo, *dob, *lo;
    double fs, wsum, flat_mV, clip_share, over;
    Py_ssize_t m;
    int lead_i, lead_ii;
    if (!PyArg_ParseTuple(args, "OdOOnddddOiiO", &xo, &fs, &oo, &bo, &m, &wsum, &flat_mV, &clip_share, &over, &dob,
                          &lead_i, &lead_ii, &lo))
        return NULL;
    Py_buffer x, o, b, d, lim;
    if (get(xo, &x, 'f', 0, "x")) return NULL;
    if (get(oo, &o, 'd', 1, "out")) {
        release(&x);
        return NULL;
    }
    if (get(bo, &b, 'f', 0, "basis")) {
        release(&x);
        release(&o);
        return NULL;
    }
    if (get(dob, &d, 'i', 0, "derive")) {
        release(&x);
        release(&o);
        release(&b);
        return NULL;
    }
    if (get(lo, &lim, 'd', 0, "limits")) {
        release(&x);
        release(&o);
        release(&b);
        release(&d);
        return NULL;
    }
    int rc = EE_OK, poor = 0;
    double score = 0.0;
    if (x.ndim != 2 || x.shape[0] < 1 || x.shape[1] < 1 || o.len / 8 != x.shape[0] * EE_Q_N ||
        (b.obj && b.len / 4 != 12 * m) || (d.obj && d.len / 4 != x.shape[0]) || (lim.obj && lim.len / 8 != EE_L_N)) {
        PyErr_SetString(PyExc_ValueError, "x must be [leads, samples], out [leads, QUALITY_FEATURES], basis [12, m], "
                                          "derive [leads], limits [QUALITY_LIMITS]");
    } else {
        const ee_qspec q = {fs, flat_mV, clip_share, b.obj ? (const float *)b.buf : NULL, m, wsum, over,
                            d.obj ? (const int32_t *)d.buf : NULL, lead_i, lead_ii,
                            lim.obj ? (const double *)lim.buf : NULL};
        Py_BEGIN_ALLOW_THREADS rc = ee_quality((const float *)x.buf, x.shape[1], (int)x.shape[0], &q,
                                               (double *)o.buf, &poor, &score);
        Py_END_ALLOW_THREADS
    }
    const int with_verdict = lim.obj != NULL;
    release(&x);
    release(&o);
    release(&b);
    release(&d);
    release(&lim);
    if (PyErr_Occurred()) return NULL;
    if (rc != EE_OK) return raise_rc(rc, NULL);
    if (with_verdict) return Py_BuildValue("(Od)", poor ? Py_True : Py_False, score);
    Py_RETURN_NONE;
}

static PyObject *py_wfdb16(PyObject *self, PyObject *args) {
    PyObject *bo, *baseo, *gaino, *oo, *so, *io, *loo, *hio;
    Py_ssize_t frames;
    int width;
    if (!PyArg_ParseTuple(args, "OniOOOOOOO", &bo, &frames, &width, &baseo, &gaino, &oo, &so, &io, &loo, &hio))
        return NULL;
    Py_buffer b, base, gain, o, sums, bad, lo, hi;
    double peak = 0.0;
    Py_buffer *all[] = {&b, &base, &gain, &o, &sums, &bad, &lo, &hi};
    PyObject *objs[] = {bo, baseo, gaino, oo, so, io, loo, hio};
    const char want[] = {'*', 'f', 'f', 'f', 'q', 'q', 'q', 'q'};
    const int writable[] = {0, 0, 0, 1, 1, 1, 1, 1};
    const char *names[] = {"buf", "base", "gain", "out", "sums", "invalid", "lo", "hi"};
    for (int i = 0; i < 8; i++) {
        if (objs[i] == Py_None || get(objs[i], all[i], want[i], writable[i], names[i])) {
            if (objs[i] == Py_None) PyErr_Format(PyExc_ValueError, "%s is required", names[i]);
            for (int j = 0; j < i; j++) release(all[j]);
            return NULL;
        }
    }
    if (frames < 1 || width < 1 || b.len / 2 / width < frames || base.len / 4 != width || gain.len / 4 != width ||
        o.len / 4 != (Py_ssize_t)width * frames || sums.len / 8 != width || bad.len / 8 != width || lo.len / 8 != width ||
        hi.len / 8 != width) {
        PyErr_SetString(PyExc_ValueError, "wfdb16: buf must hold frames * width int16 samples; base and gain "
                                          "[width] float32, out [width, frames] float32, sums, invalid, lo and hi "
                                          "[width] int64");
    } else {
        Py_BEGIN_ALLOW_THREADS peak = ee_wfdb16((const uint8_t *)b.buf, frames, width, (const float *)base.buf,
                                                (const float *)gain.buf, (float *)o.buf, (int64_t *)sums.buf,
                                                (int64_t *)bad.buf, (int64_t *)lo.buf, (int64_t *)hi.buf);
        Py_END_ALLOW_THREADS
    }
    for (int j = 0; j < 8; j++) release(all[j]);
    if (PyErr_Occurred()) return NULL;
    return PyFloat_FromDouble(peak);
}

/* A WFDB header's bytes -> (name, n_signals, fs, n_samples or None, base time or None, base date or None,
 * [comment, ...], [SignalSpec's fields in its order (file, fmt, spf, skew, offset, gain, baseline (the ADC zero
 * where none is written), units ("mV" where none are), adc_res, adc_zero, initial, checksum, block, description,
 * line, calibrated), ...]), or None where the header is not in the common form ee_parse_header reads (the Python
 * parser then does). */
#define EE_HEA_MAX_SIGNALS 64
#define EE_HEA_MAX_COMMENTS 64
static PyObject *py_wfdb_header(PyObject *self, PyObject *args) {
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    ee_hea_record rec;
    ee_hea_signal sig[EE_HEA_MAX_SIGNALS];
    ee_span com[EE_HEA_MAX_COMMENTS];
    int n_com = 0;
    const char *t = (const char *)b.buf;
    const int n = ee_parse_header(t, b.len, &rec, sig, EE_HEA_MAX_SIGNALS, com, EE_HEA_MAX_COMMENTS, &n_com);
    PyObject *out = NULL, *comments = NULL, *signals = NULL;
    if (n < 0) {
        PyBuffer_Release(&b);
        Py_RETURN_NONE;
    }
    comments = PyList_New(n_com);
    signals = PyList_New(n);
    if (!comments || !signals) goto done;
    for (int i = 0; i < n_com; i++) {
        PyObject *c = PyUnicode_DecodeASCII(t + com[i].off, com[i].len, NULL);
        if (!c) goto done;
        PyList_SET_ITEM(comments, i, c);
    }
    for (int i = 0; i < n; i++) {
        const ee_hea_signal *s = &sig[i];
        PyObject *row = Py_BuildValue(
            "(s#s#LLLdLs#LLLLLs#iO)", t + s->file.off, (Py_ssize_t)s->file.len, t + s->fmt.off,
            (Py_ssize_t)s->fmt.len, (long long)s->spf, (long long)s->skew, (long long)s->offset, s->gain,
            (long long)(s->has_baseline ? s->baseline : s->adc_zero), s->units.len ? t + s->units.off : "mV",
            (Py_ssize_t)(s->units.len ? s->units.len : 2), (long long)s->adc_res, (long long)s->adc_zero,
            (long long)s->init, (long long)s->checksum, (long long)s->block, t + s->desc.off, (Py_ssize_t)s->desc.len,
            (int)s->line, Py_True);
        if (!row) goto done;
        PyList_SET_ITEM(signals, i, row);
    }
    PyObject *nsamp = rec.has_n_samples ? PyLong_FromLongLong(rec.n_samples) : (Py_INCREF(Py_None), Py_None);
    if (nsamp)
        out = Py_BuildValue("(s#LdOz#z#OO)", t + rec.name.off, (Py_ssize_t)rec.name.len, (long long)rec.n_signals,
                            rec.fs, nsamp, rec.base_time.len ? t + rec.base_time.off : NULL,
                            rec.base_time.len ? (Py_ssize_t)rec.base_time.len : 0,
                            rec.base_date.len ? t + rec.base_date.off : NULL,
                            rec.base_date.len ? (Py_ssize_t)rec.base_date.len : 0, comments, signals);
    Py_XDECREF(nsamp);
done:
    Py_XDECREF(comments);
    Py_XDECREF(signals);
    PyBuffer_Release(&b);
    return out;
}

static PyObject *py_simd(PyObject *self, PyObject *noargs) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return PyUnicode_FromString("avx512f");
    if (__builtin_cpu_supports("avx2")) return PyUnicode_FromString("avx2");
    return PyUnicode_FromString("sse2");
#elif defined(__aarch64__)
    return PyUnicode_FromString("neon");
#else
    return PyUnicode_FromString("portable");
#endif
}

static PyMethodDef methods[] = {
    {"run", (PyCFunction)(void (*)(void))py_run, METH_VARARGS | METH_KEYWORDS, "Run the fused chain on one record."},
    {"run_batch", (PyCFunction)(void (*)(void))py_run_batch, METH_VARARGS | METH_KEYWORDS,
     "Run the fused chain on a batch of equal-length records on several threads."},
    {"sosfilt", py_sosfilt, METH_VARARGS, "Causal SOS filter with carried state (in place)."},
    {"sosfilt_zi", py_sosfilt_zi, METH_VARARGS, "Steady-state initial conditions of an SOS cascade."},
    {"sosfiltfilt", py_sosfiltfilt, METH_VARARGS, "Zero-phase SOS filter (in place)."},
    {"medfilt", py_medfilt, METH_VARARGS, "Sliding median (zero-padded edges)."},
    {"remove_baseline", py_remove_baseline, METH_VARARGS,
     "Two-stage median baseline removal in place; rows=True: x is lead-major [L, n]."},
    {"resample", py_resample, METH_VARARGS, "Polyphase FIR resampling of a (window of a) stream."},
    {"normalize", py_normalize, METH_VARARGS, "Per-lead normalisation (in place)."},
    {"windows", py_windows, METH_VARARGS, "Cut windows into a preallocated float32 batch."},
    {"window_count", py_window_count, METH_VARARGS, "Number of windows for a length."},
    {"filtfilt_padlen", py_filtfilt_padlen, METH_VARARGS, "Edge padding sosfiltfilt uses."},
    {"wfdb16", py_wfdb16, METH_VARARGS,
     "Decode a format-16 WFDB signal file's frames to physical float32 [width, frames], with checksums, "
     "invalid-sample counts and digital extremes; returns the largest |physical value| (NaN if a sample is invalid)."},
    {"wfdb_header", py_wfdb_header, METH_VARARGS,
     "Parse a WFDB header of the common form (see ee_parse_header); None for anything else."},
    {"simd", py_simd, METH_NOARGS, "The widest vector ISA the kernel dispatches to on this CPU."},
    {"quality", py_quality, METH_VARARGS, "Signal-quality features of planar float32 leads (ecgedge.quality)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ecgedge._kernel",
                                    "ecgedge's fused ECG preprocessing kernel (C99).", -1, methods};

PyMODINIT_FUNC PyInit__kernel(void) {
    PyObject *m = PyModule_Create(&module);
    if (m) PyModule_AddIntConstant(m, "WFDB16", 3); /* wfdb16() present; 2: with digital extremes; 3: returns the physical peak */
    if (m) PyModule_AddIntConstant(m, "WFDB_HEADER", 1); /* wfdb_header() present */
    if (m) PyModule_AddIntConstant(m, "ABI", 2); /* 2: run() reports window starts */
    if (m) PyModule_AddIntConstant(m, "QUALITY_FEATURES", EE_Q_N);
    if (m) PyModule_AddIntConstant(m, "QUALITY_LIMITS", EE_L_N);
    return m;
}
