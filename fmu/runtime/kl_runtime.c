/*
 * kl_runtime.c -- the generic stepping core of every kreislauf FMU (see kl_runtime.h).
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kl_runtime.h"

#define KL_MESSAGE_SIZE 2048

/* Two times closer than this are the same instant (absorbs round-off such as 3 * 0.1 != 0.3). */
static double same_time_tolerance(double t)
{
    return 64.0 * DBL_EPSILON * fmax(1.0, fabs(t));
}

static const char *const CATEGORY_NAMES[KL_N_LOG_CATEGORIES] = {"logEvents", "logSolver", "logStatusWarning",
                                                                "logStatusError"};

const char *kl_log_category_name(kl_log_category category)
{
    return (unsigned)category < KL_N_LOG_CATEGORIES ? CATEGORY_NAMES[category] : "logStatusError";
}

static const char *mode_name(int mode)
{
    switch (mode) {
    case KL_MODE_INSTANTIATED:
        return "instantiated";
    case KL_MODE_INITIALIZATION:
        return "initialization";
    case KL_MODE_STEP:
        return "step";
    case KL_MODE_TERMINATED:
        return "terminated";
    default:
        return "error";
    }
}

static const char *causality_name(kl_causality causality)
{
    switch (causality) {
    case KL_INDEPENDENT:
        return "independent variable";
    case KL_PARAMETER:
        return "parameter";
    case KL_CALCULATED_PARAMETER:
        return "calculated parameter";
    case KL_INPUT:
        return "input";
    case KL_OUTPUT:
        return "output";
    default:
        return "local variable";
    }
}

static const char *type_name(kl_type type)
{
    switch (type) {
    case KL_REAL:
        return "Real (Float64)";
    case KL_INTEGER:
        return "Integer (Int32)";
    default:
        return "Boolean";
    }
}

void kl_log(const kl_instance *instance, kl_status status, kl_log_category category, const char *format, ...)
{
    char message[KL_MESSAGE_SIZE];
    va_list args;
    if (instance == NULL || instance->log_function == NULL) {
        return;
    }
    if (category != KL_LOG_STATUS_ERROR &&
        (!instance->logging_on || (unsigned)category >= KL_N_LOG_CATEGORIES || !instance->log_category_on[category])) {
        return;
    }
    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    instance->log_function(instance, status, kl_log_category_name(category), message);
}

/* " kg/s" for a unit, "" when dimensionless. */
static const char *unit_separator(const kl_variable_info *info)
{
    return info->unit[0] != '\0' ? " " : "";
}

kl_status kl_unsupported(const kl_instance *instance, const char *function, const char *reason)
{
    kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "%s is not supported by this FMU: %s", function, reason);
    return KL_ERROR;
}

kl_status kl_check_mode(const kl_instance *instance, const char *function, unsigned int allowed_modes_mask)
{
    if (instance == NULL) {
        return KL_ERROR;
    }
    if (KL_MASK(instance->s.mode) & allowed_modes_mask) {
        return KL_OK;
    }
    kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "%s is not allowed in %s mode", function,
           mode_name(instance->s.mode));
    return KL_ERROR;
}

static void start_values(kl_instance *instance)
{
    kl_state *s = &instance->s;
    memset(s, 0, sizeof(*s));
    kl_set_start_values(s->v);
    memcpy(s->previous, s->v, sizeof(s->v));
    s->last_event_time = -INFINITY;
    s->last_successful_time = s->v[KL_VR_TIME];
    s->stop_time = INFINITY;
    s->tolerance = 0.0;
    s->mode = KL_MODE_INSTANTIATED;
    s->outputs_stale = 1;
}

