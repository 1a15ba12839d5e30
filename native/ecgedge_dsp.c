/* ecgedge fused preprocessing kernel: the pure-C core. See ecgedge_dsp.h for the layout. */
#include "ecgedge_dsp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Hot loops over leads are compiled for several ISAs and picked at load time where the compiler
 * and C library support it (GCC/clang on x86-64 Linux); elsewhere they are plain C99, which
 * compilers still vectorise for the baseline ISA (SSE2, NEON). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(EE_NO_CLONES) && \
    (defined(__clang__) ? (__clang_major__ >= 14) : (__GNUC__ >= 8))
#define EE_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EE_HOT
#endif
/* The medians' bit searches and counting sort: integer work that gains from x86-64-v3's
 * tzcnt/lzcnt/popcnt (measured ~5-8 %); GCC >= 11 names that level in target_clones. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(EE_NO_CLONES) && __GNUC__ >= 11
#define EE_HOT_INT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define EE_HOT_INT
#endif

/* ------------------------------------------------------------------------------------- load -- */
#if defined(__GNUC__) && !defined(EE_NO_VECTOR_EXT) && (defined(__clang__) || __GNUC__ >= 12)
/* Planar float sources (what a Signal holds): 8 leads x 8 samples at a time, converted to double
 * and transposed in registers, then stored as 8 whole rows: an eighth of the stores of the scalar
 * gather below. */
