/*
 * Test driver for the kreislauf FMU runtime: links the runtime and the test model "stiff_pair" and calls
 * the FMI 2 and FMI 3 functions directly, like an importer. It prints plain lines that
 * tests/fmu/test_runtime_c.py parses; it computes no expected values itself.
 *
 *   driver run2|run3 [k1=..] [rtol=..] [T=..] [h=..] [period=..] [max_step=..] [exp_tol=..] [edges=t1,t2,..]
 *       point <t> <x1> <x2> <quadrature> <clock> <timer_resets> <quadrature_resets>   (each communication point)
 *       stats <accepted> <rejected> <time_events> <input_events>
 *   driver state2|state3      bit-identity of get/set/serialise/deserialise, corrupted states
 *   driver errors2|errors3    rejected writes and reads, one "case" line each
 *   driver nonfinite2         NaN derivative, infinite output, rollback with SetFMUstate
 *   driver minstep2           step size driven below the minimum by a NaN beyond fault_time
 *   driver reset2             Terminate, Reset, a second run, the experiment stop time
 *   driver two2               two instances stepped alternately
 *   driver logging2           SetDebugLogging categories
 *   driver allocations2       FMI 2 memory callbacks balance
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmi2Functions.h"
#include "fmi3Functions.h"
#include "kl_runtime.h"

static char last_message[4096];
static int n_messages;
static int print_messages = 1;
static long outstanding_allocations;

static void fmi2_logger(fmi2ComponentEnvironment environment, fmi2String instance_name, fmi2Status status,
                        fmi2String category, fmi2String message, ...)
{
    va_list args;
    (void)environment;
    va_start(args, message);
    vsnprintf(last_message, sizeof(last_message), message, args);
    va_end(args);
    n_messages++;
    if (print_messages) {
        printf("log %s %d %s |%s\n", instance_name, (int)status, category, last_message);
    }
}

static void fmi3_logger(fmi3InstanceEnvironment environment, fmi3Status status, fmi3String category,
                        fmi3String message)
{
    (void)environment;
    snprintf(last_message, sizeof(last_message), "%s", message);
    n_messages++;
    if (print_messages) {
        printf("log - %d %s |%s\n", (int)status, category, last_message);
    }
}

static void *counting_calloc(size_t n, size_t size)
{
    outstanding_allocations++;
    return calloc(n, size);
}

static void counting_free(void *p)
{
    if (p != NULL) {
        outstanding_allocations--;
    }
    free(p);
}

static const fmi2CallbackFunctions callbacks = {fmi2_logger, counting_calloc, counting_free, NULL, NULL};

typedef struct {
    double k1, rtol, T, h, period, max_step, exp_tol, u;
    double edges[16];
    int n_edges;
} options;

static void parse(int argc, char **argv, options *o)
{
    int i;
    o->k1 = 1e4;
    o->rtol = 1e-6;
    o->T = 10.0;
    o->h = 0.1;
    o->period = 0.3;
    o->max_step = 0.0;
    o->exp_tol = 0.0;
    o->u = 1.0;
    o->n_edges = 0;
    for (i = 2; i < argc; i++) {
        char *value = strchr(argv[i], '=');
        if (value == NULL) {
            continue;
        }
        *value++ = '\0';
        if (strcmp(argv[i], "k1") == 0) o->k1 = atof(value);
        if (strcmp(argv[i], "rtol") == 0) o->rtol = atof(value);
        if (strcmp(argv[i], "T") == 0) o->T = atof(value);
        if (strcmp(argv[i], "h") == 0) o->h = atof(value);
        if (strcmp(argv[i], "period") == 0) o->period = atof(value);
        if (strcmp(argv[i], "max_step") == 0) o->max_step = atof(value);
        if (strcmp(argv[i], "exp_tol") == 0) o->exp_tol = atof(value);
        if (strcmp(argv[i], "u") == 0) o->u = atof(value);
        if (strcmp(argv[i], "edges") == 0) {
            char *token = strtok(value, ",");
            while (token != NULL && o->n_edges < 16) {
                o->edges[o->n_edges++] = atof(token);
                token = strtok(NULL, ",");
            }
        }
    }
}

/* reset_request is true from edges[0] to edges[1], from edges[2] to edges[3], ... */
static int reset_request_at(const options *o, double t)
{
    int i, on = 0;
    for (i = 0; i < o->n_edges; i++) {
        if (t >= o->edges[i] - 1e-9) {
            on = !on;
        }
    }
    return on;
}

