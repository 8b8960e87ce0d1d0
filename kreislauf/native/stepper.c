/* kreislauf native stepping path: the fixed-step Jacobi and Gauss-Seidel macro steps of
 * kreislauf.master.Master over FMUs, operation for operation, with the FMI functions called through
 * function pointers (the binaries were loaded by fmpy; Python hands over the addresses).
 *
 * A macro step from t to t + h:
 *   jacobi:       u = coupled(y) once; per component: check and set its inputs, doStep, read outputs.
 *   gauss-seidel: per component in stepping order: u = coupled(y), check and set, doStep, read.
 * A multi-rate component (rate k) steps only at every k-th macro step, over k h (cut at stop); its
 * outputs wait in a pending buffer until the master reaches the end of that step (Master._dt,
 * Master._read_stepped, Master._expose). A source (a Python component without inputs) does not run
 * here: Python precomputed its outputs for every step of the chunk, and C copies its row.
 * then the communication point at t + h: refresh the feedthrough components and solve the algebraic
 * loops (fixed point or Newton with a finite-difference Jacobian and damping, as Master._iterate),
 * then check that every output is finite and copy the recorded columns into the caller's row.
 * coupled(y)[k] = y[src[k]] * factor[k] + offset[k].
 *
 * Any failure stops the run with kl_plan.error filled in; Python raises the same exception as its
 * own path would (it replays a failed input check through its own setter for the exact message).
 */
#define _POSIX_C_SOURCE 199309L
#include "stepper.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*kl_set2_fn)(void *, const uint32_t *, size_t, const void *);
typedef int (*kl_get2_fn)(void *, const uint32_t *, size_t, void *);
typedef int (*kl_set3_fn)(void *, const uint32_t *, size_t, const void *, size_t);
typedef int (*kl_get3_fn)(void *, const uint32_t *, size_t, void *, size_t);
typedef int (*kl_step2_fn)(void *, double, double, int);
typedef int (*kl_step3_fn)(void *, double, double, bool, bool *, bool *, bool *, double *);

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double coupled(const kl_plan *p, int32_t k) {
    double v = p->y[p->u_src[k]];
    return p->u_identity ? v : v * p->u_factor[k] + p->u_offset[k];
}

/* the representable range of an integer or boolean type (FmuComponent.input_setter's _C_BOUNDS) */
static int integral_bounds(int32_t kind, double *lo, double *hi) {
    switch (kind) {
    case KL_INT8: *lo = -128.0; *hi = 127.0; return 1;
    case KL_UINT8: *lo = 0.0; *hi = 255.0; return 1;
    case KL_INT16: *lo = -32768.0; *hi = 32767.0; return 1;
    case KL_UINT16: *lo = 0.0; *hi = 65535.0; return 1;
    case KL_INT32: *lo = -2147483648.0; *hi = 2147483647.0; return 1;
    case KL_UINT32: *lo = 0.0; *hi = 4294967295.0; return 1;
    case KL_INT64: *lo = -9223372036854775808.0; *hi = 9223372036854775808.0 - 1024.0; return 1;
    case KL_UINT64: *lo = 0.0; *hi = 18446744073709551616.0 - 2048.0; return 1;
    case KL_BOOL_INT: case KL_BOOL_C: *lo = 0.0; *hi = 1.0; return 1;
    default: return 0;
    }
}

static void store(int32_t kind, void *buffer, int32_t j, double v) {
    switch (kind) {
    case KL_FLOAT64: ((double *)buffer)[j] = v; break;
    case KL_FLOAT32: ((float *)buffer)[j] = (float)v; break;
    case KL_INT8: ((int8_t *)buffer)[j] = (int8_t)v; break;
    case KL_UINT8: ((uint8_t *)buffer)[j] = (uint8_t)v; break;
    case KL_INT16: ((int16_t *)buffer)[j] = (int16_t)v; break;
    case KL_UINT16: ((uint16_t *)buffer)[j] = (uint16_t)v; break;
    case KL_INT32: case KL_BOOL_INT: ((int32_t *)buffer)[j] = (int32_t)v; break;
    case KL_UINT32: ((uint32_t *)buffer)[j] = (uint32_t)v; break;
    case KL_INT64: ((int64_t *)buffer)[j] = (int64_t)v; break;
    case KL_UINT64: ((uint64_t *)buffer)[j] = (uint64_t)v; break;
    case KL_BOOL_C: ((bool *)buffer)[j] = v != 0.0; break;
    default: break;
    }
}