kl_instance *kl_instantiate(const char *instance_name, kl_log_function log_function, void (*importer_logger)(void),
                            void *environment, int logging_on, kl_allocate_function allocate,
                            kl_free_function release)
{
    kl_instance *instance;
    const char *name = instance_name != NULL ? instance_name : "";
    size_t length = strlen(name);
    int i;
    if (allocate == NULL || release == NULL) {
        return NULL;
    }
    instance = (kl_instance *)allocate(1, sizeof(kl_instance));
    if (instance == NULL) {
        return NULL;
    }
    instance->instance_name = (char *)allocate(length + 1, 1);
    if (instance->instance_name == NULL) {
        release(instance);
        return NULL;
    }
    memcpy(instance->instance_name, name, length + 1);
    instance->log_function = log_function;
    instance->importer_logger = importer_logger;
    instance->environment = environment;
    instance->allocate = allocate;
    instance->release = release;
    instance->logging_on = logging_on != 0;
    for (i = 0; i < KL_N_LOG_CATEGORIES; i++) {
        instance->log_category_on[i] = 1;
    }
    kl_solver_coefficients(&instance->work.coefficients);
    start_values(instance);
    return instance;
}

void kl_free_instance(kl_instance *instance)
{
    if (instance == NULL) {
        return;
    }
    instance->release(instance->instance_name);
    instance->release(instance);
}

kl_status kl_reset(kl_instance *instance)
{
    if (instance == NULL) {
        return KL_ERROR;
    }
    start_values(instance);
    return KL_OK;
}

kl_status kl_set_debug_logging(kl_instance *instance, int logging_on, size_t n_categories,
                               const char *const categories[])
{
    size_t i;
    int c;
    if (instance == NULL) {
        return KL_ERROR;
    }
    if (n_categories > 0 && categories == NULL) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "SetDebugLogging: %lu categories announced but none given",
               (unsigned long)n_categories);
        return KL_ERROR;
    }
    for (i = 0; i < n_categories; i++) {
        int known = 0;
        for (c = 0; c < KL_N_LOG_CATEGORIES; c++) {
            known |= categories[i] != NULL && strcmp(categories[i], CATEGORY_NAMES[c]) == 0;
        }
        if (!known) {
            kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
                   "SetDebugLogging: unknown log category '%.200s' (known: logEvents, logSolver, "
                   "logStatusWarning, logStatusError)",
                   categories[i] != NULL ? categories[i] : "(null)");
            return KL_ERROR;
        }
    }
    instance->logging_on = logging_on != 0;
    if (logging_on) {
        for (c = 0; c < KL_N_LOG_CATEGORIES; c++) {
            int named = n_categories == 0;
            for (i = 0; i < n_categories; i++) {
                named |= strcmp(categories[i], CATEGORY_NAMES[c]) == 0;
            }
            instance->log_category_on[c] = named;
        }
    }
    return KL_OK;
}

kl_status kl_setup_experiment(kl_instance *instance, int tolerance_defined, double tolerance, double start_time,
                              int stop_time_defined, double stop_time)
{
    if (kl_check_mode(instance, "SetupExperiment", KL_MASK(KL_MODE_INSTANTIATED)) != KL_OK) {
        return KL_ERROR;
    }
    if (tolerance_defined && !(isfinite(tolerance) && tolerance > 0.0)) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "experiment tolerance = %.16g must be finite and > 0 (it replaces the parameter "
               "'%s')",
               tolerance, kl_variables[KL_VR_RELATIVE_TOLERANCE].name);
        return KL_ERROR;
    }
    if (!isfinite(start_time)) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "experiment start time = %g s is not finite", start_time);
        return KL_ERROR;
    }
    if (stop_time_defined && !(isfinite(stop_time) && stop_time >= start_time)) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "experiment stop time = %.16g s must be finite and >= the start time %.16g s", stop_time, start_time);
        return KL_ERROR;
    }
    instance->s.tolerance = tolerance_defined ? tolerance : 0.0;
    instance->s.v[KL_VR_TIME] = start_time;
    instance->s.last_successful_time = start_time;
    instance->s.stop_time = stop_time_defined ? stop_time : INFINITY;
    return KL_OK;
}