static void print_point(double t, const double *v)
{
    printf("point %.17g %.17g %.17g %.17g %.17g %.17g %.17g\n", t, v[0], v[1], v[2], v[3], v[4], v[5]);
}

static void print_stats(const kl_instance *instance)
{
    const kl_statistics *s = &instance->s.statistics;
    printf("stats %.0f %.0f %.0f %.0f\n", s->accepted_steps, s->rejected_steps, s->time_events, s->input_events);
}

static const fmi2ValueReference OBSERVED_REALS[4] = {VR_X1, VR_X2, VR_QUADRATURE, VR_CLOCK};
static const fmi2ValueReference OBSERVED_INTEGERS[2] = {VR_TIMER_RESETS, VR_QUADRATURE_RESETS};

static fmi2Component start2(const char *name, const options *o)
{
    const fmi2ValueReference vr[5] = {VR_K1, KL_VR_RELATIVE_TOLERANCE, VR_TIMER_PERIOD, KL_VR_MAX_SOLVER_STEP, VR_U};
    const fmi2Real values[5] = {o->k1, o->rtol, o->period, o->max_step, o->u};
    fmi2Component c = fmi2Instantiate(name, fmi2CoSimulation, KL_INSTANTIATION_TOKEN, "", &callbacks, fmi2False,
                                      fmi2False);
    if (c == NULL || fmi2SetupExperiment(c, o->exp_tol > 0.0, o->exp_tol, 0.0, fmi2False, 0.0) != fmi2OK ||
        fmi2EnterInitializationMode(c) != fmi2OK || fmi2SetReal(c, vr, 5, values) != fmi2OK ||
        fmi2ExitInitializationMode(c) != fmi2OK) {
        printf("failed to start\n");
        exit(2);
    }
    return c;
}

static void observe2(fmi2Component c, double t)
{
    double v[6];
    fmi2Integer n[2];
    fmi2GetReal(c, OBSERVED_REALS, 4, v);
    fmi2GetInteger(c, OBSERVED_INTEGERS, 2, n);
    v[4] = n[0];
    v[5] = n[1];
    print_point(t, v);
}

static int run2(const options *o)
{
    fmi2Component c = start2("run2", o);
    const fmi2ValueReference reset_vr = VR_RESET_REQUEST;
    int i, n = (int)floor(o->T / o->h + 0.5);
    double t = 0.0;
    observe2(c, t);
    for (i = 0; i < n; i++) {
        fmi2Boolean request = reset_request_at(o, t);
        fmi2SetBoolean(c, &reset_vr, 1, &request);
        if (fmi2DoStep(c, t, o->h, fmi2True) != fmi2OK) {
            printf("doStep failed at %g\n", t);
            return 1;
        }
        t += o->h;
        observe2(c, t);
    }
    print_stats((kl_instance *)c);
    fmi2Terminate(c);
    fmi2FreeInstance(c);
    return 0;
}

static int run3(const options *o)
{
    const fmi3ValueReference vr[5] = {VR_K1, KL_VR_RELATIVE_TOLERANCE, VR_TIMER_PERIOD, KL_VR_MAX_SOLVER_STEP, VR_U};
    const fmi3Float64 values[5] = {o->k1, o->rtol, o->period, o->max_step, o->u};
    const fmi3ValueReference reset_vr = VR_RESET_REQUEST;
    const fmi3ValueReference integers[2] = {VR_TIMER_RESETS, VR_QUADRATURE_RESETS};
    fmi3Instance c = fmi3InstantiateCoSimulation("run3", KL_INSTANTIATION_TOKEN, "", fmi3False, fmi3False, fmi3False,
                                                 fmi3False, NULL, 0, NULL, fmi3_logger, NULL);
    int i, n = (int)floor(o->T / o->h + 0.5);
    double t = 0.0, v[6];
    fmi3Int32 counts[2];
    if (c == NULL || fmi3EnterInitializationMode(c, o->exp_tol > 0.0, o->exp_tol, 0.0, fmi3False, 0.0) != fmi3OK ||
        fmi3SetFloat64(c, vr, 5, values, 5) != fmi3OK || fmi3ExitInitializationMode(c) != fmi3OK) {
        printf("failed to start\n");
        return 2;
    }
    for (i = 0; i <= n; i++) {
        fmi3Boolean event = fmi3True, terminate = fmi3True, early = fmi3True, request;
        double last = -1.0;
        fmi3GetFloat64(c, OBSERVED_REALS, 4, v, 4);
        fmi3GetInt32(c, integers, 2, counts, 2);
        v[4] = counts[0];
        v[5] = counts[1];
        print_point(t, v);
        if (i == n) {
            break;
        }
        request = reset_request_at(o, t);
        fmi3SetBoolean(c, &reset_vr, 1, &request, 1);
        if (fmi3DoStep(c, t, o->h, fmi3True, &event, &terminate, &early, &last) != fmi3OK || event || terminate ||
            early) {
            printf("doStep failed at %g\n", t);
            return 1;
        }
        t += o->h;
        if (last != t) {
            printf("lastSuccessfulTime %.17g differs from %.17g\n", last, t);
            return 1;
        }
    }
    print_stats((kl_instance *)c);
    fmi3Terminate(c);
    fmi3FreeInstance(c);
    return 0;
}

