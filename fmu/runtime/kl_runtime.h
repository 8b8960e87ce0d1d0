/*
 * kl_runtime.h -- the generic stepping core of every kreislauf FMU.
 *
 * One kl_instance holds everything of one FMU instance: the variable array v (see kl_model.h), the copy
 * of v at the end of the last step (for input events), tolerances, the mode, the logger, statistics and
 * the solver state and workspace. The FMI 2 layer (kl_fmi2.c) and the FMI 3 layer (kl_fmi3.c) are thin
 * adapters over the functions declared here; neither holds state of its own, and there is no global
 * mutable state, so any number of instances of any number of FMUs can run side by side in one process.
 *
 * Functions return a kl_status whose values equal those of fmi2Status / fmi3Status (OK, Warning,
 * Discard, Error, Fatal), and log the reason of every status above OK through the instance logger.
 */
#ifndef KL_RUNTIME_H
#define KL_RUNTIME_H

#include <stddef.h>

#include "kl_model.h"
#include "kl_solver.h"

typedef enum { KL_OK = 0, KL_WARNING = 1, KL_DISCARD = 2, KL_ERROR = 3, KL_FATAL = 4 } kl_status;

/* The life cycle of an instance (FMI 2 / FMI 3 co-simulation states). */
typedef enum {
    KL_MODE_INSTANTIATED = 0,   /* after instantiate / reset: parameters and inputs may be set */
    KL_MODE_INITIALIZATION = 1, /* between enter and exit initialisation mode */
    KL_MODE_STEP = 2,           /* stepping: doStep, inputs may be set */
    KL_MODE_TERMINATED = 3,     /* after terminate: values may be read */
    KL_MODE_ERROR = 4           /* after an error: values may be read, state set, or reset */
} kl_mode;

/* Log categories; their names are those declared in modelDescription.xml. */
typedef enum {
    KL_LOG_EVENTS = 0,
    KL_LOG_SOLVER = 1,
    KL_LOG_STATUS_WARNING = 2,
    KL_LOG_STATUS_ERROR = 3,
    KL_N_LOG_CATEGORIES = 4
} kl_log_category;

struct kl_instance;

/* The FMI layer's adapter that hands one finished message (plain text, not a format) to the
 * importer's logger. */
typedef void (*kl_log_function)(const struct kl_instance *instance, kl_status status, const char *category,
                                const char *message);
typedef void *(*kl_allocate_function)(size_t count, size_t size); /* zero-filled, like calloc */
typedef void (*kl_free_function)(void *pointer);

/* Counters since instantiation or reset; part of the FMU state. */
typedef struct {
    double accepted_steps;      /* solver steps accepted */
    double rejected_steps;      /* solver steps rejected (error too large, singular matrix, non-finite) */
    double derivative_calls;    /* calls of kl_derivatives */
    double jacobian_calls;      /* calls of kl_jacobian */
    double decompositions;      /* LU decompositions */
    double time_events;         /* time events handled (one per event instant) */
    double input_events;        /* input event resets reported by kl_input_events */
    double do_steps;            /* successful doStep calls */
} kl_statistics;

/* Everything that determines how a simulation continues: the content of an FMU state. */
typedef struct {
    double v[KL_N_VARIABLES];            /* the variables; v[KL_VR_TIME] is the current time (s) */
    double previous[KL_N_VARIABLES];     /* v at the end of the last step or of initialisation */
    kl_solver_state solver;              /* step size to try next and controller memory */
    kl_statistics statistics;
    double last_event_time;              /* time of the last handled time event (s); -inf when none */
    double last_successful_time;         /* time reached by the last doStep (s) */
    double stop_time;                    /* s; +inf when not defined */
    double tolerance;                    /* relative tolerance from the importer; 0 when not defined */
    int mode;                            /* a kl_mode */
    int outputs_stale;                   /* inputs or parameters changed since outputs were computed */
} kl_state;

typedef struct kl_instance {
    char *instance_name;
    kl_state s;
    int logging_on;
    int log_category_on[KL_N_LOG_CATEGORIES];
    kl_log_function log_function;
    void (*importer_logger)(void);       /* the importer's callback, cast back by the FMI layer */
    void *environment;                   /* the importer's componentEnvironment / instanceEnvironment */
    kl_allocate_function allocate;
    kl_free_function release;
    kl_solver_workspace work;            /* scratch memory of the solver; not part of the state */
} kl_instance;

/* The name of a log category as it appears in modelDescription.xml, e.g. "logEvents". */
const char *kl_log_category_name(kl_log_category category);

/* Format a message (printf-style, from runtime text only) and pass it to the logger if the category is
 * enabled. Messages of category KL_LOG_STATUS_ERROR are always passed on: an error must be explained. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void kl_log(const kl_instance *instance, kl_status status, kl_log_category category, const char *format, ...);

/* Allocate an instance, copy the name, fill v with the start values (kl_set_start_values) and enter
 * KL_MODE_INSTANTIATED. Returns NULL when memory is exhausted (logged through log_function). */