kl_status kl_enter_initialization_mode(kl_instance *instance)
{
    if (kl_check_mode(instance, "EnterInitializationMode", KL_MASK(KL_MODE_INSTANTIATED)) != KL_OK) {
        return KL_ERROR;
    }
    instance->s.mode = KL_MODE_INITIALIZATION;
    instance->s.outputs_stale = 1;
    return KL_OK;
}

static void solver_settings(const kl_instance *instance, kl_solver_settings *settings)
{
    settings->relative_tolerance =
        instance->s.tolerance > 0.0 ? instance->s.tolerance : instance->s.v[KL_VR_RELATIVE_TOLERANCE];
    settings->absolute_tolerance = instance->s.v[KL_VR_ABSOLUTE_TOLERANCE];
    settings->max_step = instance->s.v[KL_VR_MAX_SOLVER_STEP];
}

static kl_status check_parameter(const kl_instance *instance, int vr, double value, int strictly_positive)
{
    const kl_variable_info *info = &kl_variables[vr];
    if (isfinite(value) && (strictly_positive ? value > 0.0 : value >= 0.0)) {
        return KL_OK;
    }
    kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "parameter '%s' = %.16g%s%s must be finite and %s", info->name,
           value, unit_separator(info), info->unit, strictly_positive ? "> 0" : ">= 0 (0 = no limit)");
    return KL_ERROR;
}

/* Name the first state or output that is not finite. */
static kl_status check_finite(kl_instance *instance, const char *when)
{
    const double *v = instance->s.v;
    int vr;
#if KL_N_STATES > 0
    int i;
    for (i = 0; i < KL_N_STATES; i++) {
        vr = kl_state_vr[i];
        if (!isfinite(v[vr])) {
            kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "state '%s' is %g at t = %.16g s %s",
                   kl_variables[vr].name, v[vr], v[KL_VR_TIME], when);
            return KL_ERROR;
        }
    }
#endif
    for (vr = 0; vr < KL_N_VARIABLES; vr++) {
        if (kl_variables[vr].causality == KL_OUTPUT && !isfinite(v[vr])) {
            kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "output '%s' is %g at t = %.16g s %s",
                   kl_variables[vr].name, v[vr], v[KL_VR_TIME], when);
            return KL_ERROR;
        }
    }
    return KL_OK;
}

kl_status kl_exit_initialization_mode(kl_instance *instance)
{
    kl_solver_settings settings;
    kl_state *s;
    if (kl_check_mode(instance, "ExitInitializationMode", KL_MASK(KL_MODE_INITIALIZATION)) != KL_OK) {
        return KL_ERROR;
    }
    s = &instance->s;
    kl_initialize(s->v);
    kl_outputs(s->v);
    s->outputs_stale = 0;
    solver_settings(instance, &settings);
    if (check_parameter(instance, KL_VR_RELATIVE_TOLERANCE, settings.relative_tolerance, 1) != KL_OK ||
        check_parameter(instance, KL_VR_ABSOLUTE_TOLERANCE, settings.absolute_tolerance, 1) != KL_OK ||
        check_parameter(instance, KL_VR_MAX_SOLVER_STEP, settings.max_step, 0) != KL_OK ||
        check_finite(instance, "after initialisation") != KL_OK) {
        s->mode = KL_MODE_ERROR;
        return KL_ERROR;
    }
    memcpy(s->previous, s->v, sizeof(s->v));
    s->solver.h_next = 0.0;
    s->solver.rejected_last = 0.0;
    s->solver.jacobian_uses = 0.0;
    s->last_event_time = -INFINITY;
    s->last_successful_time = s->v[KL_VR_TIME];
    s->mode = KL_MODE_STEP;
    return KL_OK;
}

kl_status kl_terminate(kl_instance *instance)
{
    if (kl_check_mode(instance, "Terminate", KL_MASK(KL_MODE_STEP) | KL_MASK(KL_MODE_INITIALIZATION)) != KL_OK) {
        return KL_ERROR;
    }
    instance->s.mode = KL_MODE_TERMINATED;
    return KL_OK;
}