/* ---- FMU state ---------------------------------------------------------------------------------- */

static void print_all(const char *label, const kl_instance *instance)
{
    int i;
    printf("%s", label);
    for (i = 0; i < KL_N_VARIABLES; i++) {
        printf(" %a", instance->s.v[i]);
    }
    printf(" h_next %a accepted %.0f\n", instance->s.solver.h_next, instance->s.statistics.accepted_steps);
}

static void advance2(fmi2Component c, double *t, double until, double h)
{
    const fmi2ValueReference u_vr = VR_U;
    while (*t < until - 1e-9) {
        fmi2Real u = 1.0 + 0.5 * sin(*t); /* a varying input: the state must carry its effect */
        fmi2SetReal(c, &u_vr, 1, &u);
        if (fmi2DoStep(c, *t, h, fmi2False) != fmi2OK) {
            printf("doStep failed at %g\n", *t);
            exit(1);
        }
        *t += h;
    }
}

static int state2(void)
{
    options o;
    fmi2Component a, b;
    fmi2FMUstate saved = NULL, restored = NULL;
    size_t size = 0;
    fmi2Byte *buffer;
    double t = 0.0, t_saved;
    parse(0, NULL, &o);
    o.period = 0.25;
    a = start2("a", &o);
    advance2(a, &t, 1.05, 0.07);
    t_saved = t;
    fmi2GetFMUstate(a, &saved);
    fmi2SerializedFMUstateSize(a, saved, &size);
    buffer = (fmi2Byte *)malloc(size);
    printf("serialize %d size %lu\n", (int)fmi2SerializeFMUstate(a, saved, buffer, size), (unsigned long)size);
    advance2(a, &t, 2.5, 0.07);
    print_all("direct", (kl_instance *)a);

    printf("set %d\n", (int)fmi2SetFMUstate(a, saved));
    t = t_saved;
    advance2(a, &t, 2.5, 0.07);
    print_all("restored", (kl_instance *)a);

    b = start2("b", &o);
    printf("deserialize %d\n", (int)fmi2DeSerializeFMUstate(b, buffer, size, &restored));
    printf("set %d\n", (int)fmi2SetFMUstate(b, restored));
    t = t_saved;
    advance2(b, &t, 2.5, 0.07);
    print_all("deserialized", (kl_instance *)b);

    {
        fmi2FMUstate bad = NULL;
        size_t flip = size - 9; /* a byte inside the payload */
        buffer[flip] ^= 0x10;
        printf("case payload %d |%s\n", (int)fmi2DeSerializeFMUstate(b, buffer, size, &bad), last_message);
        buffer[flip] ^= 0x10;
        buffer[0] = 'X';
        printf("case magic %d |%s\n", (int)fmi2DeSerializeFMUstate(b, buffer, size, &bad), last_message);
        buffer[0] = 'K';
        buffer[45] ^= 0x01; /* a character of the instantiation token */
        printf("case token %d |%s\n", (int)fmi2DeSerializeFMUstate(b, buffer, size, &bad), last_message);
        buffer[45] ^= 0x01;
        printf("case truncated %d |%s\n", (int)fmi2DeSerializeFMUstate(b, buffer, size - 8, &bad), last_message);
        printf("case intact %d\n", (int)fmi2DeSerializeFMUstate(b, buffer, size, &bad));
        fmi2FreeFMUstate(b, &bad);
    }
    fmi2FreeFMUstate(a, &saved);
    fmi2FreeFMUstate(b, &restored);
    free(buffer);
    fmi2FreeInstance(a);
    fmi2FreeInstance(b);
    printf("outstanding %ld\n", outstanding_allocations);
    return 0;
}

