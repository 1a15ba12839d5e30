/* ecgedge signal-quality features: the pure-C core of ecgedge/quality.py's features().
 *
 * The numpy function is the reference and defines every feature; this computes the same ones in one
 * call (about 20x faster: numpy spends its time in the ~250 small operations the features take, not
 * in arithmetic). Records are planar float32 x[l * n + t], physical units (mV).
 */
#ifndef ECGEDGE_QUALITY_H
#define ECGEDGE_QUALITY_H

#include <stddef.h>

/* Columns of the output, out[l * EE_Q_N + column]: the keys of features()' dict, in this order. */
enum {
    EE_Q_INVALID, EE_Q_GAP_S, EE_Q_RANGE, EE_Q_HF, EE_Q_ACTIVITY, EE_Q_REFERENCE, EE_Q_STILL_S, EE_Q_FLOOR,
    EE_Q_OWN_FLOOR, EE_Q_BUSY, EE_Q_BASELINE, EE_Q_JUMP, EE_Q_CLIP_SHARE, EE_Q_CLIP_RUNS, EE_Q_HUM50, EE_Q_HUM60,
    EE_Q_BPM, EE_Q_RR_OK, EE_Q_N
};

typedef struct {
    double fs;
    double flat_mV;         /* leads whose activity is below this are left out of the record's reference */
    double clip_share;      /* share of samples at an extreme before its plateaus are looked at */
    const float *basis;     /* hum: [12][m] Hann-windowed cos/sin rows (quality._mains_basis, transposed); NULL: none */
    ptrdiff_t m;            /* samples per hum segment */
    double wsum;            /* the window's sum */
    double hum_over_sides;  /* a hum is the line's amplitude in excess of this times its sides' mean */
} ee_qspec;

/* Features of L leads of n samples; returns EE_OK, EE_ENOMEM or EE_EINVAL (ecgedge_dsp.h). */
int ee_quality(const float *x, ptrdiff_t n, int L, const ee_qspec *q, double *out);

#endif
