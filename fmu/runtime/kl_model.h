/*
 * kl_model.h -- the contract between the generic kreislauf FMU runtime and one generated model.
 *
 * The runtime (kl_runtime.c, kl_solver.c, kl_fmi2.c, kl_fmi3.c) is written once and serves every
 * model. The exporter generates, per model, kl_config.h (sizes and identifiers) and kl_model.c
 * (the tables and hooks declared below). Adding a model touches no runtime file.
 *
 * Storage: every variable of the model is one double in an array v[KL_N_VARIABLES]; the FMI value
 * reference of a variable is its index in that array. Index 0 is the independent variable `time`
 * (s). Integer and Boolean variables are stored as doubles too (booleans as 0.0 / 1.0).
 *
 * Continuous states live in v at the value references listed in kl_state_vr; the solver gathers
 * them into a vector x, and writes them back into v before calling a hook.
 */
#ifndef KL_MODEL_H
#define KL_MODEL_H

#include "kl_config.h"
/*
 * kl_config.h (generated) defines:
 *   KL_MODEL_IDENTIFIER        bare identifier, e.g. fouling_heat_exchanger
 *   KL_MODEL_NAME              string literal
 *   KL_INSTANTIATION_TOKEN     string literal, the FMI 2 guid / FMI 3 instantiationToken
 *   KL_N_VARIABLES             number of entries in v (time included)
 *   KL_N_STATES                number of continuous states (may be 0)
 *   KL_VR_RELATIVE_TOLERANCE   value reference of the parameter `solver_relative_tolerance`
 *   KL_VR_ABSOLUTE_TOLERANCE   value reference of the parameter `solver_absolute_tolerance`
 *   KL_VR_MAX_SOLVER_STEP      value reference of the parameter `solver_max_step` (s; 0 = no limit)
 */

#define KL_VR_TIME 0

typedef enum { KL_REAL = 0, KL_INTEGER = 1, KL_BOOLEAN = 2 } kl_type;

typedef enum {
    KL_INDEPENDENT = 0,
    KL_PARAMETER = 1,
    KL_CALCULATED_PARAMETER = 2,
    KL_INPUT = 3,
    KL_OUTPUT = 4,
    KL_LOCAL = 5
} kl_causality;

typedef struct {
    const char *name;        /* the FMI variable name */
    const char *unit;        /* "" when dimensionless */
    kl_type type;
    kl_causality causality;
    double start;            /* start value (parameters, inputs, states) */
    double min;              /* -INFINITY when unbounded below */
    double max;              /* +INFINITY when unbounded above */
} kl_variable_info;

/* Generated tables. */
extern const kl_variable_info kl_variables[KL_N_VARIABLES];
#if KL_N_STATES > 0
extern const int kl_state_vr[KL_N_STATES];       /* value reference of each continuous state */
extern const double kl_state_nominal[KL_N_STATES]; /* magnitude used to scale absolute tolerance */
#endif

/* Generated hooks. `v` is the full variable array; v[KL_VR_TIME] is the current time. */

/* Fill v with the start values of every variable (v[0] = 0). */
void kl_set_start_values(double *v);

/* After parameters (and inputs) have been set in initialisation mode: compute calculated
 * parameters and the initial values of the states from the parameters. Must be idempotent: the
 * runtime calls it again whenever values are read during initialisation mode. */
void kl_initialize(double *v);

/* dx[i] = d(state i)/dt at the values in v. */
void kl_derivatives(const double *v, double *dx);

/* jac[i * KL_N_STATES + j] = d(dx[i]) / d(state j);  dfdt[i] = partial d(dx[i]) / d(time). */
void kl_jacobian(const double *v, double *jac, double *dfdt);

/* Compute every output and local variable from time, parameters, inputs and states. */
void kl_outputs(double *v);

/* The earliest scheduled (time) event strictly after v[KL_VR_TIME]; INFINITY when none. */
double kl_next_time_event(const double *v);

/* Apply the state resets of the time events due at v[KL_VR_TIME]; returns how many fired. */
int kl_time_events(double *v);

/* Apply the state resets triggered by a change of inputs from `previous` (the variable array as it
 * was at the end of the last step, or after initialisation) to `v`; returns how many fired. */
int kl_input_events(const double *previous, double *v);

#endif /* KL_MODEL_H */