static void advance3(fmi3Instance c, double *t, double until, double h)
{
    const fmi3ValueReference u_vr = VR_U;
    while (*t < until - 1e-9) {
        fmi3Float64 u = 1.0 + 0.5 * sin(*t);
        fmi3Boolean event, terminate, early;
        double last;
        fmi3SetFloat64(c, &u_vr, 1, &u, 1);
        if (fmi3DoStep(c, *t, h, fmi3False, &event, &terminate, &early, &last) != fmi3OK) {
            printf("doStep failed at %g\n", *t);
            exit(1);
        }
        *t += h;
    }
}

static fmi3Instance start3(const char *name)
{
    const fmi3ValueReference period_vr = VR_TIMER_PERIOD;
    const fmi3Float64 period = 0.25;
    fmi3Instance c = fmi3InstantiateCoSimulation(name, KL_INSTANTIATION_TOKEN, "", fmi3False, fmi3False, fmi3False,
                                                 fmi3False, NULL, 0, NULL, fmi3_logger, NULL);
    if (c == NULL || fmi3EnterInitializationMode(c, fmi3False, 0.0, 0.0, fmi3False, 0.0) != fmi3OK ||
        fmi3SetFloat64(c, &period_vr, 1, &period, 1) != fmi3OK || fmi3ExitInitializationMode(c) != fmi3OK) {
        printf("failed to start\n");
        exit(2);
    }
    return c;
}

static int state3(void)
{
    fmi3Instance a = start3("a"), b = start3("b");
    fmi3FMUState saved = NULL, restored = NULL, bad = NULL;
    size_t size = 0;
    fmi3Byte *buffer;
    double t = 0.0, t_saved;
    advance3(a, &t, 1.05, 0.07);
    t_saved = t;
    fmi3GetFMUState(a, &saved);
    fmi3SerializedFMUStateSize(a, saved, &size);
    buffer = (fmi3Byte *)malloc(size);
    printf("serialize %d size %lu\n", (int)fmi3SerializeFMUState(a, saved, buffer, size), (unsigned long)size);
    advance3(a, &t, 2.5, 0.07);
    print_all("direct", (kl_instance *)a);
    printf("set %d\n", (int)fmi3SetFMUState(a, saved));
    t = t_saved;
    advance3(a, &t, 2.5, 0.07);
    print_all("restored", (kl_instance *)a);
    printf("deserialize %d\n", (int)fmi3DeserializeFMUState(b, buffer, size, &restored));
    printf("set %d\n", (int)fmi3SetFMUState(b, restored));
    t = t_saved;
    advance3(b, &t, 2.5, 0.07);
    print_all("deserialized", (kl_instance *)b);
    buffer[size - 9] ^= 0x10;
    printf("case payload %d |%s\n", (int)fmi3DeserializeFMUState(b, buffer, size, &bad), last_message);
    fmi3FreeFMUState(a, &saved);
    fmi3FreeFMUState(b, &restored);
    free(buffer);
    fmi3FreeInstance(a);
    fmi3FreeInstance(b);
    return 0;
}

/* ---- rejected input ------------------------------------------------------------------------------ */

static void report(const char *name, int status)
{
    printf("case %s %d |%s\n", name, status, status == 0 ? "" : last_message);
    last_message[0] = '\0';
}

/* Instantiation failures return NULL and log why. */
static void report_instance(const char *name, const void *instance)
{
    printf("case %s %s |%s\n", name, instance == NULL ? "null" : "instance", last_message);
    last_message[0] = '\0';
}

