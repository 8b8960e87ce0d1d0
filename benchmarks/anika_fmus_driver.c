/*
 * anika_fmus_driver.c -- steps the six ANIKA FMUs (FMI 2.0 shared libraries, loaded with dlopen) in a
 * Gauss-Seidel loop of fixed communication steps and measures, per FMU, the time spent in setting the
 * inputs, in fmi2DoStep and in reading every Real output. Built and run by benchmarks/anika_fmus.py.
 *
 *   anika_fmus_driver CONFIG STEPS STEP_SIZE CHUNK_STEPS
 *
 * CONFIG is a text file, one record per line:
 *   fmu NAME LIBRARY IDENTIFIER GUID        (in stepping order)
 *   param FMU_INDEX VR VALUE TYPE           (TYPE r, i or b: set with fmi2SetReal, SetInteger, SetBoolean)
 *   output FMU_INDEX VR                     (every Real output; all are read after each doStep)
 *   connect DST_FMU DST_VR SRC_FMU SRC_VR OFFSET
 *
 * The loop runs twice from the same initial state: once with a clock read around every call (the
 * per-FMU breakdown, wall-clock time, reported per chunk of macro steps so that the caller can keep, chunk by
 * chunk, the fastest of repeated runs and so filter out the time other processes held the core) and once without (the total per macro step, process CPU time, so
 * that time during which other processes held the core does not count). Output lines:
 *   chunk INDEX NAME set_ns step_ns get_ns loop_ns      (summed over each CHUNK_STEPS macro steps)
 * loop_ns is one iteration of an algebraic loop after the step: one input set to a slightly different
 * value and every output read (so evaluated) again; the input is then set back and the outputs read,
 * untimed, so that the run continues as without the probe.
 *   stats NAME accepted rejected derivatives jacobians decompositions time_events input_events
 *   final NAME VALUE...                                 (every output at the end of the timed run)
 *   total ns_per_macro_step
 * The statistics come from the kreislauf FMU state (fmi2SerializeFMUstate): the payload after the
 * header holds v, previous, h_next, rejected_last and then the counters of kl_statistics.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fmi2Functions.h"

#define MAX_FMUS 16
#define MAX_VALUES 256

typedef struct {
    char name[128];
    void *library;
    fmi2Component c;
    fmi2InstantiateTYPE *instantiate;
    fmi2SetupExperimentTYPE *setup;
    fmi2EnterInitializationModeTYPE *enter;
    fmi2ExitInitializationModeTYPE *exit_init;
    fmi2SetRealTYPE *set_real;
    fmi2SetIntegerTYPE *set_integer;
    fmi2SetBooleanTYPE *set_boolean;
    fmi2GetRealTYPE *get_real;
    fmi2DoStepTYPE *do_step;
    fmi2FreeInstanceTYPE *free_instance;
    fmi2GetFMUstateTYPE *get_state;
    fmi2SerializedFMUstateSizeTYPE *state_size;
    fmi2SerializeFMUstateTYPE *serialize;
    fmi2FreeFMUstateTYPE *free_state;
    char identifier[128];
    char guid[128];
    unsigned n_params, n_out, n_in;
    fmi2ValueReference param_vr[MAX_VALUES], out_vr[MAX_VALUES], in_vr[MAX_VALUES];
    double param_value[MAX_VALUES], out[MAX_VALUES], in[MAX_VALUES];
    char param_type[MAX_VALUES];
    int in_src_fmu[MAX_VALUES], in_src_index[MAX_VALUES];
    unsigned in_src_vr[MAX_VALUES];
    double in_offset[MAX_VALUES];
    double set_ns, step_ns, get_ns, feedthrough_ns;
} fmu;

static fmu fmus[MAX_FMUS];
static int n_fmus;

static void logger(fmi2ComponentEnvironment env, fmi2String name, fmi2Status status, fmi2String category,
                   fmi2String message, ...)
{
    (void)env;
    fprintf(stderr, "%s [%d] %s: %s\n", name, (int)status, category, message);
}

static const fmi2CallbackFunctions callbacks = {logger, calloc, free, NULL, NULL};

static void *symbol(fmu *f, const char *name)
{
    void *p = dlsym(f->library, name);
    if (p == NULL) {
        fprintf(stderr, "%s: missing %s\n", f->name, name);
        exit(2);
    }
    return p;
}

static void check(fmi2Status status, const fmu *f, const char *what)
{
    if (status > fmi2Warning) {
        fprintf(stderr, "%s: %s failed with status %d\n", f->name, what, (int)status);
        exit(3);
    }
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void read_config(const char *path)
{
    char kind[16];
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        perror(path);
        exit(2);
    }
    while (fscanf(file, "%15s", kind) == 1) {
        if (strcmp(kind, "fmu") == 0) {
            fmu *f = &fmus[n_fmus++];
            char library[4096];
            if (fscanf(file, "%127s %4095s %127s %127s", f->name, library, f->identifier, f->guid) != 4) {
                exit(2);
            }
            f->library = dlopen(library, RTLD_NOW | RTLD_LOCAL);
            if (f->library == NULL) {
                fprintf(stderr, "%s\n", dlerror());
                exit(2);
            }
        } else if (strcmp(kind, "param") == 0) {
            int i;
            unsigned vr;
            double value;
            char type;
            if (fscanf(file, "%d %u %lf %c", &i, &vr, &value, &type) != 4) {
                exit(2);
            }
            fmus[i].param_type[fmus[i].n_params] = type;
            fmus[i].param_vr[fmus[i].n_params] = vr;
            fmus[i].param_value[fmus[i].n_params++] = value;
        } else if (strcmp(kind, "output") == 0) {
            int i;
            unsigned vr;
            if (fscanf(file, "%d %u", &i, &vr) != 2) {
                exit(2);
            }
            fmus[i].out_vr[fmus[i].n_out++] = vr;
        } else if (strcmp(kind, "connect") == 0) {
            int dst, src;
            unsigned dst_vr, src_vr;
            double offset;
            fmu *f;
            if (fscanf(file, "%d %u %d %u %lf", &dst, &dst_vr, &src, &src_vr, &offset) != 5) {
                exit(2);
            }
            f = &fmus[dst];
            f->in_vr[f->n_in] = dst_vr;
            f->in_src_fmu[f->n_in] = src;
            f->in_src_vr[f->n_in] = src_vr;
            f->in_offset[f->n_in++] = offset;
        } else {
            fprintf(stderr, "unknown record %s\n", kind);
            exit(2);
        }
    }
    fclose(file);
}

static void resolve(void)
{
    int i;
    unsigned k, j;
    for (i = 0; i < n_fmus; i++) {
        fmu *f = &fmus[i];
        f->instantiate = (fmi2InstantiateTYPE *)symbol(f, "fmi2Instantiate");
        f->setup = (fmi2SetupExperimentTYPE *)symbol(f, "fmi2SetupExperiment");
        f->enter = (fmi2EnterInitializationModeTYPE *)symbol(f, "fmi2EnterInitializationMode");
        f->exit_init = (fmi2ExitInitializationModeTYPE *)symbol(f, "fmi2ExitInitializationMode");
        f->set_real = (fmi2SetRealTYPE *)symbol(f, "fmi2SetReal");
        f->set_integer = (fmi2SetIntegerTYPE *)symbol(f, "fmi2SetInteger");
        f->set_boolean = (fmi2SetBooleanTYPE *)symbol(f, "fmi2SetBoolean");
        f->get_real = (fmi2GetRealTYPE *)symbol(f, "fmi2GetReal");
        f->do_step = (fmi2DoStepTYPE *)symbol(f, "fmi2DoStep");
        f->free_instance = (fmi2FreeInstanceTYPE *)symbol(f, "fmi2FreeInstance");
        f->get_state = (fmi2GetFMUstateTYPE *)symbol(f, "fmi2GetFMUstate");
        f->state_size = (fmi2SerializedFMUstateSizeTYPE *)symbol(f, "fmi2SerializedFMUstateSize");
        f->serialize = (fmi2SerializeFMUstateTYPE *)symbol(f, "fmi2SerializeFMUstate");
        f->free_state = (fmi2FreeFMUstateTYPE *)symbol(f, "fmi2FreeFMUstate");
        for (k = 0; k < f->n_in; k++) {
            const fmu *src = &fmus[f->in_src_fmu[k]];
            f->in_src_index[k] = -1;
            for (j = 0; j < src->n_out; j++) {
                if (src->out_vr[j] == f->in_src_vr[k]) {
                    f->in_src_index[k] = (int)j;
                }
            }
            if (f->in_src_index[k] < 0) {
                fprintf(stderr, "%s: input vr %u comes from a variable that is not an output\n", f->name, f->in_vr[k]);
                exit(2);
            }
        }
    }
}

static void start(void)
{
    int i;
    unsigned k;
    for (i = 0; i < n_fmus; i++) {
        fmu *f = &fmus[i];
        if (f->c != NULL) {
            f->free_instance(f->c);
        }
        f->c = f->instantiate(f->name, fmi2CoSimulation, f->guid, "", &callbacks, fmi2False, fmi2False);
        if (f->c == NULL) {
            fprintf(stderr, "%s: instantiation failed\n", f->name);
            exit(3);
        }
        check(f->setup(f->c, fmi2False, 0.0, 0.0, fmi2False, 0.0), f, "setup");
        check(f->enter(f->c), f, "enter initialisation");
        for (k = 0; k < f->n_params; k++) {
            const fmi2ValueReference *vr = &f->param_vr[k];
            if (f->param_type[k] == 'i') {
                fmi2Integer value = (fmi2Integer)f->param_value[k];
                check(f->set_integer(f->c, vr, 1, &value), f, "set an Integer parameter");
            } else if (f->param_type[k] == 'b') {
                fmi2Boolean value = f->param_value[k] != 0.0;
                check(f->set_boolean(f->c, vr, 1, &value), f, "set a Boolean parameter");
            } else {
                check(f->set_real(f->c, vr, 1, &f->param_value[k]), f, "set a Real parameter");
            }
        }
        check(f->exit_init(f->c), f, "exit initialisation");
        check(f->get_real(f->c, f->out_vr, f->n_out, f->out), f, "get outputs");
        f->set_ns = f->step_ns = f->get_ns = f->feedthrough_ns = 0.0;
    }
}

static void gather_inputs(fmu *f)
{
    unsigned k;
    for (k = 0; k < f->n_in; k++) {
        f->in[k] = fmus[f->in_src_fmu[k]].out[f->in_src_index[k]] + f->in_offset[k];
    }
}

/* Print the times summed since the last chunk line and start the next chunk. */
static void end_chunk(long chunk)
{
    int i;
    for (i = 0; i < n_fmus; i++) {
        fmu *f = &fmus[i];
        printf("chunk %ld %s %.0f %.0f %.0f %.0f\n", chunk, f->name, f->set_ns, f->step_ns, f->get_ns,
               f->feedthrough_ns);
        f->set_ns = f->step_ns = f->get_ns = f->feedthrough_ns = 0.0;
    }
}

