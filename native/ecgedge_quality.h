/* ecgedge signal-quality features: the pure-C core of ecgedge/quality.py's features().
 *
 * The numpy function is the reference and defines every feature; this computes the same ones in one
 * call (about 20x faster: numpy spends its time in the ~250 small operations the features take, not
 * in arithmetic). Records are planar float32 x[l * n + t], physical units (mV).
 */
#ifndef ECGEDGE_QUALITY_H
#define ECGEDGE_QUALITY_H

#include <stddef.h>
#include <stdint.h>

/* Columns of the output, out[l * EE_Q_N + column]: the keys of features()' dict, in this order. */
enum {
    EE_Q_INVALID, EE_Q_GAP_S, EE_Q_RANGE, EE_Q_HF, EE_Q_ACTIVITY, EE_Q_REFERENCE, EE_Q_STILL_S, EE_Q_FLOOR,
    EE_Q_OWN_FLOOR, EE_Q_BUSY, EE_Q_BASELINE, EE_Q_JUMP, EE_Q_CLIP_SHARE, EE_Q_CLIP_RUNS, EE_Q_HUM50, EE_Q_HUM60,
    EE_Q_BPM, EE_Q_RR_OK, EE_Q_DERIVED,
    /* the verdict's inputs, when limits are given: the lead's worst fault ratio, its rhythm ratio, and whether a
     * fault that leaves nothing to judge (invalid samples, range, flat) is there */
    EE_Q_WORST, EE_Q_RHYTHM, EE_Q_UNUSABLE, EE_Q_N
};

/* Limits, in this order (quality.Limits): a verdict needs them. */
enum {
    EE_L_INVALID, EE_L_GAP_S, EE_L_RANGE, EE_L_FLAT, EE_L_STILL_S, EE_L_CLIP_SHARE, EE_L_CLIP_RUNS, EE_L_HUM,
    EE_L_HUM_MV, EE_L_HF, EE_L_HF_MV, EE_L_FLOOR, EE_L_BUSY, EE_L_OWN_FLOOR, EE_L_BASELINE, EE_L_JUMP, EE_L_MIN_BPM,
    EE_L_MAX_BPM, EE_L_N
};

/* Limb leads that a record may carry as computed from I and II (Einthoven/Goldberger): derive[l] names which. */
enum { EE_Q_OWN = 0, EE_Q_III = 1, EE_Q_AVR = 2, EE_Q_AVL = 3, EE_Q_AVF = 4 };

typedef struct {
    double fs;
    double flat_mV;         /* leads whose activity is below this are left out of the record's reference */
    double clip_share;      /* share of samples at an extreme before its plateaus are looked at */
    const float *basis;     /* hum: [12][m] Hann-windowed cos/sin rows (quality._mains_basis, transposed); NULL: none */
    ptrdiff_t m;            /* samples per hum segment */
    double wsum;            /* the window's sum */
    double hum_over_sides;  /* a hum is the line's amplitude in excess of this times its sides' mean */
    const int32_t *derive;  /* per lead, EE_Q_OWN or the limb lead it is (NULL: all own) ... */
    int lead_i, lead_ii;    /* ... and where leads I and II are (-1: absent). A limb lead that equals its formula of
                               I and II to within rounding is not measured: it is judged through them (its row is
                               zero but for EE_Q_DERIVED = 1). */
    const double *limits;   /* EE_L_N values, or NULL: no verdict columns */
} ee_qspec;

/* Features of L leads of n samples; returns EE_OK, EE_ENOMEM or EE_EINVAL (ecgedge_dsp.h). With limits, also
 * whether the record is poor (*poor) and its score: quality.judge()'s verdict without its reasons, which only a
 * poor record needs (Python words them). */
int ee_quality(const float *x, ptrdiff_t n, int L, const ee_qspec *q, double *out, int *poor, double *score);

#endif