static int errors2(void)
{
    fmi2Component c = fmi2Instantiate("errors", fmi2CoSimulation, KL_INSTANTIATION_TOKEN, "", &callbacks, fmi2False,
                                      fmi2False);
    fmi2ValueReference vr;
    fmi2Real r;
    fmi2Integer i;
    fmi2Boolean b;
    fmi2String s = "text";
    double t = 0.0;

    report_instance("wrong_guid", fmi2Instantiate("x", fmi2CoSimulation, "{not-100%-this-one}", "", &callbacks, 0, 0));
    report_instance("model_exchange",
                    fmi2Instantiate("x", fmi2ModelExchange, KL_INSTANTIATION_TOKEN, "", &callbacks, 0, 0));
    fmi2EnterInitializationMode(c);
    vr = VR_EFFICIENCY, r = 150.0;
    report("percent_unit", fmi2SetReal(c, &vr, 1, &r));
    vr = VR_K1, r = 2e4;
    report("parameter_in_init", fmi2SetReal(c, &vr, 1, &r));
    fmi2ExitInitializationMode(c);

    vr = VR_U, r = NAN;
    report("nan", fmi2SetReal(c, &vr, 1, &r));
    r = INFINITY;
    report("inf", fmi2SetReal(c, &vr, 1, &r));
    r = -3.0;
    report("below_min", fmi2SetReal(c, &vr, 1, &r));
    r = 1000.5;
    report("above_max", fmi2SetReal(c, &vr, 1, &r));
    r = 1000.0;
    report("at_max", fmi2SetReal(c, &vr, 1, &r));
    vr = VR_STAGE, r = 2.0;
    report("real_to_integer", fmi2SetReal(c, &vr, 1, &r));
    i = 5;
    report("integer_above_max", fmi2SetInteger(c, &vr, 1, &i));
    /* FMI integer types cannot carry a fraction; the core setter behind them checks it anyway */
    report("integer_fraction", kl_set_value((kl_instance *)c, "kl_set_value", VR_STAGE, KL_INTEGER, 1.5));
    i = 2;
    report("integer_ok", fmi2SetInteger(c, &vr, 1, &i));
    vr = VR_RESET_REQUEST, b = 2;
    report("boolean_two", fmi2SetBoolean(c, &vr, 1, &b));
    vr = VR_X1, r = 0.5;
    report("output_write", fmi2SetReal(c, &vr, 1, &r));
    vr = VR_TIME_CONSTANT_1;
    report("calculated_write", fmi2SetReal(c, &vr, 1, &r));
    vr = KL_VR_TIME;
    report("time_write", fmi2SetReal(c, &vr, 1, &r));
    vr = VR_K1, r = 10.0;
    report("parameter_after_init", fmi2SetReal(c, &vr, 1, &r));
    vr = 99;
    report("unknown_vr", fmi2SetReal(c, &vr, 1, &r));
    vr = VR_STAGE;
    report("get_integer_as_real", fmi2GetReal(c, &vr, 1, &r));
    vr = VR_U;
    report("string_set", fmi2SetString(c, &vr, 1, &s));
    report("model_exchange_call", fmi2GetDerivatives(c, &r, 1));
    report("do_step_wrong_time", fmi2DoStep(c, 5.0, 0.1, fmi2True));
    report("do_step_negative", fmi2DoStep(c, 0.0, -0.1, fmi2True));
    /* the rejected writes left the instance usable */
    report("do_step_after_errors", fmi2DoStep(c, t, 0.5, fmi2True));
    vr = VR_STAGE;
    fmi2GetInteger(c, &vr, 1, &i);
    vr = VR_U;
    fmi2GetReal(c, &vr, 1, &r);
    printf("values u %.17g stage %d\n", r, (int)i);
    fmi2GetRealStatus(c, fmi2LastSuccessfulTime, &r);
    printf("last_successful_time %.17g\n", r);
    fmi2FreeInstance(c);
    return 0;
}

static int errors3(void)
{
    fmi3Instance c = start3("errors3");
    fmi3ValueReference vr;
    fmi3Float64 r;
    fmi3Float32 f;
    fmi3Int32 i;
    fmi3Boolean b;
    fmi3Int64 l;
    fmi3ValueReference two[2] = {VR_U, VR_K1};

    report_instance("wrong_token",
                    fmi3InstantiateCoSimulation("x", "{nope}", "", 0, 0, 0, 0, NULL, 0, NULL, fmi3_logger, NULL));
    report_instance("model_exchange",
                    fmi3InstantiateModelExchange("x", KL_INSTANTIATION_TOKEN, "", 0, 0, NULL, fmi3_logger));
    vr = KL_VR_TIME, r = 1.0;
    report("time_write", fmi3SetFloat64(c, &vr, 1, &r, 1));
    report("time_read", fmi3GetFloat64(c, &vr, 1, &r, 1));
    printf("time %.17g\n", r);
    vr = VR_U, r = -3.0;
    report("below_min", fmi3SetFloat64(c, &vr, 1, &r, 1));
    r = NAN;
    report("nan", fmi3SetFloat64(c, &vr, 1, &r, 1));
    report("float32", fmi3GetFloat32(c, &vr, 1, &f, 1));
    report("int64", fmi3SetInt64(c, &vr, 1, &l, 1));
    vr = VR_STAGE, i = -1;
    report("int32_below_min", fmi3SetInt32(c, &vr, 1, &i, 1));
    report("float64_on_int32", fmi3GetFloat64(c, &vr, 1, &r, 1));
    vr = VR_RESET_REQUEST;
    memset(&b, 2, 1);
    report("boolean_two", fmi3SetBoolean(c, &vr, 1, &b, 1));
    report("n_values", fmi3GetFloat64(c, two, 2, &r, 1));
    report("event_mode", fmi3EnterEventMode(c));
    report("unknown_vr_int32", fmi3GetInt32(c, (vr = 1234, &vr), 1, &i, 1));
    fmi3FreeInstance(c);
    return 0;
}

