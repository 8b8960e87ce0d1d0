/* Tables and hooks of the test model "blind_decay" (see kl_config.h). */
#include <math.h>

#include "kl_model.h"

const kl_variable_info kl_variables[KL_N_VARIABLES] = {
    {"time", "s", KL_REAL, KL_INDEPENDENT, 0.0, -INFINITY, INFINITY},
    {"solver_relative_tolerance", "", KL_REAL, KL_PARAMETER, 1e-6, 1e-12, 0.1},
    {"solver_absolute_tolerance", "", KL_REAL, KL_PARAMETER, 1e-10, 1e-15, 1.0},
    {"solver_max_step", "s", KL_REAL, KL_PARAMETER, 0.0, 0.0, INFINITY},
    {"rate", "1/s", KL_REAL, KL_PARAMETER, 0.5, 1e-3, 1e3},
    {"x_initial", "", KL_REAL, KL_PARAMETER, 1.0, -1e6, 1e6},
    {"jacobian_mode", "", KL_INTEGER, KL_PARAMETER, 0.0, 0.0, 1.0},
    {"x", "", KL_REAL, KL_OUTPUT, 1.0, -INFINITY, INFINITY},
    {"quadrature", "", KL_REAL, KL_OUTPUT, 0.0, -INFINITY, INFINITY},
};

const int kl_state_vr[KL_N_STATES] = {VR_X, VR_QUADRATURE};
const double kl_state_nominal[KL_N_STATES] = {1.0, 1.0};

void kl_set_start_values(double *v)
{
    int i;
    for (i = 0; i < KL_N_VARIABLES; i++) {
        v[i] = kl_variables[i].start;
    }
    v[KL_VR_TIME] = 0.0;
}

void kl_initialize(double *v)
{
    v[VR_X] = v[VR_X_INITIAL];
    v[VR_QUADRATURE] = 0.0;
}

void kl_derivatives(const double *v, double *dx)
{
    dx[0] = -v[VR_RATE] * v[VR_X];
    dx[1] = v[VR_X];
}

void kl_jacobian(const double *v, double *jac, double *dfdt)
{
    if (v[VR_JACOBIAN_MODE] == 0.0) {
        jac[0] = NAN;
        jac[1] = INFINITY;
        jac[2] = -INFINITY;
        jac[3] = NAN;
        dfdt[0] = INFINITY;
        dfdt[1] = NAN;
    } else {
        jac[0] = NAN;
        jac[1] = 0.0;
        jac[2] = 1.0;
        jac[3] = 0.0;
        dfdt[0] = 0.0;
        dfdt[1] = 0.0;
    }
}

void kl_outputs(double *v)
{
    (void)v;
}

double kl_next_time_event(const double *v)
{
    (void)v;
    return INFINITY;
}

int kl_time_events(double *v)
{
    (void)v;
    return 0;
}

int kl_input_events(const double *previous, double *v)
{
    (void)previous;
    (void)v;
    return 0;
}
