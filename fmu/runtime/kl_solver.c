/*
 * kl_solver.c -- ROS34PW2 Rosenbrock-W integrator with embedded error estimate (see kl_solver.h for
 * the method, its reference and the step-size control).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "kl_runtime.h"
#include "kl_solver.h"

int kl_lu_decompose(double *a, int *pivot, int n)
{
    int i, j, k;
    for (k = 0; k < n; k++) {
        int p = k;
        double largest = fabs(a[k * n + k]);
        for (i = k + 1; i < n; i++) {
            if (fabs(a[i * n + k]) > largest) {
                largest = fabs(a[i * n + k]);
                p = i;
            }
        }
        pivot[k] = p;
        if (!(largest > 0.0) || !isfinite(largest)) {
            return 1;
        }
        if (p != k) {
            for (j = 0; j < n; j++) {
                double swap = a[k * n + j];
                a[k * n + j] = a[p * n + j];
                a[p * n + j] = swap;
            }
        }
        for (i = k + 1; i < n; i++) {
            double factor = a[i * n + k] / a[k * n + k];
            a[i * n + k] = factor;
            for (j = k + 1; j < n; j++) {
                a[i * n + j] -= factor * a[k * n + j];
            }
        }
    }
    return 0;
}

void kl_lu_solve(const double *lu, const int *pivot, int n, double *b)
{
    int i, j;
    for (i = 0; i < n; i++) {
        if (pivot[i] != i) {
            double swap = b[i];
            b[i] = b[pivot[i]];
            b[pivot[i]] = swap;
        }
    }
    for (i = 0; i < n; i++) {
        for (j = 0; j < i; j++) {
            b[i] -= lu[i * n + j] * b[j];
        }
    }
    for (i = n - 1; i >= 0; i--) {
        for (j = i + 1; j < n; j++) {
            b[i] -= lu[i * n + j] * b[j];
        }
        b[i] /= lu[i * n + i];
    }
}

#define S KL_ROSENBROCK_STAGES

/* ROS34PW2 in the untransformed notation of Rang & Angermann (2005): stage coupling alpha, stage
 * Jacobian coupling gamma (diagonal = GAMMA), weights b (order 3) and b_hat (order 2). */
static const double GAMMA = 4.3586652150845900e-01;
static const double ALPHA[S][S] = {
    {0.0, 0.0, 0.0, 0.0},
    {8.7173304301691801e-01, 0.0, 0.0, 0.0},
    {8.4457060015369423e-01, -1.1299064236484185e-01, 0.0, 0.0},
    {0.0, 0.0, 1.0, 0.0},
};
static const double GAMMA_MATRIX[S][S] = {
    {4.3586652150845900e-01, 0.0, 0.0, 0.0},
    {-8.7173304301691801e-01, 4.3586652150845900e-01, 0.0, 0.0},
    {-9.0338057013044082e-01, 5.4180672388095326e-02, 4.3586652150845900e-01, 0.0},
    {2.4212380706095346e-01, -1.2232505839045147e+00, 5.4526025533510214e-01, 4.3586652150845900e-01},
};
static const double B[S] = {2.4212380706095346e-01, -1.2232505839045147e+00, 1.5452602553351020e+00,
                            4.3586652150845900e-01};
static const double B_HAT[S] = {3.7810903145819369e-01, -9.6042292212423178e-02, 5.0000000000000000e-01,
                                2.1793326075422950e-01};

/* Coefficients of the transformed form (Hairer & Wanner IV.7 (7.25)): with u = Gamma k,
 * (1/(h gamma) I - J) u_i = f(t + alpha_i h, x + sum_j a_ij u_j) + sum_j (c_ij / h) u_j + gamma_i h f_t,
 * x_new = x + sum_i m_i u_i, error = sum_i e_i u_i, where a = alpha Gamma^-1, c = diag(1/gamma) - Gamma^-1,
 * m = b Gamma^-1, e = (b - b_hat) Gamma^-1, alpha_i = sum_j alpha_ij, gamma_i = sum_j gamma_ij. */