kl_instance *kl_instantiate(const char *instance_name, kl_log_function log_function, void (*importer_logger)(void),
                            void *environment, int logging_on, kl_allocate_function allocate,
                            kl_free_function release);

/* Release an instance and everything it owns. NULL is ignored. */
void kl_free_instance(kl_instance *instance);

/* Back to KL_MODE_INSTANTIATED with the start values, as right after kl_instantiate; the logging
 * settings are kept. */
kl_status kl_reset(kl_instance *instance);

/* FMI semantics: logging_on == 0 switches debug logging off; logging_on != 0 switches it on for every
 * category (n_categories == 0) or for the named categories only (an unknown name is an error naming
 * it). Errors are logged regardless (see kl_log). */
kl_status kl_set_debug_logging(kl_instance *instance, int logging_on, size_t n_categories,
                               const char *const categories[]);

/* Record the experiment: tolerance_defined -> `tolerance` replaces the relative tolerance parameter;
 * start_time becomes v[KL_VR_TIME]; stop_time_defined -> stepping beyond stop_time is an error.
 * Only in KL_MODE_INSTANTIATED (FMI 2 SetupExperiment) or when entering initialisation (FMI 3). */
kl_status kl_setup_experiment(kl_instance *instance, int tolerance_defined, double tolerance, double start_time,
                              int stop_time_defined, double stop_time);

kl_status kl_enter_initialization_mode(kl_instance *instance);

/* kl_initialize and kl_outputs, check solver settings and that every state and output is finite, take
 * the previous copy, enter KL_MODE_STEP. */
kl_status kl_exit_initialization_mode(kl_instance *instance);

kl_status kl_terminate(kl_instance *instance);

/* Write one value. `function` names the FMI function for messages; `type` is the FMI type the caller
 * writes (a mismatch with the variable is an error). Checks: known value reference, causality and
 * mode allow the write, finite, inside [min, max], integral for Integer, 0 or 1 for Boolean. A new value
 * marks the outputs stale (recomputed on the next read); the value the variable already holds (bit for
 * bit) keeps them. */
kl_status kl_set_value(kl_instance *instance, const char *function, unsigned int value_reference, kl_type type,
                       double value);

/* Read one value (after bringing outputs up to date when inputs or parameters changed since they were last
 * computed: by kl_do_step, by an earlier read, or as restored with an FMU state). */
kl_status kl_get_value(kl_instance *instance, const char *function, unsigned int value_reference, kl_type type,
                       double *value);

/* Check that a value reference exists and has the given type; logs and returns KL_ERROR otherwise.
 * Used by the FMI layers for types that the runtime stores but the caller cannot transfer. */
kl_status kl_check_reference(const kl_instance *instance, const char *function, unsigned int value_reference,
                             kl_type type);

/* Log that `function` (which transfers values of `requested_type`, e.g. "String") cannot access the
 * value reference: unknown, or a variable of another type. Returns KL_ERROR. */
kl_status kl_wrong_type(const kl_instance *instance, const char *function, unsigned int value_reference,
                        const char *requested_type);

/* Advance from current_time by step_size (>= 0): input events, integration with time events,
 * outputs, finiteness check, previous copy. On error the instance enters KL_MODE_ERROR; the time
 * reached is in s.last_successful_time. */
kl_status kl_do_step(kl_instance *instance, double current_time, double step_size);

/* FMU state: a snapshot of instance->s allocated through the instance allocator. */
kl_status kl_get_state(kl_instance *instance, kl_state **state);
kl_status kl_set_state(kl_instance *instance, const kl_state *state);
kl_status kl_free_state(kl_instance *instance, kl_state **state);

/* Serialised form: a header (magic, format version, byte-order mark, KL_INSTANTIATION_TOKEN,
 * KL_N_VARIABLES, KL_N_STATES, payload size, checksum) followed by the payload. */
size_t kl_serialized_state_size(void);
kl_status kl_serialize_state(kl_instance *instance, const kl_state *state, unsigned char *buffer, size_t size);
kl_status kl_deserialize_state(kl_instance *instance, const unsigned char *buffer, size_t size, kl_state **state);

/* Log that `function` is not supported by this FMU and return KL_ERROR. */
kl_status kl_unsupported(const kl_instance *instance, const char *function, const char *reason);

/* Log that `function` is not allowed in the current mode and return KL_ERROR. */
kl_status kl_check_mode(const kl_instance *instance, const char *function, unsigned int allowed_modes_mask);

#define KL_MASK(mode) (1u << (mode))

#endif /* KL_RUNTIME_H */