static double load(int32_t kind, const void *buffer, int32_t j) {
    switch (kind) {
    case KL_FLOAT64: return ((const double *)buffer)[j];
    case KL_FLOAT32: return (double)((const float *)buffer)[j];
    case KL_INT8: return (double)((const int8_t *)buffer)[j];
    case KL_UINT8: return (double)((const uint8_t *)buffer)[j];
    case KL_INT16: return (double)((const int16_t *)buffer)[j];
    case KL_UINT16: return (double)((const uint16_t *)buffer)[j];
    case KL_INT32: case KL_BOOL_INT: return (double)((const int32_t *)buffer)[j];
    case KL_UINT32: return (double)((const uint32_t *)buffer)[j];
    case KL_INT64: return (double)((const int64_t *)buffer)[j];
    case KL_UINT64: return (double)((const uint64_t *)buffer)[j];
    case KL_BOOL_C: return ((const bool *)buffer)[j] ? 1.0 : 0.0;
    default: return NAN;
    }
}

static int fail_set(kl_plan *p, int32_t code, int32_t i, const double *values, int32_t status, double t) {
    kl_error *e = &p->error;
    const kl_component *c = &p->components[i];
    e->code = code;
    e->component = i;
    e->status = status;
    e->time = t;
    e->count = c->n_inputs;
    memcpy(e->values, values, sizeof(double) * (size_t)c->n_inputs);
    return code;
}

/* Master._set: check the declared ranges, then the setter's own checks, then set. */
static int set_inputs(kl_plan *p, int32_t i, const double *values, double t) {
    const kl_component *c = &p->components[i];
    for (int32_t b = 0; b < c->n_bounds; b++) {
        double v = values[c->bound_pos[b]];
        if (!(c->bound_lo[b] <= v && v <= c->bound_hi[b])) return fail_set(p, KL_ERR_RANGE, i, values, 0, t);
    }
    for (int32_t a = 0; a < c->n_set; a++) {
        const kl_access *s = &c->set[a];
        double lo, hi;
        if (integral_bounds(s->kind, &lo, &hi)) {
            for (int32_t j = 0; j < s->count; j++) {
                double v = values[s->positions[j]];
                if (!(lo <= v && v <= hi) || v != trunc(v)) return fail_set(p, KL_ERR_VALUE, i, values, 0, t);
            }
        } else {
            for (int32_t j = 0; j < s->count; j++) {
                if (values[s->positions[j]] != values[s->positions[j]]) {
                    return fail_set(p, KL_ERR_VALUE, i, values, 0, t);
                }
            }
        }
    }
    double t0 = p->profile ? now_seconds() : 0.0;
    for (int32_t a = 0; a < c->n_set; a++) {
        const kl_access *s = &c->set[a];
        for (int32_t j = 0; j < s->count; j++) store(s->kind, s->buffer, j, values[s->positions[j]]);
        int status = c->fmi == 2 ? ((kl_set2_fn)s->fn)(c->instance, s->vrs, (size_t)s->count, s->buffer)
                                 : ((kl_set3_fn)s->fn)(c->instance, s->vrs, (size_t)s->count, s->buffer,
                                                       (size_t)s->count);
        if (status > 1) return fail_set(p, KL_ERR_SET, i, values, status, t);
    }
    if (p->profile) p->io_seconds[i] += now_seconds() - t0;
    return KL_OK;
}

/* Master._read: component i's outputs into dest (its slice of y, or its pending outputs) */
static int read_outputs(kl_plan *p, int32_t i, double t, double *dest) {
    const kl_component *c = &p->components[i];
    double t0 = p->profile ? now_seconds() : 0.0;
    for (int32_t a = 0; a < c->n_get; a++) {
        const kl_access *g = &c->get[a];
        int status = c->fmi == 2 ? ((kl_get2_fn)g->fn)(c->instance, g->vrs, (size_t)g->count, g->buffer)
                                 : ((kl_get3_fn)g->fn)(c->instance, g->vrs, (size_t)g->count, g->buffer,
                                                       (size_t)g->count);
        if (status > 1) {
            p->error.code = KL_ERR_GET;
            p->error.component = i;
            p->error.status = status;
            p->error.time = t;
            return KL_ERR_GET;
        }
        for (int32_t j = 0; j < g->count; j++) dest[g->positions[j]] = load(g->kind, g->buffer, j);
    }
    if (p->profile) p->io_seconds[i] += now_seconds() - t0;
    return KL_OK;
}