kl_status kl_check_reference(const kl_instance *instance, const char *function, unsigned int value_reference,
                             kl_type type)
{
    if (value_reference >= (unsigned int)KL_N_VARIABLES || kl_variables[value_reference].type != type) {
        return kl_wrong_type(instance, function, value_reference, type_name(type));
    }
    return KL_OK;
}

kl_status kl_wrong_type(const kl_instance *instance, const char *function, unsigned int value_reference,
                        const char *requested_type)
{
    const kl_variable_info *info;
    if (value_reference >= (unsigned int)KL_N_VARIABLES) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "%s: unknown value reference %u (this FMU has value references 0 to %d)", function, value_reference,
               KL_N_VARIABLES - 1);
        return KL_ERROR;
    }
    info = &kl_variables[value_reference];
    kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "%s: %s '%s' (vr %u) is %s, not %s", function,
           causality_name(info->causality), info->name, value_reference, type_name(info->type), requested_type);
    return KL_ERROR;
}

kl_status kl_set_value(kl_instance *instance, const char *function, unsigned int value_reference, kl_type type,
                       double value)
{
    const kl_variable_info *info;
    const char *what;
    kl_state *s = &instance->s;
    if (kl_check_reference(instance, function, value_reference, type) != KL_OK) {
        return KL_ERROR;
    }
    info = &kl_variables[value_reference];
    what = causality_name(info->causality);
    if (info->causality != KL_PARAMETER && info->causality != KL_INPUT) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "%s: cannot set %s '%s' (vr %u): only parameters and inputs can be set", function, what, info->name,
               value_reference);
        return KL_ERROR;
    }
    if (info->causality == KL_PARAMETER && s->mode != KL_MODE_INSTANTIATED && s->mode != KL_MODE_INITIALIZATION) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "%s: cannot set parameter '%s' (vr %u) in %s mode: parameters are fixed after initialisation",
               function, info->name, value_reference, mode_name(s->mode));
        return KL_ERROR;
    }
    if (s->mode == KL_MODE_TERMINATED || s->mode == KL_MODE_ERROR) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "%s: cannot set %s '%s' (vr %u) in %s mode", function, what,
               info->name, value_reference, mode_name(s->mode));
        return KL_ERROR;
    }
    if (!isfinite(value)) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "%s '%s' = %g is not finite; allowed [%.16g, %.16g]%s%s (%s, vr %u)",
               what, info->name, value, info->min, info->max, unit_separator(info), info->unit, function,
               value_reference);
        return KL_ERROR;
    }
    if (type == KL_INTEGER && value != floor(value)) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "Integer %s '%s' = %.16g is not an integer (%s, vr %u)", what,
               info->name, value, function, value_reference);
        return KL_ERROR;
    }
    if (type == KL_BOOLEAN && value != 0.0 && value != 1.0) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "Boolean %s '%s' = %.16g is neither false (0) nor true (1) (%s, vr %u)",
               what, info->name, value, function, value_reference);
        return KL_ERROR;
    }
    if (value < info->min || value > info->max) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "%s '%s' = %.16g is outside [%.16g, %.16g]%s%s (%s, vr %u)", what,
               info->name, value, info->min, info->max, unit_separator(info), info->unit, function, value_reference);
        return KL_ERROR;
    }
    /* writing the same value again (bit for bit, so -0.0 replaces 0.0) keeps the outputs valid */
    if (memcmp(&s->v[value_reference], &value, sizeof(value)) != 0) {
        s->v[value_reference] = value;
        s->outputs_stale = 1;
    }
    return KL_OK;
}

kl_status kl_get_value(kl_instance *instance, const char *function, unsigned int value_reference, kl_type type,
                       double *value)
{
    kl_state *s = &instance->s;
    if (kl_check_reference(instance, function, value_reference, type) != KL_OK) {
        return KL_ERROR;
    }
    if (s->outputs_stale) {
        if (s->mode == KL_MODE_INITIALIZATION) {
            kl_initialize(s->v);
            kl_outputs(s->v);
            s->outputs_stale = 0;
        } else if (s->mode == KL_MODE_STEP) {
            kl_outputs(s->v);
            s->outputs_stale = 0;
        }
    }
    *value = s->v[value_reference];
    return KL_OK;
}