void kl_solver_coefficients(kl_rosenbrock_coefficients *tc)
{
    double inverse[S][S];
    int i, j, k;
    memset(tc, 0, sizeof(*tc));
    memset(inverse, 0, sizeof(inverse));
    for (j = 0; j < S; j++) {
        inverse[j][j] = 1.0 / GAMMA_MATRIX[j][j];
        for (i = j + 1; i < S; i++) {
            double sum = 0.0;
            for (k = j; k < i; k++) {
                sum += GAMMA_MATRIX[i][k] * inverse[k][j];
            }
            inverse[i][j] = -sum / GAMMA_MATRIX[i][i];
        }
    }
    for (i = 0; i < S; i++) {
        for (j = 0; j < S; j++) {
            for (k = 0; k < S; k++) {
                tc->a[i][j] += ALPHA[i][k] * inverse[k][j];
            }
            tc->c[i][j] = (i == j ? 1.0 / GAMMA_MATRIX[i][i] : 0.0) - inverse[i][j];
            tc->m[j] += B[i] * inverse[i][j];
            tc->e[j] += (B[i] - B_HAT[i]) * inverse[i][j];
            tc->alpha[i] += ALPHA[i][j];
            tc->gamma[i] += GAMMA_MATRIX[i][j];
        }
    }
    tc->diagonal = GAMMA;
}

void kl_solver_forget(kl_solver_workspace *work)
{
    work->partition_valid = 0;
    work->lu_step = 0.0;
}

#if KL_N_STATES > 0

#define N KL_N_STATES

static const char *state_name(int i)
{
    return kl_variables[kl_state_vr[i]].name;
}

static void put_states(double *v, const double *x, double t)
{
    int i;
    for (i = 0; i < N; i++) {
        v[kl_state_vr[i]] = x[i];
    }
    v[KL_VR_TIME] = t;
}

/* Evaluate f(t, x); returns the index of the first non-finite derivative, or -1. */
static int derivatives(kl_instance *instance, const double *x, double t, double *dx)
{
    int i;
    put_states(instance->s.v, x, t);
    kl_derivatives(instance->s.v, dx);
    instance->s.statistics.derivative_calls += 1.0;
    for (i = 0; i < N; i++) {
        if (!isfinite(dx[i])) {
            return i;
        }
    }
    return -1;
}

static double weight(const kl_solver_settings *settings, int i, double x_old, double x_new)
{
    double w = settings->absolute_tolerance * kl_state_nominal[i] +
               settings->relative_tolerance * fmax(fabs(x_old), fabs(x_new));
    return w > DBL_MIN ? w : DBL_MIN;
}

/* Starting step (Hairer, Norsett, Wanner, Solving ODEs I, II.4): 0.01 * ||x|| / ||f(x)|| in the weighted
 * norm, or 1e-6 s when either is negligible. */
static double initial_step(const kl_solver_settings *settings, const double *x, const double *f0)
{
    double d0 = 0.0, d1 = 0.0;
    int i;
    for (i = 0; i < N; i++) {
        double w = weight(settings, i, x[i], x[i]);
        d0 += (x[i] / w) * (x[i] / w);
        d1 += (f0[i] / w) * (f0[i] / w);
    }
    d0 = sqrt(d0 / N);
    d1 = sqrt(d1 / N);
    if (d0 < 1e-5 || d1 < 1e-5) {
        return 1e-6;
    }
    return 0.01 * d0 / d1;
}