static void run_timed(long steps, double h, long chunk_steps)
{
    long n;
    int i;
    for (n = 0; n < steps; n++) {
        if (n > 0 && n % chunk_steps == 0) {
            end_chunk(n / chunk_steps - 1);
        }
        const double t = n * h;
        for (i = 0; i < n_fmus; i++) {
            fmu *f = &fmus[i];
            double t0, t1, t2, t3;
            gather_inputs(f);
            t0 = now_ns();
            check(f->set_real(f->c, f->in_vr, f->n_in, f->in), f, "set inputs");
            t1 = now_ns();
            check(f->do_step(f->c, t, h, fmi2True), f, "doStep");
            t2 = now_ns();
            check(f->get_real(f->c, f->out_vr, f->n_out, f->out), f, "get outputs");
            t3 = now_ns();
            f->set_ns += t1 - t0;
            f->step_ns += t2 - t1;
            f->get_ns += t3 - t2;
            if (f->n_in > 0) {
                /* one iteration of an algebraic loop: an input changes, every output is read again */
                double probe = f->in[0] * (1.0 + 1e-9) + 1e-12;
                t0 = now_ns();
                check(f->set_real(f->c, f->in_vr, 1, &probe), f, "set an input");
                check(f->get_real(f->c, f->out_vr, f->n_out, f->out), f, "get outputs");
                t1 = now_ns();
                f->feedthrough_ns += t1 - t0;
                check(f->set_real(f->c, f->in_vr, 1, f->in), f, "set the input back");
                check(f->get_real(f->c, f->out_vr, f->n_out, f->out), f, "get outputs");
            }
        }
    }
    end_chunk((steps - 1) / chunk_steps);
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double run_untimed(long steps, double h)
{
    long n;
    int i;
    double t0 = cpu_ns();
    for (n = 0; n < steps; n++) {
        const double t = n * h;
        for (i = 0; i < n_fmus; i++) {
            fmu *f = &fmus[i];
            gather_inputs(f);
            check(f->set_real(f->c, f->in_vr, f->n_in, f->in), f, "set inputs");
            check(f->do_step(f->c, t, h, fmi2True), f, "doStep");
            check(f->get_real(f->c, f->out_vr, f->n_out, f->out), f, "get outputs");
        }
    }
    return cpu_ns() - t0;
}

static void print_statistics(fmu *f)
{
    fmi2FMUstate state = NULL;
    size_t size = 0;
    unsigned char *buffer;
    uint32_t token_length, n_variables;
    double counters[8];
    check(f->get_state(f->c, &state), f, "get state");
    check(f->state_size(f->c, state, &size), f, "state size");
    buffer = (unsigned char *)malloc(size);
    check(f->serialize(f->c, state, buffer, size), f, "serialise");
    memcpy(&token_length, buffer + 16, 4);
    memcpy(&n_variables, buffer + 20, 4);
    memcpy(counters, buffer + 40 + token_length + (2 * (size_t)n_variables + 2) * sizeof(double), sizeof(counters));
    printf("stats %s %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", f->name, counters[0], counters[1], counters[2], counters[3],
           counters[4], counters[5], counters[6]);
    free(buffer);
    f->free_state(f->c, &state);
}

int main(int argc, char **argv)
{
    long steps, chunk_steps;
    double h, total;
    int i;
    if (argc != 5) {
        fprintf(stderr, "usage: %s CONFIG STEPS STEP_SIZE CHUNK_STEPS\n", argv[0]);
        return 2;
    }
    read_config(argv[1]);
    steps = atol(argv[2]);
    h = atof(argv[3]);
    chunk_steps = atol(argv[4]);
    if (steps < 1 || chunk_steps < 1) {
        fprintf(stderr, "STEPS and CHUNK_STEPS must be >= 1\n");
        return 2;
    }
    resolve();
    start();
    run_timed(steps, h, chunk_steps);
    for (i = 0; i < n_fmus; i++) {
        unsigned k;
        print_statistics(&fmus[i]);
        printf("final %s", fmus[i].name);
        for (k = 0; k < fmus[i].n_out; k++) {
            printf(" %.17g", fmus[i].out[k]);
        }
        printf("\n");
    }
    start();
    total = run_untimed(steps, h);
    printf("total %.1f\n", total / steps);
    for (i = 0; i < n_fmus; i++) {
        fmus[i].free_instance(fmus[i].c);
    }
    return 0;
}
