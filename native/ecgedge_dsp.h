/* ecgedge fused preprocessing kernel: the pure-C core (no Python).
 *
 * Working layout: a record is held "interleaved", double x[t * L + l] for sample t and lead l,
 * so that every per-sample loop runs over leads in contiguous memory and vectorises across leads
 * (an IIR filter is a serial recurrence in time but independent per lead).
 *
 * Semantics are defined by the numpy/scipy reference in ecgedge/dsp/reference.py; each function
 * names the scipy function it matches.
 */
#ifndef ECGEDGE_DSP_H
#define ECGEDGE_DSP_H

#include <stddef.h>
#include <stdint.h>

#define EE_OK 0
#define EE_ENOMEM 1
#define EE_EINVAL 2
#define EE_ENONFINITE 3
#define EE_ETOOSHORT 4
#define EE_EGAP 5

/* Source sample types for the fused load. */
enum ee_dtype { EE_I16 = 0, EE_I32 = 1, EE_F32 = 2, EE_F64 = 3 };

/* Normalisation methods. */
enum ee_norm { EE_NORM_NONE = 0, EE_NORM_ZSCORE = 1, EE_NORM_MINMAX = 2, EE_NORM_ROBUST = 3, EE_NORM_L2 = 4 };

/* Padding of records shorter than one window. */
enum ee_pad { EE_PAD_ZEROS = 0, EE_PAD_EDGE = 1, EE_PAD_WRAP = 2 };

typedef struct {
    /* where an error happened, for the Python layer's message */
    int lead;
    ptrdiff_t sample;
    ptrdiff_t length;
} ee_err;

/* Gather leads from a source buffer, convert to physical units ((v - baseline) / gain) and write
 * interleaved doubles, rows ld apart (lanes L..ld-1 set to 0). The source is addressed as
 * src[t * s_t + c * s_c] for channel c = gather[l]. */
void ee_load(const void *src, int dtype, ptrdiff_t n, ptrdiff_t s_t, ptrdiff_t s_c, const int32_t *gather,
             const double *gain, const double *baseline, int L, ptrdiff_t ld, int has_invalid, int64_t invalid,
             double *out);

/* Non-finite samples: policy 0 rejects (EE_ENONFINITE, err says where); policy 1 linearly
 * interpolates runs of at most max_gap samples (holding the nearest value at the edges) and
 * sets flags[l] |= 2 for a lead that was repaired; a longer run is EE_EGAP. */
int ee_fix_nonfinite(double *x, ptrdiff_t n, int L, int policy, ptrdiff_t max_gap, uint8_t *flags, ee_err *err);

/* scipy.signal.sosfilt_zi for n_sections second-order sections (rows b0 b1 b2 a0 a1 a2, a0 == 1). */
void ee_sosfilt_zi(const double *sos, int n_sections, double *zi);

/* scipy.signal.sosfilt along time for every lead, state zi[(s * 2 + k) * L + l] updated in place. */
void ee_sosfilt(const double *sos, int n_sections, double *x, ptrdiff_t n, int L, double *zi);

/* scipy.signal.sosfiltfilt(sos, x, padtype="odd") in place; n must exceed ee_filtfilt_padlen(). */
int ee_sosfiltfilt(const double *sos, int n_sections, double *x, ptrdiff_t n, int L);
ptrdiff_t ee_filtfilt_padlen(const double *sos, int n_sections);

/* scipy.signal.medfilt(x, k) per lead (zero padding at the edges), k odd. */
int ee_medfilt(const double *x, double *out, ptrdiff_t n, int L, int k);

/* Baseline-wander removal: x -= medfilt(medfilt(x, k1), k2), k1/k2 odd (0 skips a stage). */
int ee_remove_baseline(double *x, ptrdiff_t n, int L, int k1, int k2);
/* The same on lead-major data, x[L][n]. */
int ee_remove_baseline_rows(double *x, ptrdiff_t n, int L, int k1, int k2);

/* Polyphase FIR resampling as scipy.signal.resample_poly with the filter h already scaled by up and
 * padded as resample_poly pads it. Computes outputs j0 .. j0 + n_out - 1 of the kept sequence,
 * i.e. upfirdn outputs m = j + pre_remove; input samples outside [0, n) are zero. The input may
 * be a window of a longer stream: x[0] is absolute sample `x_start`. */
void ee_resample(const double *x, ptrdiff_t n, ptrdiff_t x_start, int L, const double *h, ptrdiff_t H, int up,
                 int down, ptrdiff_t pre_remove, ptrdiff_t j0, ptrdiff_t n_out, double *y);

/* Per-lead normalisation in place; flags[l] |= 1 for a flat lead (zero spread), which becomes 0. */
void ee_normalize(double *x, ptrdiff_t n, int L, int method, uint8_t *flags);

/* Cut windows [W, L, window] (float32, planar inside a window) from interleaved x. */
ptrdiff_t ee_window_count(ptrdiff_t n, ptrdiff_t window, ptrdiff_t stride, int cover_tail);
/* First sample of window w: the one definition, which ee_windows cuts by and run() reports. */
ptrdiff_t ee_window_start(ptrdiff_t n, ptrdiff_t window, ptrdiff_t stride, ptrdiff_t w);
void ee_windows(const double *x, ptrdiff_t n, int L, ptrdiff_t window, ptrdiff_t stride, int cover_tail, int pad,
                float *out);

/* Interleaved double [n, L] -> planar float32 [L, n]. */
void ee_to_planar_f32(const double *x, ptrdiff_t n, int L, float *out);

/* The whole chain for one record. */
typedef struct {
    int L;                      /* leads out */
    const int32_t *gather;      /* source channel of each lead (NULL: identity) */
    const double *gain;         /* per lead, NULL: samples are already physical */
    const double *baseline;     /* per lead, NULL: 0 */
    int has_invalid;            /* digital "no sample" code -> NaN */
    int64_t invalid;
    int nan_policy;             /* 0 reject, 1 interpolate gaps up to max_gap samples */
    ptrdiff_t max_gap;
    int filter_first;           /* 1: baseline + band-pass at the source rate, then resample */
    int k1, k2;                 /* baseline medians in samples at the rate where they run (0: off) */
    const double *sos;          /* band-pass sections at the rate where they run (NULL: off) */
    int n_sections;
    int zero_phase;             /* 1: sosfiltfilt, 0: causal sosfilt from the steady state of x[0] */
    const double *h;            /* resampling filter (NULL: no resampling) */
    ptrdiff_t H;
    int up, down;
    ptrdiff_t pre_remove;
    int norm;                   /* enum ee_norm */
    ptrdiff_t window, stride;   /* window 0: output the whole record, planar [L, n_out] */
    int cover_tail, pad;
} ee_plan;

/* Output samples per lead after resampling (before windowing). */
ptrdiff_t ee_plan_out_len(const ee_plan *p, ptrdiff_t n);
/* Floats written to out for a record of n samples. */
ptrdiff_t ee_plan_out_size(const ee_plan *p, ptrdiff_t n);
/* Scratch memory reused across records: large buffers come from mmap and fault in on every first
 * touch, which costs more than the arithmetic for one 10-second record. NULL: allocate per call. */
#define EE_WORK_SLOTS 6
typedef struct {
    void *p[EE_WORK_SLOTS];
    size_t cap[EE_WORK_SLOTS];
} ee_work;
void ee_work_free(ee_work *w);

int ee_run(const ee_plan *p, const void *src, int dtype, ptrdiff_t n, ptrdiff_t s_t, ptrdiff_t s_c, float *out,
           uint8_t *flags, ee_err *err, ee_work *work);

#endif