/* FmuComponent.do_step: anything but OK (a discard, an error, terminate, an early return) stops */
static int do_step(kl_plan *p, int32_t i, double t, double h) {
    kl_component *c = &p->components[i];
    double t0 = p->profile ? now_seconds() : 0.0;
    int status;
    bool terminate = false, early = false;
    double last = t + h;
    if (c->fmi == 2) {
        status = ((kl_step2_fn)c->do_step)(c->instance, t, h, 1);
    } else {
        bool event = false;
        status = ((kl_step3_fn)c->do_step)(c->instance, t, h, true, &event, &terminate, &early, &last);
    }
    if (p->profile) {
        p->step_seconds[i] += now_seconds() - t0;
        p->step_calls[i] += 1;
    }
    if (status > 1 || terminate || (early && last < t + h)) {
        kl_error *e = &p->error;
        e->code = KL_ERR_STEP;
        e->component = i;
        e->status = status;
        e->terminate = terminate;
        e->early_return = early;
        e->last_time = last;
        e->time = t;
        e->step = h;
        return KL_ERR_STEP;
    }
    c->time = t + h;
    return KL_OK;
}

/* Master._dt: the step of component i at macro step n from t over h (0 when it waits this step) */
static double component_dt(const kl_plan *p, const kl_component *c, int64_t n, double t, double h) {
    if (c->rate == 1) return h;
    if (n % c->rate) return 0.0;
    return fmin((double)c->rate * h, p->stop - t);
}

/* Master._expose: pending outputs into y once the master reaches the end of the component's step */
static void expose(kl_plan *p, kl_component *c, int64_t n, double t, double h) {
    if (c->has_pending && ((n + 1) % c->rate == 0 || t + h >= p->stop)) {
        memcpy(p->y + c->y_start, c->pending, sizeof(double) * (size_t)c->n_outputs);
        c->has_pending = 0;
    }
}

/* one component's share of a macro step: wait (expose), or set its inputs, step over dt and read
 * (Master._set, Master._step, Master._read_stepped); a source copies its precomputed row instead */
static int step_component(kl_plan *p, int32_t i, const double *values, double t, double h, int64_t n,
                          int64_t row) {
    kl_component *c = &p->components[i];
    double dt = component_dt(p, c, n, t, h);
    int rc;
    if (dt <= 0.0) {
        expose(p, c, n, t, h);
        return KL_OK;
    }
    double *dest = c->rate == 1 ? p->y + c->y_start : c->pending;
    if (c->source) {
        if (row >= c->source_ready) {
            p->error.code = KL_ERR_SOURCE;
            p->error.component = i;
            p->error.time = t;
            p->error.step = dt;
            return KL_ERR_SOURCE;
        }
        memcpy(dest, c->source_rows + row * c->n_outputs, sizeof(double) * (size_t)c->n_outputs);
        c->time = t + dt;
    } else {
        if (c->n_inputs > 0 && (rc = set_inputs(p, i, values, t)) != KL_OK) return rc;
        if ((rc = do_step(p, i, t, dt)) != KL_OK) return rc;
        if ((rc = read_outputs(p, i, t, dest)) != KL_OK) return rc;
    }
    if (c->rate > 1) {
        c->has_pending = 1;
        expose(p, c, n, t, h);
    }
    return KL_OK;
}

/* Master._refresh */
static int refresh(kl_plan *p, int32_t i, double t) {
    const kl_component *c = &p->components[i];
    if (c->n_inputs > 0) {
        double *u = p->u + c->u_start;
        for (int32_t k = 0; k < c->n_inputs; k++) {
            int32_t g = c->u_start + k;
            double v = p->y[p->u_src[g]];
            u[k] = c->identity ? v : v * p->u_factor[g] + p->u_offset[g];
        }
        int rc = set_inputs(p, i, u, t);
        if (rc != KL_OK) return rc;
    }
    return read_outputs(p, i, t, c->has_pending ? c->pending : p->y + c->y_start);
}