#define EE_TRANSPOSE 1
typedef double ee_t8d __attribute__((vector_size(64)));
typedef float ee_t8f __attribute__((vector_size(32)));
typedef float ee_t8fu __attribute__((vector_size(32), aligned(4), __may_alias__));
typedef double ee_t8du __attribute__((vector_size(64), aligned(8), __may_alias__));
typedef double ee_t4d __attribute__((vector_size(32)));
typedef double ee_t4du __attribute__((vector_size(32), aligned(8), __may_alias__));
#define EE_SHUF __builtin_shufflevector
static inline void transpose8(ee_t8d r[8]) {
    ee_t8d a[8], c[8];
    for (int i = 0; i < 8; i += 2) {
        a[i] = EE_SHUF(r[i], r[i + 1], 0, 8, 2, 10, 4, 12, 6, 14);
        a[i + 1] = EE_SHUF(r[i], r[i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {
        c[i] = EE_SHUF(a[i], a[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        c[i + 2] = EE_SHUF(a[i], a[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        c[i + 1] = EE_SHUF(a[i + 1], a[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        c[i + 3] = EE_SHUF(a[i + 1], a[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = EE_SHUF(c[i], c[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        r[i + 4] = EE_SHUF(c[i], c[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}
#define EE_LOAD_T8(NAME, T, LOADROW)                                                                           \
    static EE_HOT void NAME(const T *restrict src, ptrdiff_t n, const ptrdiff_t *off, int L, ptrdiff_t ld,    \
                            double *restrict out) {                                                            \
        ptrdiff_t t0 = 0;                                                                                      \
        for (; t0 + 8 <= n; t0 += 8)                                                                           \
            for (ptrdiff_t g = 0; g < ld; g += 8) {                                                            \
                ee_t8d r[8];                                                                                   \
                for (int i = 0; i < 8; i++) {                                                                  \
                    const ptrdiff_t l = g + i;                                                                 \
                    if (l < L) {                                                                               \
                        LOADROW(r[i], src + off[l] + t0);                                                      \
                    } else {                                                                                   \
                        r[i] = (ee_t8d){0, 0, 0, 0, 0, 0, 0, 0};                                               \
                    }                                                                                          \
                }                                                                                              \
                transpose8(r);                                                                                 \
                const size_t w = (size_t)((ld - g) < 8 ? (ld - g) : 8) * sizeof(double);                       \
                if (w == sizeof(ee_t8d))                                                                       \
                    for (int j = 0; j < 8; j++) *(ee_t8du *)(void *)(out + (t0 + j) * ld + g) = r[j];          \
                else if (w == sizeof(ee_t4d)) /* 12 leads: a half block; a memcpy call per row was most */   \
                    for (int j = 0; j < 8; j++)                                                                \
                        *(ee_t4du *)(void *)(out + (t0 + j) * ld + g) = EE_SHUF(r[j], r[j], 0, 1, 2, 3);       \
                else                                                                                           \
                    for (int j = 0; j < 8; j++) memcpy(out + (t0 + j) * ld + g, &r[j], w);                     \
            }                                                                                                  \
        for (; t0 < n; t0++) {                                                                                 \
            double *o = out + t0 * ld;                                                                         \
            for (int l = 0; l < L; l++) o[l] = (double)src[off[l] + t0];                                       \
            for (ptrdiff_t l = L; l < ld; l++) o[l] = 0.0;                                                     \
        }                                                                                                      \
    }
#define EE_ROW_F32(dst, p) ((dst) = __builtin_convertvector(*(const ee_t8fu *)(const void *)(p), ee_t8d))
#define EE_ROW_F64(dst, p) ((dst) = *(const ee_t8du *)(const void *)(p))
EE_LOAD_T8(load_t8_f32, float, EE_ROW_F32)
EE_LOAD_T8(load_t8_f64, double, EE_ROW_F64)
#else
#define EE_TRANSPOSE 0
#endif

/* Time outer, leads inner: the interleaved output is written contiguously while the (few) source
 * channels are read as parallel streams. */
#define EE_LOAD_LOOP(T, CONV)                                                                                  \
    for (ptrdiff_t t = 0; t < n; t++) {                                                                        \
        const T *restrict at = (const T *)src + t * s_t;                                                       \
        double *restrict o = out + t * ld;                                                                     \
        for (int l = 0; l < L; l++) {                                                                          \
            const T v = at[off[l]];                                                                            \
            o[l] = CONV;                                                                                       \
        }                                                                                                      \
        for (ptrdiff_t l = L; l < ld; l++) o[l] = 0.0;                                                         \
    }

void ee_load(const void *src, int dtype, ptrdiff_t n, ptrdiff_t s_t, ptrdiff_t s_c, const int32_t *gather,
             const double *gain, const double *baseline, int L, ptrdiff_t ld, int has_invalid, int64_t invalid,
             double *out) {
    ptrdiff_t off_stack[64];
    ptrdiff_t *off = L <= 64 ? off_stack : malloc(sizeof(ptrdiff_t) * (size_t)L);
    double gb_stack[128];
    double *gb = L <= 64 ? gb_stack : malloc(sizeof(double) * 2 * (size_t)L);
    if (!off || !gb) { /* out of memory for >64 leads: fall back to the slow path below */
        for (ptrdiff_t i = 0; i < n * ld; i++) out[i] = 0.0;
        if (off != off_stack) free(off);
        if (gb != gb_stack) free(gb);
        return;
    }
    for (int l = 0; l < L; l++) {
        off[l] = (gather ? gather[l] : l) * s_c;
        gb[l] = gain ? gain[l] : 1.0;
        gb[L + l] = baseline ? baseline[l] : 0.0;
    }
    const double *g = gb, *b = gb + L;
    const double nan = NAN;
#if EE_TRANSPOSE
    if (s_t == 1 && !gain && !baseline && (ld & 3) == 0 && (dtype == EE_F32 || dtype == EE_F64)) {
        if (dtype == EE_F32) load_t8_f32((const float *)src, n, off, L, ld, out);
        else load_t8_f64((const double *)src, n, off, L, ld, out);
        if (off != off_stack) free(off);
        if (gb != gb_stack) free(gb);
        return;
    }
#endif
    /* Division, not multiplication by 1/gain: (v - b) / gain is what wfdb and the reference
     * compute; a reciprocal would differ in the last bit. */
    switch (dtype) {
    case EE_I16:
        EE_LOAD_LOOP(int16_t, (has_invalid && v == invalid) ? nan : ((double)v - b[l]) / g[l])
        break;
    case EE_I32:
        EE_LOAD_LOOP(int32_t, (has_invalid && v == invalid) ? nan : ((double)v - b[l]) / g[l])
        break;
    case EE_F32:
        if (gain || baseline) {
            EE_LOAD_LOOP(float, ((double)v - b[l]) / g[l])
        } else {
            EE_LOAD_LOOP(float, (double)v)
        }
        break;
    default:
        if (gain || baseline) {
            EE_LOAD_LOOP(double, (v - b[l]) / g[l])
        } else {
            EE_LOAD_LOOP(double, v)
        }
        break;
    }
    if (off != off_stack) free(off);
    if (gb != gb_stack) free(gb);
}

static EE_HOT int all_finite(const double *restrict x, ptrdiff_t total) {
    /* eight independent partial sums so the loop vectorises without reassociating anything */
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= total; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k] - x[i + k];
    for (; i < total; i++) acc[0] += x[i] - x[i];
    double s = 0.0;
    for (int k = 0; k < 8; k++) s += acc[k];
    return s == 0.0;
}

int ee_fix_nonfinite(double *x, ptrdiff_t n, int L, int policy, ptrdiff_t max_gap, uint8_t *flags, ee_err *err) {
    /* The common case, no invalid sample at all, is one contiguous pass (x - x is 0 unless x is
     * inf or NaN, and the sum of zeros stays 0). */
    if (all_finite(x, n * L)) return EE_OK;
    for (int l = 0; l < L; l++) {
        ptrdiff_t t = 0;
        while (t < n) {
            if (isfinite(x[t * L + l])) {
                t++;
                continue;
            }
            ptrdiff_t end = t;
            while (end < n && !isfinite(x[end * L + l])) end++;
            const ptrdiff_t run = end - t;
            if (policy == 0 || run > max_gap || run == n) {
                if (err) {
                    err->lead = l;
                    err->sample = t;
                    err->length = run;
                }
                return policy == 0 ? EE_ENONFINITE : EE_EGAP;
            }
            const double left = t > 0 ? x[(t - 1) * L + l] : x[end * L + l];
            const double right = end < n ? x[end * L + l] : left;
            for (ptrdiff_t k = t; k < end; k++) {
                const double frac = (double)(k - t + 1) / (double)(run + 1);
                x[k * L + l] = left + (right - left) * frac;
            }
            if (flags) flags[l] |= 2;
            t = end;
        }
    }
    return EE_OK;
}

/* ---------------------------------------------------------------------------------- IIR (SOS) -- */
void ee_sosfilt_zi(const double *sos, int n_sections, double *zi) {
    double scale = 1.0;
    for (int s = 0; s < n_sections; s++) {
        const double *c = sos + 6 * s;
        const double a0 = c[3];
        const double b0 = c[0] / a0, b1 = c[1] / a0, b2 = c[2] / a0, a1 = c[4] / a0, a2 = c[5] / a0;
        /* lfilter_zi for a biquad: solve (I - companion(a)^T) zi = b[1:] - a[1:] * b0. */
        const double B1 = b1 - a1 * b0, B2 = b2 - a2 * b0;
        const double z0 = (B1 + B2) / (1.0 + a1 + a2);
        zi[2 * s] = scale * z0;
        zi[2 * s + 1] = scale * (B2 - a2 * z0);
        scale *= (b0 + b1 + b2) / (1.0 + a1 + a2);
    }
}

/* A block of B leads at a time, all sections fused per sample, state in local arrays the compiler
 * can keep in registers: the recurrence is serial in time, so throughput comes from the B
 * independent leads in the vector lanes and from the sections overlapping in the pipeline. */
#define EE_MAX_SECTIONS 16
#define EE_SOS_BLOCK(B)                                                                                        \
    static EE_HOT void sos_block##B(const double *restrict c, int S, double *restrict x, ptrdiff_t n, int L,      \
                                    int l0, double *restrict zi, int rev) {                                    \
        double z0[EE_MAX_SECTIONS][B], z1[EE_MAX_SECTIONS][B];                                                 \
        for (int s = 0; s < S; s++)                                                                            \
            for (int i = 0; i < B; i++) {                                                                      \
                z0[s][i] = zi[(2 * s) * L + l0 + i];                                                           \
                z1[s][i] = zi[(2 * s + 1) * L + l0 + i];                                                       \
            }                                                                                                  \
        for (ptrdiff_t t = 0; t < n; t++) {                                                                    \
            double *restrict row = x + (rev ? n - 1 - t : t) * L + l0;                                         \
            double v[B];                                                                                       \
            for (int i = 0; i < B; i++) v[i] = row[i];                                                         \
            for (int s = 0; s < S; s++) {                                                                      \
                const double b0 = c[5 * s], b1 = c[5 * s + 1], b2 = c[5 * s + 2], a1 = c[5 * s + 3],           \
                             a2 = c[5 * s + 4];                                                                \
                for (int i = 0; i < B; i++) {                                                                  \
                    const double y = b0 * v[i] + z0[s][i];                                                     \
                    z0[s][i] = b1 * v[i] - a1 * y + z1[s][i];                                                  \
                    z1[s][i] = b2 * v[i] - a2 * y;                                                             \
                    v[i] = y;                                                                                  \
                }                                                                                              \
            }                                                                                                  \
            for (int i = 0; i < B; i++) row[i] = v[i];                                                         \
        }                                                                                                      \
        for (int s = 0; s < S; s++)                                                                            \
            for (int i = 0; i < B; i++) {                                                                      \
                zi[(2 * s) * L + l0 + i] = z0[s][i];                                                           \
                zi[(2 * s + 1) * L + l0 + i] = z1[s][i];                                                       \
            }                                                                                                  \
    }
EE_SOS_BLOCK(8)
EE_SOS_BLOCK(4)
EE_SOS_BLOCK(2)
EE_SOS_BLOCK(1)

#if defined(__GNUC__) && !defined(EE_NO_VECTOR_EXT)
/* GCC/clang vector extensions: 4-lead vectors, NV of them side by side so that NV independent
 * recurrences hide the latency of each, and the section count S fixed at compile time so that the
 * whole state lives in registers. Each target clone maps ee_v4 onto its own registers. Other
 * compilers use the array blocks above. */
#define EE_VEC 1
typedef double ee_v4 __attribute__((vector_size(32)));
typedef double ee_v8 __attribute__((vector_size(64)));
/* Memory is reached only through these: 8-byte aligned, may alias doubles. (memcpy into vector
 * locals compiled to aligned moves at -O3 on GCC 12 for rows that are not 32-byte aligned.) */
typedef double ee_v4u __attribute__((vector_size(32), aligned(8), __may_alias__));
typedef double ee_v8u __attribute__((vector_size(64), aligned(8), __may_alias__));
#define EE_LD(V, p) (*(const V##u *)(const void *)(p))
#define EE_ST(V, p, v) (*(V##u *)(void *)(p) = (v))
#define EE_SOS_SPEC(S, NV) EE_SOS_SPEC_T(sos_s##S##_v##NV, S, NV, ee_v4, 4)
#define EE_SOS_SPEC_T(NAME, S, NV, V, W)                                                                       \
    static EE_HOT void NAME(const double *restrict c, double *restrict x, ptrdiff_t n, int L, int l0,         \
                            double *restrict zi, int rev) {                                                    \
        V z0[S][NV], z1[S][NV];                                                                                \
        double q[S][5];                                                                                        \
        for (int s = 0; s < S; s++) {                                                                          \
            for (int i = 0; i < 5; i++) q[s][i] = c[5 * s + i];                                                \
            for (int k = 0; k < NV; k++) {                                                                     \
                z0[s][k] = EE_LD(V, zi + (2 * s) * L + l0 + W * k);                                           \
                z1[s][k] = EE_LD(V, zi + (2 * s + 1) * L + l0 + W * k);                                        \
            }                                                                                                  \
        }                                                                                                      \
        for (ptrdiff_t t = 0; t < n; t++) {                                                                    \
            double *restrict row = x + (rev ? n - 1 - t : t) * L + l0;                                         \
            V v[NV];                                                                                           \
            for (int k = 0; k < NV; k++) v[k] = EE_LD(V, row + W * k);                                         \
            for (int s = 0; s < S; s++)                                                                        \
                for (int k = 0; k < NV; k++) {                                                                 \
                    const V y = q[s][0] * v[k] + z0[s][k];                                                     \
                    const V u0 = q[s][1] * v[k] + z1[s][k], u1 = q[s][2] * v[k];                               \
                    z0[s][k] = u0 - q[s][3] * y;                                                               \
                    z1[s][k] = u1 - q[s][4] * y;                                                               \
                    v[k] = y;                                                                                  \
                }                                                                                              \
            for (int k = 0; k < NV; k++) EE_ST(V, row + W * k, v[k]);                                          \
        }                                                                                                      \
        for (int s = 0; s < S; s++)                                                                            \
            for (int k = 0; k < NV; k++) {                                                                     \
                EE_ST(V, zi + (2 * s) * L + l0 + W * k, z0[s][k]);                                             \
                EE_ST(V, zi + (2 * s + 1) * L + l0 + W * k, z1[s][k]);                                         \
            }                                                                                                  \
    }
#define EE_SOS_SPEC_ALL(S)                                                                                     \
    EE_SOS_SPEC(S, 1) EE_SOS_SPEC(S, 2) EE_SOS_SPEC(S, 3) EE_SOS_SPEC_T(sos_s##S##_w1, S, 1, ee_v8, 8)          \
        EE_SOS_SPEC_T(sos_s##S##_w2, S, 2, ee_v8, 8)
EE_SOS_SPEC_ALL(1)
EE_SOS_SPEC_ALL(2)
EE_SOS_SPEC_ALL(3)
EE_SOS_SPEC_ALL(4)

typedef void (*sos_fn)(const double *restrict, double *restrict, ptrdiff_t, int, int, double *restrict, int);
/* per section count: 4, 8, 12 lanes as 4-lane vectors, then 8 and 16 lanes as 8-lane vectors */
static const sos_fn sos_table[4][5] = {
    {sos_s1_v1, sos_s1_v2, sos_s1_v3, sos_s1_w1, sos_s1_w2},
    {sos_s2_v1, sos_s2_v2, sos_s2_v3, sos_s2_w1, sos_s2_w2},
    {sos_s3_v1, sos_s3_v2, sos_s3_v3, sos_s3_w1, sos_s3_w2},
    {sos_s4_v1, sos_s4_v2, sos_s4_v3, sos_s4_w1, sos_s4_w2},
};
#else
#define EE_VEC 0
#endif

static void sos_section(const double *c, double *x, ptrdiff_t n, int L, double *z0, double *z1, int rev) {
    for (ptrdiff_t t = 0; t < n; t++) {
        double *row = x + (rev ? n - 1 - t : t) * L;
        for (int l = 0; l < L; l++) {
            const double xi = row[l];
            const double y = c[0] * xi + z0[l];
            z0[l] = c[1] * xi - c[3] * y + z1[l];
            z1[l] = c[2] * xi - c[4] * y;
            row[l] = y;
        }
    }
}

static void sosfilt_dir(const double *sos, int n_sections, double *x, ptrdiff_t n, int L, double *zi, int rev);

void ee_sosfilt(const double *sos, int n_sections, double *x, ptrdiff_t n, int L, double *zi) {
    sosfilt_dir(sos, n_sections, x, n, L, zi, 0);
}

/* rev: run from the last sample to the first (the backward pass of filtfilt, without reversing). */
static void sosfilt_dir(const double *sos, int n_sections, double *x, ptrdiff_t n, int L, double *zi, int rev) {
    /* normalised coefficients b0 b1 b2 a1 a2 per section */
    double cbuf[5 * EE_MAX_SECTIONS];
    if (n_sections > EE_MAX_SECTIONS) {
        for (int s = 0; s < n_sections; s++) {
            const double *q = sos + 6 * s;
            const double cc[5] = {q[0] / q[3], q[1] / q[3], q[2] / q[3], q[4] / q[3], q[5] / q[3]};
            sos_section(cc, x, n, L, zi + (2 * s) * L, zi + (2 * s + 1) * L, rev);
        }
        return;
    }
    for (int s = 0; s < n_sections; s++) {
        const double *q = sos + 6 * s;
        cbuf[5 * s] = q[0] / q[3];
        cbuf[5 * s + 1] = q[1] / q[3];
        cbuf[5 * s + 2] = q[2] / q[3];
        cbuf[5 * s + 3] = q[4] / q[3];
        cbuf[5 * s + 4] = q[5] / q[3];
    }
    int l0 = 0;
#if EE_VEC
    if (n_sections <= 4) {
        for (; l0 + 16 <= L; l0 += 16) sos_table[n_sections - 1][4](cbuf, x, n, L, l0, zi, rev);
        if (l0 + 12 <= L) {
            sos_table[n_sections - 1][2](cbuf, x, n, L, l0, zi, rev);
            l0 += 12;
        }
        if (l0 + 8 <= L) {
            sos_table[n_sections - 1][3](cbuf, x, n, L, l0, zi, rev);
            l0 += 8;
        }
        if (l0 + 4 <= L) {
            sos_table[n_sections - 1][0](cbuf, x, n, L, l0, zi, rev);
            l0 += 4;
        }
    }
#endif
    for (; l0 + 8 <= L; l0 += 8) sos_block8(cbuf, n_sections, x, n, L, l0, zi, rev);
    for (; l0 + 4 <= L; l0 += 4) sos_block4(cbuf, n_sections, x, n, L, l0, zi, rev);
    for (; l0 + 2 <= L; l0 += 2) sos_block2(cbuf, n_sections, x, n, L, l0, zi, rev);
    for (; l0 < L; l0++) sos_block1(cbuf, n_sections, x, n, L, l0, zi, rev);
}

ptrdiff_t ee_filtfilt_padlen(const double *sos, int n_sections) {
    int zb = 0, za = 0;
    for (int s = 0; s < n_sections; s++) {
        zb += sos[6 * s + 2] == 0.0;
        za += sos[6 * s + 5] == 0.0;
    }
    return 3 * (2 * n_sections + 1 - (zb < za ? zb : za));
}

/* filtfilt on a buffer that holds n samples at offset pad and has room for pad samples either side. */
static void filtfilt_ext(const double *sos, int n_sections, double *buf, ptrdiff_t n, ptrdiff_t pad, int L,
                         double *zi_base, double *state) {
    double *x = buf + pad * L;
    /* odd extension: 2 * x[0] - x[pad .. 1] on the left, 2 * x[n-1] - x[n-2 .. n-1-pad] on the right */
    for (ptrdiff_t k = 1; k <= pad; k++) {
        for (int l = 0; l < L; l++) {
            buf[(pad - k) * L + l] = 2.0 * x[l] - x[k * L + l];
            x[(n - 1 + k) * L + l] = 2.0 * x[(n - 1) * L + l] - x[(n - 1 - k) * L + l];
        }
    }
    const ptrdiff_t m = n + 2 * pad;
    for (int s = 0; s < 2 * n_sections; s++)
        for (int l = 0; l < L; l++) state[s * L + l] = zi_base[s] * buf[l];
    ee_sosfilt(sos, n_sections, buf, m, L, state);
    /* backward pass from the last sample, started from the steady state of the last output */
    for (int s = 0; s < 2 * n_sections; s++)
        for (int l = 0; l < L; l++) state[s * L + l] = zi_base[s] * buf[(m - 1) * L + l];
    sosfilt_dir(sos, n_sections, buf, m, L, state, 1);
}

int ee_sosfiltfilt(const double *sos, int n_sections, double *x, ptrdiff_t n, int L) {
    const ptrdiff_t pad = ee_filtfilt_padlen(sos, n_sections);
    if (n <= pad) return EE_ETOOSHORT;
    double *buf = malloc(sizeof(double) * (size_t)(n + 2 * pad) * (size_t)L);
    double *zi = malloc(sizeof(double) * (size_t)(2 * n_sections) * (size_t)(L + 1));
    if (!buf || !zi) {
        free(buf);
        free(zi);
        return EE_ENOMEM;
    }
    memcpy(buf + pad * L, x, sizeof(double) * (size_t)n * (size_t)L);
    double *state = zi + 2 * n_sections;
    ee_sosfilt_zi(sos, n_sections, zi);
    filtfilt_ext(sos, n_sections, buf, n, pad, L, zi, state);
    memcpy(x, buf + pad * L, sizeof(double) * (size_t)n * (size_t)L);
    free(buf);
    free(zi);
    return EE_OK;
}

/* ------------------------------------------------------------------------------------- median -- */
/* Sliding median over a sorted window: each step removes the outgoing value and inserts the
 * incoming one by binary search and memmove, O(log k + k) with a tiny constant, against
 * O(k) selection with a full copy per output in scipy. */
static ptrdiff_t lower_bound(const double *a, ptrdiff_t len, double v) {
    ptrdiff_t lo = 0, hi = len;
    while (lo < hi) {
        const ptrdiff_t mid = (lo + hi) >> 1;
        if (a[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void medfilt_lead(const double *x, ptrdiff_t xs, double *out, ptrdiff_t os, ptrdiff_t n, int k, double *win) {
    const int h = k / 2;
    /* initial window centred on sample 0: h zeros, then x[0 .. h] (zeros again past the end) */
    int len = 0;
    for (int i = -h; i <= h; i++) {
        const double v = (i < 0 || i >= n) ? 0.0 : x[i * xs];
        const ptrdiff_t pos = lower_bound(win, len, v);
        memmove(win + pos + 1, win + pos, sizeof(double) * (size_t)(len - pos));
        win[pos] = v;
        len++;
    }
    out[0] = win[h];
    for (ptrdiff_t t = 1; t < n; t++) {
        const ptrdiff_t gone = t - 1 - h, come = t + h;
        const double vo = (gone < 0 || gone >= n) ? 0.0 : x[gone * xs];
        const double vi = (come < 0 || come >= n) ? 0.0 : x[come * xs];
        if (vo != vi) {
            ptrdiff_t po = lower_bound(win, k, vo);
            ptrdiff_t pi = lower_bound(win, k, vi);
            if (pi > po) {
                /* shift (po, pi) left by one, insert at pi - 1 */
                memmove(win + po, win + po + 1, sizeof(double) * (size_t)(pi - 1 - po));
                win[pi - 1] = vi;
            } else {
                memmove(win + pi + 1, win + pi, sizeof(double) * (size_t)(po - pi));
                win[pi] = vi;
            }
        }
        out[t * os] = win[h];
    }
}

/* Large windows: medians in rank space. A segment of the zero-padded input is sorted once, which
 * replaces every sample by its rank; a window is then a bitset over ranks and its median is the set
 * bit with h set bits below it. Sliding sets one bit and clears one, and the median moves to a
 * neighbouring set bit (count-trailing/leading-zeros on words). Segments are bounded (a few dozen
 * windows long) so that the gaps between set bits stay within a word or two whatever the record's
 * length. Exact: every output is the value of the median sample.
 *
 * Two-stage baseline removal shares the sort: a first-stage median is one of the segment's samples,
 * so its rank is known, and the second stage slides over those ranks (a multiset: a sample can be the
 * median of many windows; counts per rank beside the bitset) without sorting anything again. */
#define EE_MED_SEG_WINDOWS 32

static inline uint32_t f32_order_key(double d) {
    const float f = (float)d;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u >> 31) ? ~u : (u | 0x80000000u);
}

#if defined(__GNUC__)
#define EE_CTZ64(v) __builtin_ctzll(v)
#define EE_CLZ64(v) __builtin_clzll(v)
#define EE_POP64(v) __builtin_popcountll(v)
#else
static int EE_CTZ64(uint64_t v) { int c = 0; while (!(v & 1)) { v >>= 1; c++; } return c; }
static int EE_CLZ64(uint64_t v) { int c = 0; while (!(v >> 63)) { v <<= 1; c++; } return c; }
static int EE_POP64(uint64_t v) { int c = 0; while (v) { v &= v - 1; c++; } return c; }
#endif

/* (value, position) order, for the heap sort of a long run of equal keys */
static inline int pos_before(const double *v, int32_t a, int32_t b) { return v[a] < v[b] || (v[a] == v[b] && a < b); }

static void heap_sift(const double *v, int32_t *o, ptrdiff_t i, ptrdiff_t n) {
    for (;;) {
        ptrdiff_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && pos_before(v, o[c], o[c + 1])) c++;
        if (!pos_before(v, o[i], o[c])) return;
        const int32_t t = o[i];
        o[i] = o[c];
        o[c] = t;
        i = c;
    }
}

static void heap_sort_pos(const double *v, int32_t *o, ptrdiff_t n) {
    for (ptrdiff_t i = n / 2 - 1; i >= 0; i--) heap_sift(v, o, i, n);
    for (ptrdiff_t e = n - 1; e > 0; e--) {
        const int32_t t = o[0];
        o[0] = o[e];
        o[e] = t;
        heap_sift(v, o, 0, e);
    }
}

/* ord[r] = the position of rank r in v[0 .. N) ordered by (value, position); rank[] its inverse.
 * One counting-sort pass on a key of B = ceil(log2 N) - 1 bits (4 to 16; measured a little faster than
 * one bucket per sample) that is monotone in the
 * value: the value mapped linearly onto [0, 2^B) between the segment's minimum and maximum (an ECG
 * segment spans a small range, so equal keys nearly always hold equal values), or, if that range is
 * not finite, the top B bits of the float32 order key. Runs of equal keys are then put in exact
 * order: insertion sort when short, heap sort when long (a segment whose values crowd into one key,
 * e.g. beside a huge spike), so the cost stays O(N log N) whatever the data. key: N uint16,
 * hist: 65536 uint32. */
static int key_bits(ptrdiff_t N) {
    int B = 4;
    while (B < 16 && ((ptrdiff_t)2 << B) < N) B++;
    return B;
}

static EE_HOT_INT void rank_order(const double *v, ptrdiff_t N, uint16_t *key, uint32_t *hist, int32_t *ord, int32_t *rank,
                       double *sv) {
    const int B = key_bits(N);
    const uint32_t top = ((uint32_t)1 << B) - 1;
    double lo = v[0], hi = v[0];
    for (ptrdiff_t i = 1; i < N; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    const double scale = (double)top / (hi - lo);
    memset(hist, 0, sizeof(uint32_t) * ((size_t)top + 1));
    if (hi - lo < INFINITY && scale < INFINITY) { /* false for inf/NaN data and for hi == lo */
        const double cap = (double)top;
        for (ptrdiff_t i = 0; i < N; i++) {
            const double q = (v[i] - lo) * scale;
            key[i] = (uint16_t)(q < cap ? q : cap);
        }
    } else {
        for (ptrdiff_t i = 0; i < N; i++) key[i] = (uint16_t)(f32_order_key(v[i]) >> (32 - B));
    }
    for (ptrdiff_t i = 0; i < N; i++) hist[key[i]]++;
    uint32_t pos = 0;
    for (uint32_t c = 0; c <= top; c++) {
        const uint32_t cnt = hist[c];
        hist[c] = pos;
        pos += cnt;
    }
    for (ptrdiff_t i = 0; i < N; i++) {
        const uint32_t d = hist[key[i]]++;
        ord[d] = (int32_t)i;
        sv[d] = v[i];
    }
    /* exact order inside runs of equal keys (positions ascend within a run: the pass is stable); a
     * smaller key means a smaller value, so only runs can be out of order, and usually none is */
    ptrdiff_t unsorted = 0;
    for (ptrdiff_t r = 1; r < N; r++) unsorted += sv[r] < sv[r - 1];
    for (ptrdiff_t s = 0; unsorted && s < N;) {
        const uint16_t k0 = key[ord[s]];
        ptrdiff_t e = s + 1;
        while (e < N && key[ord[e]] == k0) e++;
        if (e - s > 1) {
            ptrdiff_t r = s + 1;
            while (r < e && v[ord[r - 1]] <= v[ord[r]]) r++;
            if (r < e) {
                if (e - s <= 64) {
                    for (; r < e; r++) {
                        const int32_t cur = ord[r];
                        const double cv = v[cur];
                        ptrdiff_t q = r - 1;
                        while (q >= s && v[ord[q]] > cv) {
                            ord[q + 1] = ord[q];
                            q--;
                        }
                        ord[q + 1] = cur;
                    }
                } else {
                    heap_sort_pos(v, ord + s, e - s);
                }
            }
        }
        s = e;
    }
    if (unsorted)
        for (ptrdiff_t r = 0; r < N; r++) sv[r] = v[ord[r]];
    for (ptrdiff_t r = 0; r < N; r++) rank[ord[r]] = (int32_t)r;
}

/* The sliding windows' bitsets keep rank p at bit p + 128, behind two guard words, the second's top
 * bit standing for rank -1; a guard bit sits just past the last word in use and a zero word after it.
 * Searches for the neighbouring set bit then need no bounds checks, and look at two words at once
 * without branching on which holds it (at the densities here a gap often crosses a word; measured
 * ~10 % faster than a loop over words). */
#define EE_BSET(B, p) ((B)[((p) + 128) >> 6] |= (uint64_t)1 << ((p) & 63))
#define EE_BCLR(B, p) ((B)[((p) + 128) >> 6] &= ~((uint64_t)1 << ((p) & 63)))

static inline ptrdiff_t set_above(const uint64_t *B, ptrdiff_t p) {
    const ptrdiff_t q = p + 129; /* bit index of p + 1 */
    ptrdiff_t wi = q >> 6;
    const uint64_t m0 = B[wi] & (~(uint64_t)0 << (q & 63)), m1 = B[wi + 1];
    if (m0 | m1) {
        const uint64_t m = m0 ? m0 : m1;
        wi += m0 ? 0 : 1;
        return (wi << 6) + EE_CTZ64(m) - 128;
    }
    wi += 2;
    uint64_t m = B[wi];
    while (!m) m = B[++wi];
    return (wi << 6) + EE_CTZ64(m) - 128;
}

static inline ptrdiff_t set_below(const uint64_t *B, ptrdiff_t p) {
    const ptrdiff_t q = p + 127; /* bit index of p - 1 */
    ptrdiff_t wi = q >> 6;
    const int sh = 63 - (int)(q & 63);
    const uint64_t m0 = (B[wi] << sh) >> sh, m1 = B[wi - 1]; /* keep bits 0 .. q & 63 */
    if (m0 | m1) {
        const uint64_t m = m0 ? m0 : m1;
        wi -= m0 ? 0 : 1;
        return (wi << 6) + 63 - EE_CLZ64(m) - 128;
    }
    wi -= 2;
    uint64_t m = B[wi];
    while (!m) m = B[--wi];
    return (wi << 6) + 63 - EE_CLZ64(m) - 128;
}

/* the set bit with `need` set bits below it */
static ptrdiff_t nth_set(const uint64_t *B, ptrdiff_t nw, ptrdiff_t need) {
    for (ptrdiff_t wi = 2; wi <= nw + 1; wi++) {
        const int c = EE_POP64(B[wi]);
        if (need < c) {
            uint64_t v = B[wi];
            for (ptrdiff_t z = 0; z < need; z++) v &= v - 1;
            return ((wi - 2) << 6) + EE_CTZ64(v);
        }
        need -= c;
    }
    return -1;
}

/* Medians of the M windows r[j .. j + k) (distinct ranks below 64 nw; their bits all clear on entry
 * and on return), as ranks in med_out. After one rank comes in and one goes out, the median is the
 * old one or a neighbouring set bit. (Finding both neighbours and choosing one without a branch was
 * measured slower.) */
static EE_HOT_INT void slide_distinct(const int32_t *r, ptrdiff_t M, int k, uint64_t *B, ptrdiff_t nw, int32_t *med_out) {
    const ptrdiff_t h = k / 2;
    for (int i = 0; i < k; i++) EE_BSET(B, r[i]);
    ptrdiff_t med = nth_set(B, nw, h), below = h;
    med_out[0] = (int32_t)med;
    for (ptrdiff_t j = 1; j < M; j++) {
        const int32_t ri = r[j + k - 1], ro = r[j - 1];
        EE_BSET(B, ri);
        EE_BCLR(B, ro);
        below += (ri < med) - (ro < med);
        if (ro == med) { /* nothing lies between the median and its neighbours: no count changes */
            if (below == h) {
                med = set_above(B, med);
            } else {
                med = set_below(B, med);
                below--;
            }
        } else if (below > h) {
            med = set_below(B, med);
            below--;
        } else if (below < h) {
            med = set_above(B, med);
            below++;
        }
        med_out[j] = (int32_t)med;
    }
    for (ptrdiff_t i = M - 1; i < M - 1 + k; i++) EE_BCLR(B, r[i]);
}

/* The same over ranks that repeat (cnt[] all zero on entry and on return): the median is the rank
 * with below <= h < below + cnt[med], below counting the window's entries of lower rank. One move to
 * a neighbour restores that after each step. */
static EE_HOT_INT void slide_multi(const int32_t *r, ptrdiff_t M, int k, uint64_t *B, int32_t *cnt, int32_t *med_out) {
    const ptrdiff_t h = k / 2;
    for (int i = 0; i < k; i++) {
        cnt[r[i]]++;
        EE_BSET(B, r[i]);
    }
    ptrdiff_t med = set_above(B, -1), below = 0;
    while (below + cnt[med] <= h) {
        below += cnt[med];
        med = set_above(B, med);
    }
    med_out[0] = (int32_t)med;
    for (ptrdiff_t j = 1; j < M; j++) {
        const int32_t ri = r[j + k - 1], ro = r[j - 1];
        if (ri != ro) {
            cnt[ri]++;
            EE_BSET(B, ri);
            below += (ri < med) - (ro < med);
            if (--cnt[ro] == 0) EE_BCLR(B, ro);
            if (below > h) {
                med = set_below(B, med);
                below -= cnt[med];
            } else if (below + cnt[med] <= h) { /* also when the median's last copy left */
                below += cnt[med];
                med = set_above(B, med);
            }
        }
        med_out[j] = (int32_t)med;
    }
    for (ptrdiff_t i = M - 1; i < M - 1 + k; i++) {
        cnt[r[i]] = 0;
        EE_BCLR(B, r[i]);
    }
}

/* Segment geometry: m outputs per segment need m + 2 h2 first-stage medians, which need
 * m + 2 h1 + 2 h2 samples. k2 = 0: one stage. */
static ptrdiff_t medrank_seg(ptrdiff_t n, int k1, int k2) {
    /* equal segments of at most EE_MED_SEG_WINDOWS windows of the wider stage */
    const ptrdiff_t most = (ptrdiff_t)EE_MED_SEG_WINDOWS * (k1 > k2 ? k1 : k2);
    const ptrdiff_t nseg = (n + most - 1) / most;
    return nseg > 1 ? (n + nseg - 1) / nseg : n;
}

static size_t medrank_bytes(ptrdiff_t n, int k1, int k2) {
    const ptrdiff_t N = medrank_seg(n, k1, k2) + (k1 - 1) + (k2 > 0 ? k2 - 1 : 0);
    /* bits, xp, sv (8 bytes each); ord, rank, r1, r2, cnt (4 bytes each); key (2); the histogram */
    return ((size_t)N / 64 + 5) * 8 + (size_t)N * (8 * 2 + 4 * 5 + 2) + sizeof(uint32_t) * ((size_t)1 << key_bits(N)) + 8;
}

/* Median of width k1 of the zero-padded lead x (stride xs), then, if k2 > 0, median of width k2 of
 * that (zero-padded again). out[t * os] = the result, or x[t] minus it when subtract is set. */
static void medfilt_rank2(const double *x, ptrdiff_t xs, double *out, ptrdiff_t os, ptrdiff_t n, int k1, int k2,
                          int subtract, void *mem) {
    const ptrdiff_t h1 = k1 / 2, h2 = k2 > 0 ? k2 / 2 : 0;
    const ptrdiff_t seg = medrank_seg(n, k1, k2);
    const ptrdiff_t Nmax = seg + 2 * h1 + 2 * h2;
    uint64_t *bits = (uint64_t *)mem;
    double *xp = (double *)(bits + Nmax / 64 + 5), *sv = xp + Nmax;
    int32_t *ord = (int32_t *)(sv + Nmax), *rank = ord + Nmax, *r1 = rank + Nmax, *r2 = r1 + Nmax, *cnt = r2 + Nmax;
    uint32_t *hist = (uint32_t *)(cnt + Nmax);
    uint16_t *key = (uint16_t *)(hist + ((size_t)1 << key_bits(Nmax)));
    memset(bits, 0, sizeof(uint64_t) * (size_t)(Nmax / 64 + 5));
    bits[1] = (uint64_t)1 << 63; /* rank -1 */
    memset(cnt, 0, sizeof(int32_t) * (size_t)Nmax);
    for (ptrdiff_t s0 = 0; s0 < n; s0 += seg) {
        const ptrdiff_t m = (n - s0) < seg ? (n - s0) : seg; /* outputs in this segment */
        const ptrdiff_t M1 = m + 2 * h2, N = M1 + 2 * h1, first = s0 - h1 - h2;
        for (ptrdiff_t i = 0; i < N; i++) {
            const ptrdiff_t t = first + i;
            xp[i] = (t < 0 || t >= n) ? 0.0 : x[t * xs];
        }
        rank_order(xp, N, key, hist, ord, rank, sv);
        const ptrdiff_t nw = (N + 63) >> 6;
        bits[nw + 2] = 1; /* rank 64 nw: past the last */
        slide_distinct(rank, M1, k1, bits, nw, r1);
        const int32_t *res = r1;
        if (k2 > 0) {
            /* first-stage outputs outside the record are the second stage's zero padding: the rank of
             * a padding zero (the sample at that very position is one) */
            for (ptrdiff_t j = 0; j < M1; j++) {
                const ptrdiff_t t = s0 - h2 + j;
                if (t < 0 || t >= n) r1[j] = rank[j + h1];
            }
            slide_multi(r1, m, k2, bits, cnt, r2);
            res = r2;
        }
        bits[nw + 2] = 0;
        for (ptrdiff_t j = 0; j < m; j++) {
            const double med = sv[res[j]];
            out[(s0 + j) * os] = subtract ? xp[j + h1 + h2] - med : med;
        }
    }
}

/* Below this window length the sorted window is cheaper than the rank machinery. */
#ifndef EE_MED_BLOCK_MIN
#define EE_MED_BLOCK_MIN 16
#endif

static size_t med_scratch_bytes(ptrdiff_t n, int k) {
    return k >= EE_MED_BLOCK_MIN ? medrank_bytes(n, k, 0) : sizeof(double) * (size_t)k;
}

static void medfilt_any(const double *x, ptrdiff_t xs, double *out, ptrdiff_t os, ptrdiff_t n, int k, void *mem) {
    if (k >= EE_MED_BLOCK_MIN) medfilt_rank2(x, xs, out, os, n, k, 0, 0, mem);
    else medfilt_lead(x, xs, out, os, n, k, (double *)mem);
}

int ee_medfilt(const double *x, double *out, ptrdiff_t n, int L, int k) {
    if (k < 1 || (k & 1) == 0) return EE_EINVAL;
    void *mem = malloc(med_scratch_bytes(n, k));
    if (!mem) return EE_ENOMEM;
    for (int l = 0; l < L; l++) medfilt_any(x + l, L, out + l, L, n, k, mem);
    free(mem);
    return EE_OK;
}

static void *work_get(ee_work *w, int slot, size_t bytes) {
    if (!w) return malloc(bytes ? bytes : 1);
    if (w->cap[slot] < bytes) {
        void *q = realloc(w->p[slot], bytes);
        if (!q) return NULL;
        w->p[slot] = q;
        w->cap[slot] = bytes;
    }
    return w->p[slot];
}

static void work_put(ee_work *w, void *q) {
    if (!w) free(q);
}

void ee_work_free(ee_work *w) {
    for (int i = 0; i < EE_WORK_SLOTS; i++) {
        free(w->p[i]);
        w->p[i] = NULL;
        w->cap[i] = 0;
    }
}

static int remove_baseline_w(double *x, ptrdiff_t n, int L, ptrdiff_t ld, int k1, int k2, ee_work *w);

int ee_remove_baseline(double *x, ptrdiff_t n, int L, int k1, int k2) {
    return remove_baseline_w(x, n, L, L, k1, k2, NULL);
}

int ee_remove_baseline_rows(double *x, ptrdiff_t n, int L, int k1, int k2) {
    if (n <= 0 || L <= 0) return EE_OK; /* nothing to do (and no zero-byte scratch to mistake for ENOMEM) */
    ee_work w;
    memset(&w, 0, sizeof w);
    int rc = EE_OK;
    for (int l = 0; l < L && rc == EE_OK; l++) rc = remove_baseline_w(x + (ptrdiff_t)l * n, n, 1, 1, k1, k2, &w);
    ee_work_free(&w);
    return rc;
}

/* Rows of x are ld apart; only the first L lanes are leads. Both stages wide enough for the rank
 * machinery share one sort per segment; otherwise the stages run one after the other. */
static int remove_baseline_w(double *x, ptrdiff_t n, int L, ptrdiff_t ld, int k1, int k2, ee_work *w) {
    if (k1 <= 0 && k2 <= 0) return EE_OK;
    if (k1 <= 0) {
        k1 = k2;
        k2 = 0;
    }
    const int shared = k2 > 0 && k1 >= EE_MED_BLOCK_MIN && k2 >= EE_MED_BLOCK_MIN;
    size_t s1 = shared ? medrank_bytes(n, k1, k2) : med_scratch_bytes(n, k1);
    const size_t s2 = !shared && k2 > 0 ? med_scratch_bytes(n, k2) : 0;
    double *win = work_get(w, 3, s1 > s2 ? s1 : s2);
    double *a = work_get(w, 4, sizeof(double) * (size_t)n);
    double *b = work_get(w, 5, sizeof(double) * (size_t)n);
    if (!win || !a || !b) {
        work_put(w, win);
        work_put(w, a);
        work_put(w, b);
        return EE_ENOMEM;
    }
    for (int l = 0; l < L; l++) {
        if (shared) {
            medfilt_rank2(x + l, ld, a, 1, n, k1, k2, 1, win);
            for (ptrdiff_t t = 0; t < n; t++) x[t * ld + l] = a[t];
            continue;
        }
        const double *base = a;
        medfilt_any(x + l, ld, a, 1, n, k1, win);
        if (k2 > 0) {
            medfilt_any(a, 1, b, 1, n, k2, win);
            base = b;
        }
        for (ptrdiff_t t = 0; t < n; t++) x[t * ld + l] -= base[t];
    }
    work_put(w, win);
    work_put(w, a);
    work_put(w, b);
    return EE_OK;
}

/* ---------------------------------------------------------------------------------- resample -- */
#define EE_RS_BLOCK(B)                                                                                         \
    static EE_HOT void rs_block##B(const double *restrict x, ptrdiff_t n, ptrdiff_t x_start, int L, int l0,     \
                                   const double *restrict h, ptrdiff_t H, int up, int down, ptrdiff_t pre_remove, \
                                   ptrdiff_t j0, ptrdiff_t n_out, double *restrict y) {                         \
        for (ptrdiff_t j = 0; j < n_out; j++) {                                                                \
            double acc[B];                                                                                     \
            for (int i = 0; i < B; i++) acc[i] = 0.0;                                                          \
            const ptrdiff_t t = (j0 + j + pre_remove) * (ptrdiff_t)down;                                       \
            ptrdiff_t p_hi = t / up;                                                                           \
            ptrdiff_t p_lo = t - (H - 1) <= 0 ? 0 : (t - (H - 1) + up - 1) / up;                               \
            if (p_lo < x_start) p_lo = x_start;                                                                \
            if (p_hi > x_start + n - 1) p_hi = x_start + n - 1;                                                \
            for (ptrdiff_t p = p_lo; p <= p_hi; p++) {                                                         \
                const double c = h[t - p * up];                                                                \
                const double *restrict row = x + (p - x_start) * L + l0;                                       \
                for (int i = 0; i < B; i++) acc[i] += c * row[i];                                              \
            }                                                                                                  \
            for (int i = 0; i < B; i++) y[j * L + l0 + i] = acc[i];                                            \
        }                                                                                                      \
    }
EE_RS_BLOCK(8)
EE_RS_BLOCK(4)
EE_RS_BLOCK(2)
EE_RS_BLOCK(1)

#if EE_VEC
/* Outputs of up to 16 leads at once as one or two 8-lead vectors plus an optional 4-lead vector,
 * four partial sums each to break the accumulation chain. An 8-lead vector is one zmm register in
 * the AVX-512 clone, two ymm in the AVX2 clone, four xmm by default. */
#define EE_RS_VEC(NAME, N8, N4)                                                                                \
    static EE_HOT void NAME(const double *restrict x, ptrdiff_t n, ptrdiff_t x_start, int L, int l0,           \
                            const double *restrict h, ptrdiff_t H, int up, int down, ptrdiff_t pre_remove,       \
                            ptrdiff_t j0, ptrdiff_t n_out, double *restrict y, ptrdiff_t fa, ptrdiff_t fb) {   \
        for (ptrdiff_t j = 0; j < n_out; j++) {                                                                \
            /* four partial sums per vector (taps p, p+1, p+2, p+3) keep four independent chains */            \
            ee_v8 a8[4][N8 > 0 ? N8 : 1];                                                                      \
            ee_v4 a4[4][N4 > 0 ? N4 : 1];                                                                      \
            for (int q = 0; q < 4; q++) {                                                                      \
                for (int k = 0; k < N8; k++) a8[q][k] = (ee_v8){0, 0, 0, 0, 0, 0, 0, 0};                       \
                for (int k = 0; k < N4; k++) a4[q][k] = (ee_v4){0, 0, 0, 0};                                  \
            }                                                                                                  \
            const ptrdiff_t t = (j0 + j + pre_remove) * (ptrdiff_t)down;                                       \
            if (fb > fa && t - fb >= x_start && t - fa <= x_start + n - 1) {                                   \
                /* symmetric taps h[fa + i] == h[fb - i], all inputs present: fold the pairs, one add and  \
                 * one FMA per pair instead of two FMAs (adds and FMAs issue on different ports) */            \
                const double *lo = x + (t - fb - x_start) * L + l0, *hi = x + (t - fa - x_start) * L + l0;     \
                const ptrdiff_t half = (fb - fa + 1) / 2;                                                      \
                ptrdiff_t i = 0;                                                                               \
                for (; i + 3 < half; i += 4) {                                                                 \
                    for (int q = 0; q < 4; q++) {                                                              \
                        const double c = h[fb - i - q];                                                        \
                        const double *r1 = lo + (i + q) * L, *r2 = hi - (i + q) * L;                           \
                        for (int k = 0; k < N8; k++)                                                           \
                            a8[q][k] += c * (EE_LD(ee_v8, r1 + 8 * k) + EE_LD(ee_v8, r2 + 8 * k));             \
                        for (int k = 0; k < N4; k++)                                                           \
                            a4[q][k] += c * (EE_LD(ee_v4, r1 + 8 * N8 + 4 * k) + EE_LD(ee_v4, r2 + 8 * N8 + 4 * k)); \
                    }                                                                                          \
                }                                                                                              \
                for (; i < half; i++) {                                                                        \
                    const double c = h[fb - i];                                                                \
                    const double *r1 = lo + i * L, *r2 = hi - i * L;                                           \
                    for (int k = 0; k < N8; k++)                                                               \
                        a8[0][k] += c * (EE_LD(ee_v8, r1 + 8 * k) + EE_LD(ee_v8, r2 + 8 * k));                 \
                    for (int k = 0; k < N4; k++)                                                               \
                        a4[0][k] += c * (EE_LD(ee_v4, r1 + 8 * N8 + 4 * k) + EE_LD(ee_v4, r2 + 8 * N8 + 4 * k)); \
                }                                                                                              \
                if (((fb - fa) & 1) == 0) { /* the centre tap */                                               \
                    const double c = h[(fa + fb) / 2];                                                         \
                    const double *r = lo + half * L;                                                           \
                    for (int k = 0; k < N8; k++) a8[1][k] += c * EE_LD(ee_v8, r + 8 * k);                      \
                    for (int k = 0; k < N4; k++) a4[1][k] += c * EE_LD(ee_v4, r + 8 * N8 + 4 * k);             \
                }                                                                                              \
            } else {                                                                                           \
            ptrdiff_t p_hi = t / up;                                                                           \
            ptrdiff_t p_lo = t - (H - 1) <= 0 ? 0 : (t - (H - 1) + up - 1) / up;                               \
            if (p_lo < x_start) p_lo = x_start;                                                                \
            if (p_hi > x_start + n - 1) p_hi = x_start + n - 1;                                                \
            ptrdiff_t p = p_lo;                                                                                \
            for (; p + 3 <= p_hi; p += 4) {                                                                    \
                for (int q = 0; q < 4; q++) {                                                                  \
                    const double c = h[t - (p + q) * up];                                                      \
                    const double *r = x + (p + q - x_start) * L + l0;                                          \
                    for (int k = 0; k < N8; k++) {                                                             \
                        a8[q][k] += c * EE_LD(ee_v8, r + 8 * k);                                               \
                    }                                                                                          \
                    for (int k = 0; k < N4; k++) {                                                             \
                        a4[q][k] += c * EE_LD(ee_v4, r + 8 * N8 + 4 * k);                                      \
                    }                                                                                          \
                }                                                                                              \
            }                                                                                                  \
            for (; p <= p_hi; p++) {                                                                           \
                const double c = h[t - p * up];                                                                \
                const double *r = x + (p - x_start) * L + l0;                                                  \
                for (int k = 0; k < N8; k++) {                                                                 \
                    a8[0][k] += c * EE_LD(ee_v8, r + 8 * k);                                                   \
                }                                                                                              \
                for (int k = 0; k < N4; k++) {                                                                 \
                    a4[0][k] += c * EE_LD(ee_v4, r + 8 * N8 + 4 * k);                                          \
                }                                                                                              \
            }                                                                                                  \
            }                                                                                                  \
            double *o = y + j * L + l0;                                                                        \
            for (int k = 0; k < N8; k++) {                                                                     \
                EE_ST(ee_v8, o + 8 * k, (a8[0][k] + a8[1][k]) + (a8[2][k] + a8[3][k]));                        \
            }                                                                                                  \
            for (int k = 0; k < N4; k++) {                                                                     \
                EE_ST(ee_v4, o + 8 * N8 + 4 * k, (a4[0][k] + a4[1][k]) + (a4[2][k] + a4[3][k]));               \
            }                                                                                                  \
        }                                                                                                      \
    }
EE_RS_VEC(rs_16, 2, 0)
EE_RS_VEC(rs_12, 1, 1)
EE_RS_VEC(rs_8, 1, 0)
EE_RS_VEC(rs_4, 0, 1)
#endif

void ee_resample(const double *x, ptrdiff_t n, ptrdiff_t x_start, int L, const double *h, ptrdiff_t H, int up,
                 int down, ptrdiff_t pre_remove, ptrdiff_t j0, ptrdiff_t n_out, double *y) {
    int l0 = 0;
#if EE_VEC
    /* Decimation (up == 1) with a symmetric filter -- resample_poly's windowed sinc always is -- folds
     * mirrored taps: fa .. fb is the span of nonzero taps, fb > fa only when it is exactly symmetric. */
    ptrdiff_t fa = 0, fb = 0;
    if (up == 1) {
        ptrdiff_t a = 0, b = H - 1;
        while (a < H && h[a] == 0.0) a++;
        while (b > a && h[b] == 0.0) b--;
        int sym = b > a;
        for (ptrdiff_t i = 0; sym && a + i < b - i; i++) sym = h[a + i] == h[b - i];
        if (sym) fa = a, fb = b;
    }
    for (; l0 + 16 <= L; l0 += 16) rs_16(x, n, x_start, L, l0, h, H, up, down, pre_remove, j0, n_out, y, fa, fb);
    if (l0 + 12 <= L) {
        rs_12(x, n, x_start, L, l0, h, H, up, down, pre_remove, j0, n_out, y, fa, fb);
        l0 += 12;
    }
    if (l0 + 8 <= L) {
        rs_8(x, n, x_start, L, l0, h, H, up, down, pre_remove, j0, n_out, y, fa, fb);
        l0 += 8;
    }
    if (l0 + 4 <= L) {
        rs_4(x, n, x_start, L, l0, h, H, up, down, pre_remove, j0, n_out, y, fa, fb);
        l0 += 4;
    }
#endif
    for (; l0 + 8 <= L; l0 += 8) rs_block8(x, n, x_start, L, l0, h, H, up, down, pre_remove, j0, n_out, y);
    for (; l0 + 4 <= L; l0 += 4) rs_block4(x, n, x_start, L, l0, h, H, up, down, pre_remove, j0, n_out, y);
    for (; l0 + 2 <= L; l0 += 2) rs_block2(x, n, x_start, L, l0, h, H, up, down, pre_remove, j0, n_out, y);
    for (; l0 < L; l0++) rs_block1(x, n, x_start, L, l0, h, H, up, down, pre_remove, j0, n_out, y);
}

/* ------------------------------------------------------------------------------ normalisation -- */
static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile_sorted(const double *s, ptrdiff_t n, double q) {
    /* numpy.percentile's default ("linear") interpolation */
    const double pos = q * (double)(n - 1);
    const ptrdiff_t i = (ptrdiff_t)floor(pos);
    const double frac = pos - (double)i;
    if (i + 1 >= n) return s[n - 1];
    return s[i] + (s[i + 1] - s[i]) * frac;
}

static void normalize_w(double *x, ptrdiff_t n, int L, ptrdiff_t ld, int method, uint8_t *flags, ee_work *w);

void ee_normalize(double *x, ptrdiff_t n, int L, int method, uint8_t *flags) {
    normalize_w(x, n, L, L, method, flags, NULL);
}

static EE_HOT void lead_sums(const double *restrict x, ptrdiff_t n, int L, ptrdiff_t ld, double *restrict sum) {
    for (int l = 0; l < L; l++) sum[l] = 0.0;
    for (ptrdiff_t t = 0; t < n; t++)
        for (int l = 0; l < L; l++) sum[l] += x[t * ld + l];
}

static EE_HOT void lead_sq_dev(const double *restrict x, ptrdiff_t n, int L, ptrdiff_t ld, const double *restrict mean,
                               double *restrict ss) {
    for (int l = 0; l < L; l++) ss[l] = 0.0;
    for (ptrdiff_t t = 0; t < n; t++)
        for (int l = 0; l < L; l++) {
            const double d = x[t * ld + l] - mean[l];
            ss[l] += d * d;
        }
}

static EE_HOT void lead_apply(double *restrict x, ptrdiff_t n, int L, ptrdiff_t ld, const double *restrict shift,
                              const double *restrict scale) {
    for (ptrdiff_t t = 0; t < n; t++)
        for (int l = 0; l < L; l++) x[t * ld + l] = (x[t * ld + l] - shift[l]) / scale[l];
}

static void normalize_w(double *x, ptrdiff_t n, int L, ptrdiff_t ld, int method, uint8_t *flags, ee_work *w) {
    if (method == EE_NORM_NONE || n == 0) return;
    double *par = work_get(w, 3, sizeof(double) * 3 * (size_t)L);
    double *tmp = method == EE_NORM_ROBUST ? work_get(w, 4, sizeof(double) * (size_t)n) : NULL;
    if (!par || (method == EE_NORM_ROBUST && !tmp)) {
        /* out of memory: every lead flagged flat and zeroed, never garbage */
        for (ptrdiff_t t = 0; t < n; t++)
            for (int l = 0; l < L; l++) x[t * ld + l] = 0.0;
        for (int l = 0; l < L; l++) flags[l] |= 1;
        work_put(w, par);
        work_put(w, tmp);
        return;
    }
    double *shift = par, *scale = par + L, *aux = par + 2 * L;
    if (method == EE_NORM_ZSCORE) {
        lead_sums(x, n, L, ld, aux);
        for (int l = 0; l < L; l++) shift[l] = aux[l] / (double)n;
        lead_sq_dev(x, n, L, ld, shift, aux);
        for (int l = 0; l < L; l++) scale[l] = sqrt(aux[l] / (double)n);
    } else if (method == EE_NORM_L2) {
        for (int l = 0; l < L; l++) shift[l] = 0.0;
        lead_sq_dev(x, n, L, ld, shift, aux);
        for (int l = 0; l < L; l++) scale[l] = sqrt(aux[l]);
    } else if (method == EE_NORM_MINMAX) {
        for (int l = 0; l < L; l++) shift[l] = aux[l] = x[l];
        for (ptrdiff_t t = 1; t < n; t++)
            for (int l = 0; l < L; l++) {
                const double v = x[t * ld + l];
                shift[l] = v < shift[l] ? v : shift[l];
                aux[l] = v > aux[l] ? v : aux[l];
            }
        for (int l = 0; l < L; l++) scale[l] = aux[l] - shift[l];
    } else {
        for (int l = 0; l < L; l++) {
            for (ptrdiff_t t = 0; t < n; t++) tmp[t] = x[t * ld + l];
            qsort(tmp, (size_t)n, sizeof(double), cmp_double);
            shift[l] = quantile_sorted(tmp, n, 0.5);
            scale[l] = quantile_sorted(tmp, n, 0.75) - quantile_sorted(tmp, n, 0.25);
        }
    }
    int any_flat = 0;
    for (int l = 0; l < L; l++)
        /* no spread, or spread at rounding level against the offset (a constant lead's computed std
         * is ~1e-17, not 0): flat */
        if (!(scale[l] > 1e-9 * fabs(shift[l])) || !(scale[l] > 0.0) || !isfinite(scale[l])) {
            any_flat = 1;
            if (flags) flags[l] |= 1;
            shift[l] = 0.0;
            scale[l] = 1.0;
        }
    lead_apply(x, n, L, ld, shift, scale);
    if (any_flat)
        for (int l = 0; l < L; l++)
            if (flags && (flags[l] & 1))
                for (ptrdiff_t t = 0; t < n; t++) x[t * ld + l] = 0.0;
    work_put(w, par);
    work_put(w, tmp);
}

/* ----------------------------------------------------------------------------------- windows -- */
ptrdiff_t ee_window_count(ptrdiff_t n, ptrdiff_t window, ptrdiff_t stride, int cover_tail) {
    if (n <= window) return 1;
    ptrdiff_t w = 1 + (n - window) / stride;
    if (cover_tail && (n - window) % stride) w++;
    return w;
}

static void windows_ld(const double *x, ptrdiff_t n, int L, ptrdiff_t ld, ptrdiff_t window, ptrdiff_t stride,
                       int cover_tail, int pad, float *out);

void ee_windows(const double *x, ptrdiff_t n, int L, ptrdiff_t window, ptrdiff_t stride, int cover_tail, int pad,
                float *out) {
    windows_ld(x, n, L, L, window, stride, cover_tail, pad, out);
}

ptrdiff_t ee_window_start(ptrdiff_t n, ptrdiff_t window, ptrdiff_t stride, ptrdiff_t w) {
    if (n <= window) return 0;                                  /* one window, padded past the end */
    const ptrdiff_t start = w * stride;
    return start + window > n ? n - window : start;              /* the tail window, aligned to the end */
}

static void windows_ld(const double *x, ptrdiff_t n, int L, ptrdiff_t ld, ptrdiff_t window, ptrdiff_t stride,
                       int cover_tail, int pad, float *out) {
    const ptrdiff_t W = ee_window_count(n, window, stride, cover_tail);
    for (ptrdiff_t w = 0; w < W; w++) {
        const ptrdiff_t start = ee_window_start(n, window, stride, w);
        for (int l = 0; l < L; l++) {
            float *o = out + (w * L + l) * window;
            for (ptrdiff_t i = 0; i < window; i++) {
                const ptrdiff_t t = start + i;
                double v;
                if (t < n) v = x[t * ld + l];
                else if (pad == EE_PAD_EDGE) v = x[(n - 1) * ld + l];
                else if (pad == EE_PAD_WRAP) v = x[(t % n) * ld + l];
                else v = 0.0;
                o[i] = (float)v;
            }
        }
    }
}

static void to_planar_ld(const double *x, ptrdiff_t n, int L, ptrdiff_t ld, float *out) {
    for (int l = 0; l < L; l++)
        for (ptrdiff_t t = 0; t < n; t++) out[l * n + t] = (float)x[t * ld + l];
}

void ee_to_planar_f32(const double *x, ptrdiff_t n, int L, float *out) { to_planar_ld(x, n, L, L, out); }

/* ---------------------------------------------------------------------------- the fused chain -- */
ptrdiff_t ee_plan_out_len(const ee_plan *p, ptrdiff_t n) {
    if (!p->h) return n;
    const ptrdiff_t m = n * p->up;
    return m / p->down + (m % p->down != 0);
}

ptrdiff_t ee_plan_out_size(const ee_plan *p, ptrdiff_t n) {
    const ptrdiff_t m = ee_plan_out_len(p, n);
    if (p->window <= 0) return m * p->L;
    return ee_window_count(m, p->window, p->stride, p->cover_tail) * p->L * p->window;
}

/* Lanes in the working buffers: leads rounded up to whole vectors, the extra lanes held at zero, so
 * that the filters and the resampler run on full-width vectors only (12 leads: two 8-lane vectors
 * rather than one 8-lane and one 4-lane, half the instructions for a third more arithmetic). */
static ptrdiff_t lanes_for(int L) {
#if EE_VEC
    return ((ptrdiff_t)L + 3) & ~(ptrdiff_t)3;
#else
    return L;
#endif
}

static int filter_stage(const ee_plan *p, double *buf, ptrdiff_t n, ptrdiff_t pad, ptrdiff_t ld, double *zi,
                        ee_work *w) {
    double *x = buf + pad * ld;
    int rc = remove_baseline_w(x, n, p->L, ld, p->k1, p->k2, w);
    if (rc) return rc;
    if (!p->sos) return EE_OK;
    double *state = zi + 2 * p->n_sections;
    ee_sosfilt_zi(p->sos, p->n_sections, zi);
    if (p->zero_phase) {
        if (n <= pad) return EE_ETOOSHORT;
        filtfilt_ext(p->sos, p->n_sections, buf, n, pad, (int)ld, zi, state);
    } else {
        for (int s = 0; s < 2 * p->n_sections; s++)
            for (ptrdiff_t l = 0; l < ld; l++) state[s * ld + l] = zi[s] * x[l];
        ee_sosfilt(p->sos, p->n_sections, x, n, (int)ld, state);
    }
    return EE_OK;
}

int ee_run(const ee_plan *p, const void *src, int dtype, ptrdiff_t n, ptrdiff_t s_t, ptrdiff_t s_c, float *out,
           uint8_t *flags, ee_err *err, ee_work *work) {
    const int L = p->L;
    const ptrdiff_t ld = lanes_for(L);
    if (n <= 0) return EE_ETOOSHORT;
    const ptrdiff_t fpad = (p->sos && p->zero_phase) ? ee_filtfilt_padlen(p->sos, p->n_sections) : 0;
    const int resample = p->h != NULL;
    const ptrdiff_t pad1 = (p->filter_first || !resample) ? fpad : 0;
    const ptrdiff_t m = ee_plan_out_len(p, n);
    const ptrdiff_t pad2 = (!p->filter_first && resample) ? fpad : 0;
    int rc = EE_OK;
    double *buf1 = work_get(work, 0, sizeof(double) * (size_t)(n + 2 * pad1) * (size_t)ld);
    double *buf2 = resample ? work_get(work, 1, sizeof(double) * (size_t)(m + 2 * pad2) * (size_t)ld) : NULL;
    double *zi = work_get(work, 2, sizeof(double) * (size_t)(2 * (p->n_sections + 1)) * (size_t)(ld + 1));
    if (!buf1 || (resample && !buf2) || !zi) {
        rc = EE_ENOMEM;
        goto done;
    }
    for (int l = 0; l < L; l++) flags[l] = 0;
    double *x = buf1 + pad1 * ld;
    ee_load(src, dtype, n, s_t, s_c, p->gather, p->gain, p->baseline, L, ld, p->has_invalid, p->invalid, x);
    rc = ee_fix_nonfinite(x, n, (int)ld, p->nan_policy, p->max_gap, flags, err);
    if (rc) goto done;
    if (p->filter_first || !resample) {
        rc = filter_stage(p, buf1, n, pad1, ld, zi, work);
        if (rc) goto done;
    }
    double *y = x;
    if (resample) {
        y = buf2 + pad2 * ld;
        ee_resample(x, n, 0, (int)ld, p->h, p->H, p->up, p->down, p->pre_remove, 0, m, y);
        if (!p->filter_first) {
            rc = filter_stage(p, buf2, m, pad2, ld, zi, work);
            if (rc) goto done;
        }
    }
    normalize_w(y, m, L, ld, p->norm, flags, work);
    if (p->window > 0) windows_ld(y, m, L, ld, p->window, p->stride, p->cover_tail, p->pad, out);
    else to_planar_ld(y, m, L, ld, out);
done:
    work_put(work, buf1);
    work_put(work, buf2);
    work_put(work, zi);
    return rc;
}