/* ---- non-finite values and rollback --------------------------------------------------------------- */

static int nonfinite2(void)
{
    options o;
    fmi2Component c;
    fmi2FMUstate before = NULL;
    fmi2ValueReference vr;
    fmi2Boolean on = fmi2True;
    fmi2Real r, last;
    double t = 0.0;
    parse(0, NULL, &o);
    c = start2("nonfinite", &o);
    advance2(c, &t, 0.5, 0.1);
    fmi2GetFMUstate(c, &before);
    vr = VR_FAULT;
    fmi2SetBoolean(c, &vr, 1, &on);
    report("nan_derivative", fmi2DoStep(c, t, 0.1, fmi2True));
    fmi2GetRealStatus(c, fmi2LastSuccessfulTime, &last);
    printf("last_successful_time %.17g\n", last);
    report("step_in_error_mode", fmi2DoStep(c, t, 0.1, fmi2True));
    report("rollback", fmi2SetFMUstate(c, before));
    vr = VR_OUTPUT_GAIN, r = 1e4; /* exp(1e4 * x2) overflows for x2 > 0.071 */
    fmi2SetReal(c, &vr, 1, &r);
    report("infinite_output", fmi2DoStep(c, t, 0.1, fmi2True));
    report("rollback_again", fmi2SetFMUstate(c, before));
    report("step_after_rollback", fmi2DoStep(c, t, 0.1, fmi2True));
    fmi2FreeFMUstate(c, &before);
    fmi2FreeInstance(c);
    return 0;
}

/* der(x2) is NaN after fault_time: trial points beyond it fail until the step size is below the minimum */
static int minstep2(void)
{
    options o;
    fmi2Component c;
    fmi2Real last;
    const fmi2ValueReference vr = VR_FAULT_TIME;
    const fmi2Real fault_time = 0.55;
    parse(0, NULL, &o);
    c = fmi2Instantiate("minstep", fmi2CoSimulation, KL_INSTANTIATION_TOKEN, "", &callbacks, fmi2False, fmi2False);
    fmi2SetupExperiment(c, fmi2False, 0.0, 0.0, fmi2False, 0.0);
    fmi2EnterInitializationMode(c);
    fmi2SetReal(c, &vr, 1, &fault_time);
    fmi2ExitInitializationMode(c);
    report("below_minimum_step", fmi2DoStep(c, 0.0, 1.0, fmi2True));
    fmi2GetRealStatus(c, fmi2LastSuccessfulTime, &last);
    printf("last_successful_time %.17g\n", last);
    print_stats((kl_instance *)c);
    fmi2FreeInstance(c);
    return 0;
}

/* Reset returns to the start values: a second run after Reset repeats the first bit for bit. */
static int reset2(void)
{
    options o;
    fmi2Component c;
    double t = 0.0;
    parse(0, NULL, &o);
    c = start2("reset", &o);
    advance2(c, &t, 1.4, 0.1);
    print_all("first", (kl_instance *)c);
    report("terminate", fmi2Terminate(c));
    report("step_after_terminate", fmi2DoStep(c, t, 0.1, fmi2True));
    report("reset", fmi2Reset(c));
    report("setup_with_stop_time", fmi2SetupExperiment(c, fmi2False, 0.0, 0.0, fmi2True, 1.45));
    {
        const fmi2ValueReference vr[4] = {VR_K1, KL_VR_RELATIVE_TOLERANCE, VR_TIMER_PERIOD, VR_U};
        const fmi2Real values[4] = {o.k1, o.rtol, o.period, o.u};
        fmi2EnterInitializationMode(c);
        fmi2SetReal(c, vr, 4, values);
        fmi2ExitInitializationMode(c);
    }
    t = 0.0;
    advance2(c, &t, 1.4, 0.1);
    print_all("second", (kl_instance *)c);
    report("beyond_stop_time", fmi2DoStep(c, t, 0.1, fmi2True));
    fmi2FreeInstance(c);
    printf("outstanding %ld\n", outstanding_allocations);
    return 0;
}

