/*
 * kl_solver.h -- the error-controlled, stiffness-capable integrator inside every kreislauf FMU.
 *
 * Method: ROS34PW2, a Rosenbrock-W method with 4 stages, order 3 with an embedded order-2 solution
 * for the error estimate, L-stable and stiffly accurate (J. Rang, L. Angermann, "New Rosenbrock
 * W-methods of order 3 for partial differential algebraic equations of index 1", BIT Numerical
 * Mathematics 45 (2005) 761-787, table ROS34PW2). It is implemented in the transformed form of
 * E. Hairer, G. Wanner, "Solving Ordinary Differential Equations II", 2nd ed., Springer 1996,
 * section IV.7, eq. (7.25), which needs one LU decomposition of (1/(h*gamma) I - J) per step and no
 * matrix-vector products. J = kl_jacobian (analytic, generated) and df/dt enter at the step start.
 *
 * Error control: weighted RMS norm of the difference between the order-3 and order-2 solutions with
 * weights w_i = atol * kl_state_nominal[i] + rtol * max(|x_i(t)|, |x_i(t+h)|); a step is accepted
 * when the norm is <= 1. The next step size is h * min(5, max(0.2, 0.9 * err^(-1/3))) (not enlarged
 * right after a rejection), limited by solver_max_step (0 = no limit) and by the end of the interval.
 * The step size proposed at the end of one call is carried into the next call (and so from one
 * communication step to the next), so that a smooth model takes one internal step per doStep.
 *
 * Linear algebra: states on which no derivative depends (a zero column of J: energy counters and
 * other quadratures) make the iteration matrix block lower triangular,
 *     M = [ M_dd  0 ;  -J_qd  I/(h gamma) ],   d = the other ("dynamic") states, q = the quadratures,
 * so only the dynamic block M_dd is LU-decomposed; the quadrature stages follow by one substitution,
 * u_q = h gamma (b_q + J_qd u_d). The partition is taken from the values of each Jacobian evaluation.
 *
 * Jacobian reuse: a W-method keeps its order with any matrix in place of J (and of df/dt), and its error
 * estimate stays valid, so J and df/dt are evaluated only every KL_JACOBIAN_REUSE accepted steps (across
 * communication steps: they are part of the FMU state), and the LU factors are kept while the step size
 * stays the same. J is evaluated afresh after a rejected step taken with an older J, after an event that
 * reset states, at initialisation and after a reset. An outdated J can only cost rejected steps, never
 * accuracy: every step is still accepted by the error estimate.
 */
#ifndef KL_SOLVER_H
#define KL_SOLVER_H

#include "kl_config.h"

#if KL_N_STATES > 0
#define KL_N_STATES_STORAGE KL_N_STATES
#else
#define KL_N_STATES_STORAGE 1
#endif

#define KL_ROSENBROCK_STAGES 4

/* Attempted steps allowed in one kl_solver_integrate call before it gives up with an error, so that a
 * model whose step size collapses cannot hang the importer. Override with -DKL_MAX_SOLVER_STEPS=... */
#ifndef KL_MAX_SOLVER_STEPS
#define KL_MAX_SOLVER_STEPS 10000000.0
#endif

/* Accepted steps for which one evaluation of J serves (1 = evaluate J at every step). Override with
 * -DKL_JACOBIAN_REUSE=... */
#ifndef KL_JACOBIAN_REUSE
#define KL_JACOBIAN_REUSE 10
#endif

/* Solver state that must survive between steps (part of the FMU state). */
typedef struct {
    double h_next;          /* step size to try next (s); 0 = not yet known, estimate it */
    double rejected_last;   /* 1 when the last attempted step was rejected, else 0 */
    double jacobian_uses;   /* accepted steps that may still use jac and dfdt; 0 = evaluate them first */
    double jac[KL_N_STATES_STORAGE * KL_N_STATES_STORAGE];     /* J as last evaluated (non-finite entries 0) */
    double dfdt[KL_N_STATES_STORAGE];                          /* df/dt as last evaluated */
} kl_solver_state;