/* The next time event after the current time that has not been handled yet; INFINITY when none. */
static kl_status next_time_event(kl_instance *instance, double *event_time)
{
    kl_state *s = &instance->s;
    double t = s->v[KL_VR_TIME];
    double te = kl_next_time_event(s->v);
    if (te <= s->last_event_time) {
        s->v[KL_VR_TIME] = s->last_event_time;
        te = kl_next_time_event(s->v);
        s->v[KL_VR_TIME] = t;
        if (te <= s->last_event_time) {
            kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
                   "the model scheduled a time event at t = %.16g s, not after the last one at t = %.16g s", te,
                   s->last_event_time);
            return KL_ERROR;
        }
    }
    if (isnan(te) || te < t - same_time_tolerance(t)) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "the model scheduled a time event at t = %.16g s, before the current time %.16g s", te, t);
        return KL_ERROR;
    }
    *event_time = te;
    return KL_OK;
}

static kl_status step_failed(kl_instance *instance)
{
    instance->s.mode = KL_MODE_ERROR;
    instance->s.last_successful_time = instance->s.v[KL_VR_TIME];
    return KL_ERROR;
}

kl_status kl_do_step(kl_instance *instance, double current_time, double step_size)
{
    kl_state *s;
    kl_solver_settings settings;
    double t_end, eps_end;
    int fired;
    if (kl_check_mode(instance, "DoStep", KL_MASK(KL_MODE_STEP)) != KL_OK) {
        return KL_ERROR;
    }
    s = &instance->s;
    if (!isfinite(current_time) || !isfinite(step_size) || step_size < 0.0) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "DoStep: communication point %.16g s and step size %.16g s must be finite, step size >= 0",
               current_time, step_size);
        return KL_ERROR;
    }
    if (fabs(current_time - s->v[KL_VR_TIME]) > same_time_tolerance(current_time)) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "DoStep: communication point %.16g s differs from the FMU time %.16g s", current_time,
               s->v[KL_VR_TIME]);
        return KL_ERROR;
    }
    t_end = current_time + step_size;
    eps_end = same_time_tolerance(t_end);
    if (t_end > s->stop_time + eps_end) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "DoStep: step to t = %.16g s would pass the experiment stop time %.16g s", t_end, s->stop_time);
        return KL_ERROR;
    }
    solver_settings(instance, &settings);
    s->v[KL_VR_TIME] = current_time;

    fired = kl_input_events(s->previous, s->v);
    if (fired > 0) {
        s->solver.jacobian_uses = 0.0; /* states were reset: evaluate J at the new point */
        s->statistics.input_events += fired;
        kl_log(instance, KL_OK, KL_LOG_EVENTS, "%d input event(s) at t = %.16g s", fired, current_time);
    }

    for (;;) {
        double te, target;
        int event_in_step;
        if (next_time_event(instance, &te) != KL_OK) {
            return step_failed(instance);
        }
        event_in_step = te <= t_end + eps_end;
        /* an event within round-off of the step end is handled at the step end */
        target = event_in_step && te < t_end - eps_end ? te : t_end;
        if (target < s->v[KL_VR_TIME]) {
            target = s->v[KL_VR_TIME]; /* an event within round-off before now: handle it now */
        }
        if (kl_solver_integrate(instance, &settings, target) != KL_OK) {
            return step_failed(instance);
        }
        s->v[KL_VR_TIME] = target;
        if (!event_in_step) {
            break;
        }
        s->v[KL_VR_TIME] = te;
        fired = kl_time_events(s->v);
        s->v[KL_VR_TIME] = target;
        s->last_event_time = te;
        s->statistics.time_events += 1.0;
        /* a reset invalidates the step size history and J: start the next integration afresh */
        if (fired > 0) {
            s->solver.h_next = 0.0;
            s->solver.jacobian_uses = 0.0;
        }
        kl_log(instance, KL_OK, KL_LOG_EVENTS, "time event at t = %.16g s: %d reset(s)", te, fired);
    }

    kl_outputs(s->v);
    s->outputs_stale = 0;
    if (check_finite(instance, "at the end of the step") != KL_OK) {
        return step_failed(instance);
    }
    memcpy(s->previous, s->v, sizeof(s->v));
    s->last_successful_time = t_end;
    s->statistics.do_steps += 1.0;
    kl_log(instance, KL_OK, KL_LOG_SOLVER,
           "step to t = %.16g s done; so far %.0f accepted and %.0f rejected solver steps, %.0f derivative and "
           "%.0f Jacobian evaluations, %.0f LU decompositions, %.0f time and %.0f input events; next step size "
           "%.6g s",
           t_end, s->statistics.accepted_steps, s->statistics.rejected_steps, s->statistics.derivative_calls,
           s->statistics.jacobian_calls, s->statistics.decompositions, s->statistics.time_events,
           s->statistics.input_events, s->solver.h_next);
    return KL_OK;
}