/* ---- independence of instances ------------------------------------------------------------------- */

static int two2(void)
{
    options oa, ob;
    fmi2Component a, b;
    double t = 0.0, va[6], vb[6];
    int i;
    fmi2Integer n[2];
    parse(0, NULL, &oa);
    parse(0, NULL, &ob);
    ob.k1 = 50.0;
    ob.u = 3.0;
    ob.period = 0.7;
    a = start2("a", &oa);
    b = start2("b", &ob);
    for (i = 0; i < 40; i++) {
        if (fmi2DoStep(a, t, 0.05, fmi2True) != fmi2OK || fmi2DoStep(b, t, 0.05, fmi2True) != fmi2OK) {
            printf("doStep failed\n");
            return 1;
        }
        t += 0.05;
    }
    fmi2GetReal(a, OBSERVED_REALS, 4, va);
    fmi2GetInteger(a, OBSERVED_INTEGERS, 2, n);
    va[4] = n[0];
    va[5] = n[1];
    fmi2GetReal(b, OBSERVED_REALS, 4, vb);
    fmi2GetInteger(b, OBSERVED_INTEGERS, 2, n);
    vb[4] = n[0];
    vb[5] = n[1];
    printf("a ");
    print_point(t, va);
    printf("b ");
    print_point(t, vb);
    fmi2FreeInstance(a);
    fmi2FreeInstance(b);
    return 0;
}

/* ---- logging ------------------------------------------------------------------------------------- */

static int logging2(void)
{
    options o;
    fmi2Component c;
    fmi2String events[1] = {"logEvents"};
    fmi2String unknown[1] = {"logEverything"};
    double t = 0.0;
    parse(0, NULL, &o);
    c = start2("logging", &o); /* instantiated with loggingOn = false */
    n_messages = 0;
    advance2(c, &t, 1.0, 0.1);
    printf("messages_off %d\n", n_messages);
    fmi2SetDebugLogging(c, fmi2True, 0, NULL);
    n_messages = 0;
    advance2(c, &t, 2.0, 0.1);
    printf("messages_all %d\n", n_messages);
    fmi2SetDebugLogging(c, fmi2True, 1, events);
    n_messages = 0;
    printf("only_events\n");
    advance2(c, &t, 3.0, 0.1);
    printf("messages_only_events %d\n", n_messages);
    fmi2SetDebugLogging(c, fmi2False, 0, NULL);
    n_messages = 0;
    advance2(c, &t, 4.0, 0.1);
    printf("messages_off_again %d\n", n_messages);
    report("unknown_category", fmi2SetDebugLogging(c, fmi2True, 1, unknown));
    fmi2FreeInstance(c);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    if (argc < 2) {
        fprintf(stderr, "usage: driver run2|run3|state2|state3|errors2|errors3|nonfinite2|two2|logging2\n");
        return 2;
    }
    parse(argc, argv, &o);
    if (strcmp(argv[1], "run2") == 0) return run2(&o);
    if (strcmp(argv[1], "run3") == 0) return run3(&o);
    if (strcmp(argv[1], "state2") == 0) return state2();
    if (strcmp(argv[1], "state3") == 0) return state3();
    if (strcmp(argv[1], "errors2") == 0) return errors2();
    if (strcmp(argv[1], "errors3") == 0) return errors3();
    if (strcmp(argv[1], "nonfinite2") == 0) return nonfinite2();
    if (strcmp(argv[1], "two2") == 0) return two2();
    if (strcmp(argv[1], "reset2") == 0) return reset2();
    if (strcmp(argv[1], "minstep2") == 0) return minstep2();
    if (strcmp(argv[1], "logging2") == 0) return logging2();
    fprintf(stderr, "unknown scenario %s\n", argv[1]);
    return 2;
}