/* Master._loop_map: x -> coupled(y)[inputs] after setting the loop's inputs to x */
static int loop_map(kl_plan *p, const kl_loop *L, const double *x, double *fx, double t) {
    for (int32_t m = 0; m < L->n_components; m++) {
        const kl_component *c = &p->components[L->components[m]];
        for (int32_t k = 0; k < c->n_inputs; k++) p->u[c->u_start + k] = coupled(p, c->u_start + k);
    }
    for (int32_t k = 0; k < L->n_inputs; k++) p->u[L->inputs[k]] = x[k];
    for (int32_t m = 0; m < L->n_components; m++) {
        int32_t i = L->components[m];
        int rc = set_inputs(p, i, p->u + p->components[i].u_start, t);
        if (rc != KL_OK) return rc;
    }
    for (int32_t m = 0; m < L->n_components; m++) {
        int32_t i = L->components[m];
        int rc = read_outputs(p, i, t, p->y + p->components[i].y_start);
        if (rc != KL_OK) return rc;
    }
    p->loop_iterations += 1;
    for (int32_t k = 0; k < L->n_inputs; k++) fx[k] = coupled(p, L->inputs[k]);
    return KL_OK;
}

/* numpy's max of |v| (NaN propagates; 0 for an empty vector) */
static double max_abs(const double *v, int32_t n) {
    double m = 0.0;
    for (int32_t k = 0; k < n; k++) {
        double a = fabs(v[k]);
        if (a != a) return a;
        if (a > m) m = a;
    }
    return m;
}

static int all_finite(const double *v, int32_t n) {
    for (int32_t k = 0; k < n; k++)
        if (!isfinite(v[k])) return 0;
    return 1;
}

/* solve a x = b in place (a column-major n x n, overwritten) by Gaussian elimination with partial
 * pivoting; 0 when a pivot is exactly zero (numpy.linalg.solve raises LinAlgError then) */
static int solve(double *a, double *b, int32_t n) {
    for (int32_t k = 0; k < n; k++) {
        int32_t piv = k;
        double best = fabs(a[k + k * n]);
        for (int32_t r = k + 1; r < n; r++) {
            if (fabs(a[r + k * n]) > best) {
                best = fabs(a[r + k * n]);
                piv = r;
            }
        }
        if (a[piv + k * n] == 0.0) return 0;
        if (piv != k) {
            for (int32_t col = 0; col < n; col++) {
                double tmp = a[k + col * n];
                a[k + col * n] = a[piv + col * n];
                a[piv + col * n] = tmp;
            }
            double tmp = b[k];
            b[k] = b[piv];
            b[piv] = tmp;
        }
        double inv = 1.0 / a[k + k * n];
        for (int32_t r = k + 1; r < n; r++) {
            double l = a[r + k * n] * inv;
            a[r + k * n] = l;
            for (int32_t col = k + 1; col < n; col++) a[r + col * n] -= l * a[k + col * n];
            b[r] -= l * b[k];
        }
    }
    for (int32_t k = n - 1; k >= 0; k--) {
        double s = b[k];
        for (int32_t col = k + 1; col < n; col++) s -= a[k + col * n] * b[col];
        b[k] = s / a[k + k * n];
    }
    return 1;
}

static int loop_fail(kl_plan *p, int32_t code, int32_t loop, double residual, double t) {
    p->error.code = code;
    p->error.loop = loop;
    p->error.residual = residual;
    p->error.time = t;
    return code;
}