/* ---- FMU state --------------------------------------------------------------------------------- */

kl_status kl_get_state(kl_instance *instance, kl_state **state)
{
    kl_state *copy;
    if (instance == NULL || state == NULL) {
        return KL_ERROR;
    }
    copy = *state;
    if (copy == NULL) {
        copy = (kl_state *)instance->allocate(1, sizeof(kl_state));
        if (copy == NULL) {
            kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "GetFMUState: out of memory (%lu bytes)",
                   (unsigned long)sizeof(kl_state));
            return KL_ERROR;
        }
    }
    memcpy(copy, &instance->s, sizeof(kl_state));
    *state = copy;
    return KL_OK;
}

kl_status kl_set_state(kl_instance *instance, const kl_state *state)
{
    if (instance == NULL) {
        return KL_ERROR;
    }
    if (state == NULL) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "SetFMUState: the FMU state is NULL");
        return KL_ERROR;
    }
    memcpy(&instance->s, state, sizeof(kl_state));
    kl_solver_forget(&instance->work);
    return KL_OK;
}

kl_status kl_free_state(kl_instance *instance, kl_state **state)
{
    if (instance == NULL || state == NULL) {
        return KL_ERROR;
    }
    if (*state != NULL) {
        instance->release(*state);
        *state = NULL;
    }
    return KL_OK;
}

#define KL_STATE_MAGIC "KLFMUST"          /* 8 bytes with the terminating zero */
#define KL_STATE_FORMAT_VERSION 2u
#define KL_STATE_BYTE_ORDER 0x01020304u
#define KL_STATE_HEADER_SIZE 40u
#define KL_STATISTICS_DOUBLES (sizeof(kl_statistics) / sizeof(double))
#define KL_JACOBIAN_DOUBLES (1u + KL_N_STATES_STORAGE * KL_N_STATES_STORAGE + KL_N_STATES_STORAGE)
#define KL_STATE_DOUBLES (2u * KL_N_VARIABLES + 2u + KL_STATISTICS_DOUBLES + 6u + KL_JACOBIAN_DOUBLES)

static size_t token_length(void)
{
    return strlen(KL_INSTANTIATION_TOKEN);
}

size_t kl_serialized_state_size(void)
{
    return KL_STATE_HEADER_SIZE + token_length() + KL_STATE_DOUBLES * sizeof(double);
}

/* FNV-1a, 64 bit: detects corrupted or truncated payloads. */
static uint64_t checksum(const unsigned char *bytes, size_t size)
{
    uint64_t hash = 14695981039346656037ull;
    size_t i;
    for (i = 0; i < size; i++) {
        hash ^= bytes[i];
        hash *= 1099511628211ull;
    }
    return hash;
}

static void put_u32(unsigned char *buffer, size_t offset, uint32_t value)
{
    memcpy(buffer + offset, &value, sizeof(value));
}

