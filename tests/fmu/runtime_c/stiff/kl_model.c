/* Tables and hooks of the test model "stiff_pair" (see kl_config.h). */
#include <math.h>

#include "kl_model.h"

const kl_variable_info kl_variables[KL_N_VARIABLES] = {
    {"time", "s", KL_REAL, KL_INDEPENDENT, 0.0, -INFINITY, INFINITY},
    {"solver_relative_tolerance", "", KL_REAL, KL_PARAMETER, 1e-6, 1e-12, 0.1},
    {"solver_absolute_tolerance", "", KL_REAL, KL_PARAMETER, 1e-8, 1e-15, 1.0},
    {"solver_max_step", "s", KL_REAL, KL_PARAMETER, 0.0, 0.0, INFINITY},
    {"k1", "1/s", KL_REAL, KL_PARAMETER, 1e4, 1e-3, 1e8},
    {"k2", "1/s", KL_REAL, KL_PARAMETER, 1.0, 1e-3, 1e8},
    {"x1_initial", "", KL_REAL, KL_PARAMETER, 0.0, -1e6, 1e6},
    {"x2_initial", "", KL_REAL, KL_PARAMETER, 1.0, -1e6, 1e6},
    {"timer_period", "s", KL_REAL, KL_PARAMETER, 0.3, 1e-6, 1e9},
    {"u", "kg/s", KL_REAL, KL_INPUT, 1.0, 0.0, 1000.0},
    {"stage", "", KL_INTEGER, KL_INPUT, 1.0, 0.0, 3.0},
    {"reset_request", "", KL_BOOLEAN, KL_INPUT, 0.0, 0.0, 1.0},
    {"fault", "", KL_BOOLEAN, KL_INPUT, 0.0, 0.0, 1.0},
    {"output_gain", "", KL_REAL, KL_INPUT, 0.0, 0.0, 1e4},
    {"x1", "", KL_REAL, KL_OUTPUT, 0.0, -INFINITY, INFINITY},
    {"x2", "", KL_REAL, KL_OUTPUT, 1.0, -INFINITY, INFINITY},
    {"quadrature", "", KL_REAL, KL_OUTPUT, 0.0, -INFINITY, INFINITY},
    {"clock", "s", KL_REAL, KL_OUTPUT, 0.0, -INFINITY, INFINITY},
    {"timer_resets", "", KL_INTEGER, KL_OUTPUT, 0.0, 0.0, INFINITY},
    {"quadrature_resets", "", KL_INTEGER, KL_OUTPUT, 0.0, 0.0, INFINITY},
    {"x2_exp", "", KL_REAL, KL_OUTPUT, 1.0, 0.0, INFINITY},
    {"efficiency", "%", KL_REAL, KL_PARAMETER, 100.0, 0.0, 100.0},
    {"time_constant_1", "s", KL_REAL, KL_CALCULATED_PARAMETER, 1e-4, 0.0, INFINITY},
    {"fault_time", "s", KL_REAL, KL_PARAMETER, 1e300, 0.0, INFINITY},
};

const int kl_state_vr[KL_N_STATES] = {VR_X1, VR_X2, VR_QUADRATURE, VR_CLOCK};
const double kl_state_nominal[KL_N_STATES] = {1.0, 1.0, 1.0, 1.0};

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
    v[VR_TIME_CONSTANT_1] = 1.0 / v[VR_K1];
    v[VR_X1] = v[VR_X1_INITIAL];
    v[VR_X2] = v[VR_X2_INITIAL];
    v[VR_QUADRATURE] = 0.0;
    v[VR_CLOCK] = 0.0;
    v[VR_TIMER_RESETS] = 0.0;
    v[VR_QUADRATURE_RESETS] = 0.0;
}

void kl_derivatives(const double *v, double *dx)
{
    const double source = v[VR_U] * v[VR_STAGE] * v[VR_EFFICIENCY] / 100.0;
    dx[0] = -v[VR_K1] * v[VR_X1] + source;
    dx[1] = v[VR_FAULT] != 0.0 || v[KL_VR_TIME] > v[VR_FAULT_TIME] ? NAN : -v[VR_K2] * (v[VR_X2] - v[VR_X1]);
    dx[2] = v[VR_X2];
    dx[3] = 1.0;
}

void kl_jacobian(const double *v, double *jac, double *dfdt)
{
    int i;
    for (i = 0; i < KL_N_STATES * KL_N_STATES; i++) {
        jac[i] = 0.0;
    }
    jac[0 * KL_N_STATES + 0] = -v[VR_K1];
    jac[1 * KL_N_STATES + 0] = v[VR_K2];
    jac[1 * KL_N_STATES + 1] = -v[VR_K2];
    jac[2 * KL_N_STATES + 1] = 1.0;
    for (i = 0; i < KL_N_STATES; i++) {
        dfdt[i] = 0.0;
    }
}

void kl_outputs(double *v)
{
    v[VR_X2_EXP] = exp(v[VR_OUTPUT_GAIN] * v[VR_X2]);
}

double kl_next_time_event(const double *v)
{
    const double period = v[VR_TIMER_PERIOD];
    const double t = v[KL_VR_TIME];
    const double k = floor(t / period) + 1.0;
    return k * period > t ? k * period : (k + 1.0) * period;
}

int kl_time_events(double *v)
{
    const double period = v[VR_TIMER_PERIOD];
    const double t = v[KL_VR_TIME];
    /* exact comparison on purpose: the runtime calls this at the time kl_next_time_event returned */
    if (t > 0.0 && round(t / period) * period == t) {
        v[VR_CLOCK] = 0.0;
        v[VR_TIMER_RESETS] += 1.0;
        return 1;
    }
    return 0;
}

int kl_input_events(const double *previous, double *v)
{
    if (previous[VR_RESET_REQUEST] == 0.0 && v[VR_RESET_REQUEST] != 0.0) {
        v[VR_QUADRATURE] = 0.0;
        v[VR_QUADRATURE_RESETS] += 1.0;
        return 1;
    }
    return 0;
}
