/* Tables and hooks of the test model "heat_meter" (see kl_config.h). */
#include <math.h>

#include "kl_model.h"

const kl_variable_info kl_variables[KL_N_VARIABLES] = {
    {"time", "s", KL_REAL, KL_INDEPENDENT, 0.0, -INFINITY, INFINITY},
    {"solver_relative_tolerance", "", KL_REAL, KL_PARAMETER, 1e-6, 1e-12, 0.1},
    {"solver_absolute_tolerance", "", KL_REAL, KL_PARAMETER, 1e-8, 1e-15, 1.0},
    {"solver_max_step", "s", KL_REAL, KL_PARAMETER, 0.0, 0.0, INFINITY},
    {"supply_temperature", "K", KL_REAL, KL_INPUT, 350.0, 273.15, 473.15},
    {"return_temperature", "K", KL_REAL, KL_INPUT, 320.0, 273.15, 473.15},
    {"mass_flow", "kg/s", KL_REAL, KL_INPUT, 2.0, 0.0, 1000.0},
    {"specific_heat", "J/(kg.K)", KL_REAL, KL_PARAMETER, 4180.0, 1.0, 1e5},
    {"efficiency", "%", KL_REAL, KL_PARAMETER, 100.0, 0.0, 100.0},
    {"heat_flow", "W", KL_REAL, KL_OUTPUT, 0.0, -INFINITY, INFINITY},
    {"elapsed", "s", KL_REAL, KL_OUTPUT, 0.0, -INFINITY, INFINITY},
};

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
    (void)v;
}

void kl_derivatives(const double *v, double *dx)
{
    (void)v;
    (void)dx;
}

void kl_jacobian(const double *v, double *jac, double *dfdt)
{
    (void)v;
    (void)jac;
    (void)dfdt;
}

void kl_outputs(double *v)
{
    v[VR_HEAT_FLOW] = v[VR_MASS_FLOW] * v[VR_SPECIFIC_HEAT] * (v[VR_SUPPLY_TEMPERATURE] - v[VR_RETURN_TEMPERATURE]) *
                      v[VR_EFFICIENCY] / 100.0;
    v[VR_ELAPSED] = v[KL_VR_TIME];
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