/* Master._solve_loop / Master._iterate: x = fmap(x), starting from coupled(y)[inputs] */
static int solve_loop(kl_plan *p, int32_t index, double t) {
    const kl_loop *L = &p->loops[index];
    int32_t n = L->n_inputs;
    double *x = p->work, *fx = x + n, *g = fx + n, *xp = g + n, *fp = xp + n, *dx = fp + n, *xn = dx + n,
           *gn = xn + n, *jac = gn + n;
    double tol = p->loop_tolerance;
    int rc;
    for (int32_t k = 0; k < n; k++) x[k] = coupled(p, L->inputs[k]);
    if ((rc = loop_map(p, L, x, fx, t)) != KL_OK) return rc;
    for (int32_t k = 0; k < n; k++) g[k] = fx[k] - x[k];
    for (int32_t it = 0; it < p->max_iterations; it++) {
        if (!all_finite(g, n)) return loop_fail(p, KL_ERR_LOOP_NONFINITE, index, max_abs(g, n), t);
        double scale = max_abs(x, n);
        if (max_abs(g, n) <= tol * (scale > 1.0 ? scale : 1.0)) {
            int same = 1;
            for (int32_t k = 0; k < n; k++) same &= fx[k] == x[k];
            if (!same && (rc = loop_map(p, L, fx, xp, t)) != KL_OK) return rc;
            return KL_OK;
        }
        if (p->loop_solver == 1) {
            memcpy(x, fx, sizeof(double) * (size_t)n);
        } else {
            for (int32_t j = 0; j < n; j++) {
                double h = 1e-7 * (fabs(x[j]) > 1.0 ? fabs(x[j]) : 1.0);
                memcpy(xp, x, sizeof(double) * (size_t)n);
                xp[j] += h;
                if ((rc = loop_map(p, L, xp, fp, t)) != KL_OK) return rc;
                for (int32_t r = 0; r < n; r++) jac[r + j * n] = ((fp[r] - xp[r]) - g[r]) / h;
            }
            for (int32_t k = 0; k < n; k++) dx[k] = -g[k];
            if (!solve(jac, dx, n)) return loop_fail(p, KL_ERR_LOOP_SINGULAR, index, 0.0, t);
            double norm = max_abs(g, n);
            double damping = 1.0;
            for (int32_t s = 0; s < 8; s++) {
                for (int32_t k = 0; k < n; k++) xn[k] = x[k] + damping * dx[k];
                if ((rc = loop_map(p, L, xn, fp, t)) != KL_OK) return rc;
                for (int32_t k = 0; k < n; k++) gn[k] = fp[k] - xn[k];
                if (all_finite(gn, n) && max_abs(gn, n) < norm) break;
                damping *= 0.5;
            }
            memcpy(x, xn, sizeof(double) * (size_t)n);
        }
        if ((rc = loop_map(p, L, x, fx, t)) != KL_OK) return rc;
        for (int32_t k = 0; k < n; k++) g[k] = fx[k] - x[k];
    }
    return loop_fail(p, KL_ERR_LOOP_DIVERGED, index, max_abs(g, n), t);
}

/* Master._resolve */
static int resolve(kl_plan *p, double t) {
    for (int32_t o = 0; o < p->n_ops; o++) {
        int32_t op = p->ops[o];
        int rc = op >= 0 ? refresh(p, op, t) : solve_loop(p, -op - 1, t);
        if (op < 0 && (rc == KL_ERR_RANGE || rc == KL_ERR_VALUE)) p->error.loop = -op - 1; /* named as the loop's */
        if (rc != KL_OK) return rc;
    }
    return KL_OK;
}

/* macro step n from t over h; row: the step's index in this kl_run call (the sources' row) */
static int macro_step(kl_plan *p, double t, double h, int64_t n, int64_t row) {
    int rc;
    if (p->algorithm == 0) {
        for (int32_t k = 0; k < p->n_u; k++) p->u[k] = coupled(p, k);
        for (int32_t i = 0; i < p->n_components; i++) {
            if ((rc = step_component(p, i, p->u + p->components[i].u_start, t, h, n, row)) != KL_OK) return rc;
        }
    } else {
        for (int32_t m = 0; m < p->n_components; m++) {
            int32_t i = p->order[m];
            const kl_component *c = &p->components[i];
            if (component_dt(p, c, n, t, h) > 0.0) {
                for (int32_t k = 0; k < c->n_inputs; k++) p->u[c->u_start + k] = coupled(p, c->u_start + k);
            }
            if ((rc = step_component(p, i, p->u + c->u_start, t, h, n, row)) != KL_OK) return rc;
        }
    }
    if ((rc = resolve(p, t + h)) != KL_OK) return rc;
    for (int32_t k = 0; k < p->n_y; k++) {
        if (!isfinite(p->y[k])) {
            p->error.code = KL_ERR_NONFINITE;
            p->error.time = t + h;
            return KL_ERR_NONFINITE;
        }
    }
    return KL_OK;
}

KL_EXPORT int64_t kl_run(kl_plan *p, int64_t n, int64_t max_steps, double *rows) {
    const double start = p->start, stop = p->stop, h = p->step;
    const double end = stop - 1e-12 * (fabs(stop) > 1.0 ? fabs(stop) : 1.0);
    const int32_t width = 1 + p->n_record;
    double t = n == 0 ? start : fmin(start + (double)n * h, stop);
    int64_t done = 0;
    memset(&p->error, 0, offsetof(kl_error, values));
    p->error.component = -1;
    p->error.loop = -1;
    while (done < max_steps && t < end) {
        double next = fmin(start + (double)(n + 1) * h, stop);
        if (macro_step(p, t, next - t, n, done) != KL_OK) break;
        t = next;
        n += 1;
        double *row = rows + done * width;
        row[0] = t;
        for (int32_t j = 0; j < p->n_record; j++) row[1 + j] = p->y[p->record[j]];
        done += 1;
    }
    return done;
}