/* ROS34PW2 in the transformed form (Hairer & Wanner IV.7 (7.25)); computed once per instance from the
 * published coefficients by kl_solver_coefficients. */
typedef struct {
    double a[KL_ROSENBROCK_STAGES][KL_ROSENBROCK_STAGES];   /* alpha Gamma^-1 */
    double c[KL_ROSENBROCK_STAGES][KL_ROSENBROCK_STAGES];   /* diag(1/gamma) - Gamma^-1 */
    double m[KL_ROSENBROCK_STAGES];                          /* b Gamma^-1 */
    double e[KL_ROSENBROCK_STAGES];                          /* (b - b_hat) Gamma^-1 */
    double alpha[KL_ROSENBROCK_STAGES];                      /* row sums of alpha */
    double gamma[KL_ROSENBROCK_STAGES];                      /* row sums of Gamma */
    double diagonal;                                         /* gamma, the diagonal of Gamma */
} kl_rosenbrock_coefficients;

/* Scratch memory sized by KL_N_STATES. Besides the scratch vectors it holds `coefficients` (filled once by
 * kl_instantiate) and what follows from the J of the solver state: the partition and the LU factors for
 * the step size lu_step; kl_solver_forget marks these out of date (after an FMU state was restored). */
typedef struct {
    kl_rosenbrock_coefficients coefficients;
    double x[KL_N_STATES_STORAGE];                              /* states at the step start */
    double x_new[KL_N_STATES_STORAGE];                          /* order-3 solution */
    double f0[KL_N_STATES_STORAGE];                             /* f(t, x) */
    double f_stage[KL_N_STATES_STORAGE];
    double lu[KL_N_STATES_STORAGE * KL_N_STATES_STORAGE];      /* LU factors of the dynamic block M_dd */
    double lu_step;                                             /* h of the factors in lu; 0 = none */
    int partition_valid;                                        /* dynamic/quadrature follow the state's J */
    int pivot[KL_N_STATES_STORAGE];
    int dynamic[KL_N_STATES_STORAGE];                           /* indices of the dynamic states */
    int quadrature[KL_N_STATES_STORAGE];                        /* indices of the quadrature states */
    int n_dynamic, n_quadrature;
    double gathered[KL_N_STATES_STORAGE];                       /* stage values of the dynamic states */
    double u[KL_ROSENBROCK_STAGES][KL_N_STATES_STORAGE];        /* transformed stage values */
} kl_solver_workspace;

/* Tolerances and limits of one integration, read from the model parameters. */
typedef struct {
    double relative_tolerance;   /* rtol (1) */
    double absolute_tolerance;   /* atol, scaled per state by kl_state_nominal */
    double max_step;             /* s; 0 = no limit */
} kl_solver_settings;

struct kl_instance;

/* Fill `coefficients` from the ROS34PW2 tableau (once, at instantiation). */
void kl_solver_coefficients(kl_rosenbrock_coefficients *coefficients);

/* Mark the partition and LU factors of `work` out of date (the solver state's J changed under them). */
void kl_solver_forget(kl_solver_workspace *work);

/* Integrate the states of `instance` from its current time v[KL_VR_TIME] to t_end with inputs and
 * parameters held constant. On return v holds the states at the time reached and v[KL_VR_TIME] that
 * time (t_end exactly on success). Returns a kl_status; failures are logged with the time, the step
 * size and the state concerned. */
int kl_solver_integrate(struct kl_instance *instance, const kl_solver_settings *settings, double t_end);

/* Solve A x = b in place for a dense n x n row-major matrix: kl_lu_decompose overwrites a with its LU
 * factors (partial pivoting) and returns 0, or returns 1 when a pivot is zero or not finite. */
int kl_lu_decompose(double *a, int *pivot, int n);
void kl_lu_solve(const double *lu, const int *pivot, int n, double *b);

#endif /* KL_SOLVER_H */