static uint32_t get_u32(const unsigned char *buffer, size_t offset)
{
    uint32_t value;
    memcpy(&value, buffer + offset, sizeof(value));
    return value;
}

static void pack(const kl_state *state, double *out)
{
    size_t n = 0;
    memcpy(out + n, state->v, sizeof(state->v));
    n += KL_N_VARIABLES;
    memcpy(out + n, state->previous, sizeof(state->previous));
    n += KL_N_VARIABLES;
    out[n++] = state->solver.h_next;
    out[n++] = state->solver.rejected_last;
    memcpy(out + n, &state->statistics, sizeof(kl_statistics));
    n += KL_STATISTICS_DOUBLES;
    out[n++] = state->last_event_time;
    out[n++] = state->last_successful_time;
    out[n++] = state->stop_time;
    out[n++] = state->tolerance;
    out[n++] = (double)state->mode;
    out[n++] = (double)state->outputs_stale;
    out[n++] = state->solver.jacobian_uses;
    memcpy(out + n, state->solver.jac, sizeof(state->solver.jac));
    n += KL_N_STATES_STORAGE * KL_N_STATES_STORAGE;
    memcpy(out + n, state->solver.dfdt, sizeof(state->solver.dfdt));
}

static void unpack(const double *in, kl_state *state)
{
    size_t n = 0;
    memcpy(state->v, in + n, sizeof(state->v));
    n += KL_N_VARIABLES;
    memcpy(state->previous, in + n, sizeof(state->previous));
    n += KL_N_VARIABLES;
    state->solver.h_next = in[n++];
    state->solver.rejected_last = in[n++];
    memcpy(&state->statistics, in + n, sizeof(kl_statistics));
    n += KL_STATISTICS_DOUBLES;
    state->last_event_time = in[n++];
    state->last_successful_time = in[n++];
    state->stop_time = in[n++];
    state->tolerance = in[n++];
    state->mode = (int)in[n++];
    state->outputs_stale = (int)in[n++];
    state->solver.jacobian_uses = in[n++];
    memcpy(state->solver.jac, in + n, sizeof(state->solver.jac));
    n += KL_N_STATES_STORAGE * KL_N_STATES_STORAGE;
    memcpy(state->solver.dfdt, in + n, sizeof(state->solver.dfdt));
}

kl_status kl_serialize_state(kl_instance *instance, const kl_state *state, unsigned char *buffer, size_t size)
{
    double payload[KL_STATE_DOUBLES];
    const size_t length = token_length();
    const size_t payload_offset = KL_STATE_HEADER_SIZE + length;
    uint64_t sum;
    if (instance == NULL) {
        return KL_ERROR;
    }
    if (state == NULL || buffer == NULL) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "SerializeFMUState: the FMU state or the buffer is NULL");
        return KL_ERROR;
    }
    if (size != kl_serialized_state_size()) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "SerializeFMUState: buffer of %lu bytes given, the serialised state has %lu bytes", (unsigned long)size,
               (unsigned long)kl_serialized_state_size());
        return KL_ERROR;
    }
    pack(state, payload);
    memcpy(buffer + payload_offset, payload, sizeof(payload));
    sum = checksum(buffer + payload_offset, sizeof(payload));
    memcpy(buffer, KL_STATE_MAGIC, 8);
    put_u32(buffer, 8, KL_STATE_FORMAT_VERSION);
    put_u32(buffer, 12, KL_STATE_BYTE_ORDER);
    put_u32(buffer, 16, (uint32_t)length);
    put_u32(buffer, 20, (uint32_t)KL_N_VARIABLES);
    put_u32(buffer, 24, (uint32_t)KL_N_STATES);
    put_u32(buffer, 28, (uint32_t)sizeof(payload));
    memcpy(buffer + 32, &sum, sizeof(sum));
    memcpy(buffer + KL_STATE_HEADER_SIZE, KL_INSTANTIATION_TOKEN, length);
    return KL_OK;
}

static kl_status reject(const kl_instance *instance, const char *reason, unsigned long found, unsigned long expected)
{
    kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "DeserializeFMUState: rejected: %s (found %lu, expected %lu)",
           reason, found, expected);
    return KL_ERROR;
}

