/* kreislauf native stepping path: runs macro steps of a precompiled plan over FMUs (FMI 2.0 / 3.0).
 *
 * The Python side (kreislauf/native.py) fills these structures with ctypes from the master's own
 * index arrays; every array belongs to Python and outlives the calls. The layout here and the
 * ctypes.Structure definitions there must match field by field.
 */
#ifndef KREISLAUF_STEPPER_H
#define KREISLAUF_STEPPER_H

#include <stdint.h>

#if defined(__GNUC__)
#define KL_EXPORT __attribute__((visibility("default")))
#else
#define KL_EXPORT
#endif

/* value types of a get/set access */
enum {
    KL_FLOAT64 = 0, KL_FLOAT32 = 1,
    KL_INT8 = 2, KL_UINT8 = 3, KL_INT16 = 4, KL_UINT16 = 5,
    KL_INT32 = 6, KL_UINT32 = 7, KL_INT64 = 8, KL_UINT64 = 9,
    KL_BOOL_INT = 10,   /* FMI 2 Boolean: int */
    KL_BOOL_C = 11      /* FMI 3 Boolean: bool */
};

/* error codes (kl_error.code) */
enum {
    KL_OK = 0,
    KL_ERR_RANGE = 1,         /* an input value outside the input's declared range (or NaN) */
    KL_ERR_VALUE = 2,         /* an integer/boolean input not representable (not whole, outside the C type) */
    KL_ERR_SET = 3,           /* the FMU's set function returned status > warning */
    KL_ERR_GET = 4,           /* the FMU's get function returned status > warning */
    KL_ERR_STEP = 5,          /* doStep: status > warning, terminate or early return */
    KL_ERR_NONFINITE = 6,     /* an output is NaN or infinite after the communication point */
    KL_ERR_LOOP_NONFINITE = 7,
    KL_ERR_LOOP_SINGULAR = 8,
    KL_ERR_LOOP_DIVERGED = 9,
    KL_ERR_SOURCE = 10        /* a precomputed source has no outputs for this step (Python stopped there) */
};

typedef void (*kl_fn)(void);  /* an FMI function; cast to its own type at the call */

typedef struct {
    int32_t kind;             /* KL_* value type */
    int32_t count;
    kl_fn fn;                 /* fmi{2,3}{Set,Get}<Type> */
    const uint32_t *vrs;      /* value references */
    const int32_t *positions; /* positions in the component's inputs (set) or outputs (get) */
    void *buffer;             /* count values of the kind */
} kl_access;

typedef struct {
    int32_t fmi;              /* 2 or 3 */
    int32_t n_inputs;         /* inputs u[u_start : u_start + n_inputs] */
    int32_t u_start;
    int32_t n_outputs;        /* outputs y[y_start : y_start + n_outputs] */
    int32_t y_start;
    int32_t n_set;
    int32_t n_get;
    int32_t n_bounds;
    int32_t identity;         /* every input of this component has factor 1 and offset 0 */
    int32_t rate;             /* steps every rate-th macro step over rate * h (multi-rate), 1: every step */
    int32_t source;           /* outputs precomputed by Python (source_rows) instead of FMI calls */
    int32_t has_pending;      /* pending holds outputs not yet exposed (multi-rate) */
    void *instance;           /* fmi2Component / fmi3Instance (NULL for a source) */
    kl_fn do_step;            /* fmi2DoStep / fmi3DoStep */
    kl_access *set;
    kl_access *get;
    const int32_t *bound_pos; /* position in the component's inputs of each bounded input */
    const double *bound_lo;
    const double *bound_hi;
    double *pending;          /* n_outputs: outputs of a multi-rate step, exposed at the step's end */
    const double *source_rows;/* source: row k (n_outputs doubles) = outputs after its step at macro step
                               * n0 + k of the current kl_run call (n0 its argument n) */
    int64_t source_ready;     /* source: rows 0 .. source_ready - 1 are valid */
    double time;              /* time the component reached with its last successful step */
} kl_component;

typedef struct {
    int32_t n_inputs;
    int32_t n_components;
    const int32_t *inputs;     /* global input indices, sorted */
    const int32_t *components; /* component indices, sorted */
} kl_loop;

typedef struct {
    int32_t code;
    int32_t component;        /* component index (-1 when none) */
    int32_t loop;             /* loop index (-1 when none) */
    int32_t status;           /* FMI status of the failed call */
    int32_t terminate;        /* FMI 3 doStep: terminateSimulation */
    int32_t early_return;     /* FMI 3 doStep: earlyReturn */
    int32_t count;            /* number of values in values[] */
    int32_t pad;
    double time;              /* t handed to the failing operation */
    double step;              /* the component's step (dt) */
    double last_time;         /* FMI 3 doStep: lastSuccessfulTime */
    double residual;          /* loop: max |g| of the last iterate */
    double *values;           /* the input values that were being set (n_u doubles, owned by Python) */
} kl_error;

typedef struct {
    int32_t n_components;
    int32_t algorithm;        /* 0 jacobi, 1 gauss-seidel */
    int32_t n_u;
    int32_t n_y;
    int32_t u_identity;       /* every connection has factor 1 and offset 0 */
    int32_t n_ops;
    int32_t n_record;
    int32_t loop_solver;      /* 0 newton, 1 fixed-point */
    int32_t max_iterations;
    int32_t profile;          /* time the FMU calls */
    double loop_tolerance;
    double start;
    double stop;
    double step;
    kl_component *components;
    const int32_t *order;     /* stepping order (gauss-seidel) */
    const int32_t *u_src;     /* y index feeding each input */
    const double *u_factor;
    const double *u_offset;
    double *y;                /* the master's output vector (numpy, shared) */
    double *u;                /* n_u scratch */
    double *work;             /* loop scratch: (n + 8) * n doubles, n the most inputs of a loop */
    const int32_t *ops;       /* communication point: >= 0 refresh component, < 0 loop -(k + 1) */
    kl_loop *loops;
    const int32_t *record;    /* y indices copied into each row after the time */
    int64_t loop_iterations;  /* accumulated */
    double *step_seconds;     /* per component: time inside doStep (profile) */
    double *io_seconds;       /* per component: time inside set/get (profile) */
    int64_t *step_calls;      /* per component: doStep calls (profile) */
    kl_error error;
} kl_plan;

/* Run up to max_steps macro steps from macro step n (time start + n * step, the last one cut at stop).
 * A component of rate k steps at macro steps n with n % k == 0 over min(k h, stop - t); its outputs
 * are held in pending and copied into y when the master reaches the end of its step ((n + 1) % k == 0)
 * or the stop time.
 * Row k of rows (1 + n_record doubles) receives the time reached and y[record] after step k.
 * Returns the number of completed steps; error.code != KL_OK tells why it stopped early. */
KL_EXPORT int64_t kl_run(kl_plan *plan, int64_t n, int64_t max_steps, double *rows);

#endif