static int fail(kl_instance *instance, double t, double h, double h_min, int worst, double worst_ratio,
                int nonfinite_state, double nonfinite_value)
{
    if (nonfinite_state >= 0) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "solver failed at t = %.16g s: step size %.6g s fell below the minimum %.6g s because the "
               "derivative of state '%s' is %g at trial points of the step",
               t, h, h_min, state_name(nonfinite_state), nonfinite_value);
    } else if (worst >= 0) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "solver failed at t = %.16g s: step size %.6g s fell below the minimum %.6g s; the largest "
               "error estimate is in state '%s' (%.3g times its tolerance)",
               t, h, h_min, state_name(worst), worst_ratio);
    } else {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "solver failed at t = %.16g s: step size %.6g s fell below the minimum %.6g s because "
               "the iteration matrix stayed singular",
               t, h, h_min);
    }
    return KL_ERROR;
}

/* Entries of J and df/dt that are not finite: ROS34PW2 is a W-method, its order holds for any matrix in place
 * of the Jacobian, so a non-finite entry (a singular point of the model, e.g. a derivative through a capped or
 * switched expression at zero flow) is logged and replaced by zero instead of stopping the run. */
static void check_jacobian(kl_instance *instance, double t)
{
    kl_solver_state *state = &instance->s.solver;
    int i, j, nonfinite = 0;
    for (i = 0; i < N * N; i++) {
        nonfinite |= !(fabs(state->jac[i]) <= DBL_MAX);
    }
    for (i = 0; i < N; i++) {
        nonfinite |= !(fabs(state->dfdt[i]) <= DBL_MAX);
    }
    if (!nonfinite) {
        return;
    }
    for (i = 0; i < N; i++) {
        if (!isfinite(state->dfdt[i])) {
            kl_log(instance, KL_OK, KL_LOG_SOLVER, "the time derivative d(der(%s))/dt is %g at t = %.16g s; using 0",
                   state_name(i), state->dfdt[i], t);
            state->dfdt[i] = 0.0;
        }
        for (j = 0; j < N; j++) {
            if (!isfinite(state->jac[i * N + j])) {
                kl_log(instance, KL_OK, KL_LOG_SOLVER,
                       "the Jacobian entry d(der(%s))/d(%s) is %g at t = %.16g s; using 0", state_name(i),
                       state_name(j), state->jac[i * N + j], t);
                state->jac[i * N + j] = 0.0;
            }
        }
    }
}

/* Split the states into dynamic ones and quadratures (a zero column of J: no derivative depends on them),
 * see kl_solver.h. */
static void partition(kl_solver_workspace *w, const double *jac)
{
    int used[N];
    int i, j;
    for (j = 0; j < N; j++) {
        used[j] = 0;
    }
    for (i = 0; i < N; i++) {
        for (j = 0; j < N; j++) {
            used[j] |= jac[i * N + j] != 0.0;
        }
    }
    w->n_dynamic = 0;
    w->n_quadrature = 0;
    for (j = 0; j < N; j++) {
        if (used[j]) {
            w->dynamic[w->n_dynamic++] = j;
        } else {
            w->quadrature[w->n_quadrature++] = j;
        }
    }
    w->partition_valid = 1;
}

/* LU factors of the dynamic block M_dd = diagonal I - J_dd; returns 1 when it is singular. */
static int decompose(kl_solver_workspace *w, const double *jac, double diagonal)
{
    const int m = w->n_dynamic;
    int i, j;
    for (i = 0; i < m; i++) {
        const double *row = &jac[w->dynamic[i] * N];
        for (j = 0; j < m; j++) {
            w->lu[i * m + j] = -row[w->dynamic[j]];
        }
        w->lu[i * m + i] += diagonal;
    }
    return m > 0 ? kl_lu_decompose(w->lu, w->pivot, m) : 0;
}

/* Solve M u = b in place for the current factors: the dynamic block by LU, then each quadrature by
 * u_q = h gamma (b_q + sum_d J_qd u_d); `h_gamma` = h * gamma. */