kl_status kl_deserialize_state(kl_instance *instance, const unsigned char *buffer, size_t size, kl_state **state)
{
    double payload[KL_STATE_DOUBLES];
    const size_t length = token_length();
    const size_t payload_offset = KL_STATE_HEADER_SIZE + length;
    uint64_t stored_sum;
    kl_state decoded;
    if (instance == NULL) {
        return KL_ERROR;
    }
    if (buffer == NULL || state == NULL) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "DeserializeFMUState: the buffer or the state pointer is NULL");
        return KL_ERROR;
    }
    if (size < KL_STATE_HEADER_SIZE || memcmp(buffer, KL_STATE_MAGIC, 8) != 0) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "DeserializeFMUState: rejected: the %lu bytes are not a serialised kreislauf FMU state (no header)",
               (unsigned long)size);
        return KL_ERROR;
    }
    if (get_u32(buffer, 8) != KL_STATE_FORMAT_VERSION) {
        return reject(instance, "unsupported format version", get_u32(buffer, 8), KL_STATE_FORMAT_VERSION);
    }
    if (get_u32(buffer, 12) != KL_STATE_BYTE_ORDER) {
        return reject(instance, "written on a machine with another byte order", get_u32(buffer, 12),
                      KL_STATE_BYTE_ORDER);
    }
    if (get_u32(buffer, 16) != length || size < payload_offset ||
        memcmp(buffer + KL_STATE_HEADER_SIZE, KL_INSTANTIATION_TOKEN, length) != 0) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "DeserializeFMUState: rejected: the state was saved by another FMU (its instantiation token differs "
               "from %s)",
               KL_INSTANTIATION_TOKEN);
        return KL_ERROR;
    }
    if (get_u32(buffer, 20) != (uint32_t)KL_N_VARIABLES) {
        return reject(instance, "number of variables differs", get_u32(buffer, 20), KL_N_VARIABLES);
    }
    if (get_u32(buffer, 24) != (uint32_t)KL_N_STATES) {
        return reject(instance, "number of states differs", get_u32(buffer, 24), KL_N_STATES);
    }
    if (get_u32(buffer, 28) != sizeof(payload)) {
        return reject(instance, "payload size in bytes differs", get_u32(buffer, 28), sizeof(payload));
    }
    if (size != kl_serialized_state_size()) {
        return reject(instance, "size in bytes differs", size, kl_serialized_state_size());
    }
    memcpy(&stored_sum, buffer + 32, sizeof(stored_sum));
    if (stored_sum != checksum(buffer + payload_offset, sizeof(payload))) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "DeserializeFMUState: rejected: the state is corrupted (checksum of the %lu payload bytes differs)",
               (unsigned long)sizeof(payload));
        return KL_ERROR;
    }
    memcpy(payload, buffer + payload_offset, sizeof(payload));
    memset(&decoded, 0, sizeof(decoded));
    unpack(payload, &decoded);
    if (decoded.mode < KL_MODE_INSTANTIATED || decoded.mode > KL_MODE_ERROR ||
        (decoded.outputs_stale != 0 && decoded.outputs_stale != 1)) {
        return reject(instance, "invalid mode", (unsigned long)decoded.mode, KL_MODE_STEP);
    }
    if (!(decoded.solver.jacobian_uses >= 0.0 && decoded.solver.jacobian_uses <= KL_JACOBIAN_REUSE &&
          decoded.solver.jacobian_uses == floor(decoded.solver.jacobian_uses))) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "DeserializeFMUState: rejected: invalid count of Jacobian uses %g (expected an integer in [0, %d])",
               decoded.solver.jacobian_uses, KL_JACOBIAN_REUSE);
        return KL_ERROR;
    }
    if (kl_get_state(instance, state) != KL_OK) {
        return KL_ERROR;
    }
    memcpy(*state, &decoded, sizeof(decoded));
    return KL_OK;
}