static void solve(kl_solver_workspace *w, const double *jac, double h_gamma, double *b)
{
    const int m = w->n_dynamic;
    int i, k;
    for (k = 0; k < m; k++) {
        w->gathered[k] = b[w->dynamic[k]];
    }
    if (m > 0) {
        kl_lu_solve(w->lu, w->pivot, m, w->gathered);
    }
    for (i = 0; i < w->n_quadrature; i++) {
        const int q = w->quadrature[i];
        const double *row = &jac[q * N];
        double sum = b[q];
        for (k = 0; k < m; k++) {
            sum += row[w->dynamic[k]] * w->gathered[k];
        }
        b[q] = h_gamma * sum;
    }
    for (k = 0; k < m; k++) {
        b[w->dynamic[k]] = w->gathered[k];
    }
}

int kl_solver_integrate(kl_instance *instance, const kl_solver_settings *settings, double t_end)
{
    kl_solver_workspace *w = &instance->work;
    kl_solver_state *state = &instance->s.solver;
    kl_statistics *statistics = &instance->s.statistics;
    const kl_rosenbrock_coefficients *tc = &w->coefficients;
    double *v = instance->s.v;
    double t = v[KL_VR_TIME];
    double h, attempts = 0.0;
    int have_point = 0; /* f0 is f(t, x) and J, df/dt (state->jac, dfdt) may serve the step from (t, x) */
    int i, j, k;

    if (!(t_end > t)) {
        return KL_OK;
    }
    for (i = 0; i < N; i++) {
        w->x[i] = v[kl_state_vr[i]];
    }

    h = state->h_next;
    while (t < t_end) {
        const double remaining = t_end - t;
        const double h_min = 16.0 * DBL_EPSILON * fmax(fabs(t), fabs(t_end));
        double h_requested, error_norm = 0.0, worst_ratio = 0.0, nonfinite_value = 0.0;
        int last = 0, truncated = 0, worst = -1, nonfinite_state = -1, singular;

        if (++attempts > (double)KL_MAX_SOLVER_STEPS) {
            put_states(v, w->x, t);
            kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
                   "solver gave up at t = %.16g s after %.0f steps on the way to t = %.16g s (last step size "
                   "%.6g s): the model is too stiff or too fast for the tolerances",
                   t, (double)KL_MAX_SOLVER_STEPS, t_end, h);
            return KL_ERROR;
        }
        if (!have_point) {
            int bad = derivatives(instance, w->x, t, w->f0);
            if (bad >= 0) {
                put_states(v, w->x, t);
                kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
                       "the derivative of state '%s' is %g at t = %.16g s", state_name(bad), w->f0[bad], t);
                return KL_ERROR;
            }
            if (!(state->jacobian_uses > 0.0)) {
                kl_jacobian(v, state->jac, state->dfdt);
                statistics->jacobian_calls += 1.0;
                check_jacobian(instance, t);
                state->jacobian_uses = KL_JACOBIAN_REUSE;
                kl_solver_forget(w);
            }
            if (!w->partition_valid) {
                partition(w, state->jac);
            }
            have_point = 1;
        }
        if (!(h > 0.0)) {
            h = initial_step(settings, w->x, w->f0);
        }
        if (settings->max_step > 0.0 && h > settings->max_step) {
            h = settings->max_step;
        }
        h_requested = h;
        if (h >= remaining || t + h >= t_end - h_min) {
            truncated = h > remaining;
            h = remaining;
            last = 1;
        }

        singular = 0;
        if (h != w->lu_step) {
            singular = decompose(w, state->jac, 1.0 / (h * tc->diagonal));
            statistics->decompositions += 1.0;
            w->lu_step = singular ? 0.0 : h;
        }

        if (!singular) {
            for (k = 0; k < S && nonfinite_state < 0; k++) {
                double *u = w->u[k];
                if (k == 0) {
                    memcpy(w->f_stage, w->f0, sizeof(double) * N);
                } else {
                    for (i = 0; i < N; i++) {
                        double xs = w->x[i];
                        for (j = 0; j < k; j++) {
                            xs += tc->a[k][j] * w->u[j][i];
                        }
                        w->x_new[i] = xs;
                    }
                    nonfinite_state = derivatives(instance, w->x_new, t + tc->alpha[k] * h, w->f_stage);
                    if (nonfinite_state >= 0) {
                        nonfinite_value = w->f_stage[nonfinite_state];
                        break;
                    }
                }
                {
                    const double gamma_h = tc->gamma[k] * h;
                    double c_h[S];
                    for (j = 0; j < k; j++) {
                        c_h[j] = tc->c[k][j] / h;
                    }
                    for (i = 0; i < N; i++) {
                        double r = w->f_stage[i] + gamma_h * state->dfdt[i];
                        for (j = 0; j < k; j++) {
                            r += c_h[j] * w->u[j][i];
                        }
                        u[i] = r;
                    }
                }
                solve(w, state->jac, h * tc->diagonal, u);
            }
        }

        if (!singular && nonfinite_state < 0) {
            for (i = 0; i < N; i++) {
                double xn = w->x[i], e = 0.0, ratio;
                for (k = 0; k < S; k++) {
                    xn += tc->m[k] * w->u[k][i];
                    e += tc->e[k] * w->u[k][i];
                }
                w->x_new[i] = xn;
                ratio = fabs(e) / weight(settings, i, w->x[i], xn);
                if (!(ratio <= worst_ratio)) {
                    worst_ratio = ratio;
                    worst = i;
                }
                error_norm += ratio * ratio;
            }
            error_norm = sqrt(error_norm / N);
        }

        if (!singular && nonfinite_state < 0 && error_norm <= 1.0) {
            double factor = error_norm > 0.0 ? 0.9 / cbrt(error_norm) : 5.0;
            factor = fmin(5.0, fmax(0.2, factor));
            if (state->rejected_last > 0.0) {
                factor = fmin(factor, 1.0);
            }
            t = last ? t_end : t + h;
            memcpy(w->x, w->x_new, sizeof(double) * N);
            statistics->accepted_steps += 1.0;
            state->rejected_last = 0.0;
            state->jacobian_uses -= 1.0;
            have_point = 0;
            h *= factor;
            if (truncated && factor >= 1.0 && h < h_requested) {
                h = h_requested; /* the end of the interval cut the step, not the error */
            }
            state->h_next = h;
        } else {
            double factor;
            if (singular) {
                factor = 0.5;
            } else if (nonfinite_state >= 0) {
                factor = 0.25;
            } else {
                factor = fmax(0.2, 0.9 / cbrt(error_norm));
            }
            statistics->rejected_steps += 1.0;
            state->rejected_last = 1.0;
            if (state->jacobian_uses < KL_JACOBIAN_REUSE) {
                /* this J served earlier steps: evaluate it afresh at the current point before retrying */
                state->jacobian_uses = 0.0;
                have_point = 0;
            }
            kl_log(instance, KL_OK, KL_LOG_SOLVER,
                   "step rejected at t = %.16g s with h = %.6g s (error norm %.3g%s)", t, h, error_norm,
                   singular ? ", singular iteration matrix" : (nonfinite_state >= 0 ? ", non-finite derivative" : ""));
            h *= factor;
            if (h < h_min) {
                put_states(v, w->x, t);
                return fail(instance, t, h, h_min, worst, worst_ratio, nonfinite_state, nonfinite_value);
            }
        }
    }
    put_states(v, w->x, t_end);
    return KL_OK;
}

#else /* KL_N_STATES == 0: nothing to integrate; time advances in kl_do_step. */

int kl_solver_integrate(kl_instance *instance, const kl_solver_settings *settings, double t_end)
{
    (void)settings;
    instance->s.v[KL_VR_TIME] = t_end;
    return KL_OK;
}

#endif
