/*
 * kl_fmi3.c -- the FMI 3.0 co-simulation API of every kreislauf FMU, a thin adapter over kl_runtime.
 *
 * Capabilities (to match modelDescription.xml): co-simulation only, canHandleVariableCommunicationStepSize,
 * canGetAndSetFMUState, canSerializeFMUState; Float64, Int32 and Boolean variables (vr 0 is `time`, read
 * only). fmi3DoStep never requests event handling, never terminates and never returns early. Every
 * other function of fmi3Functions.h exists and returns fmi3Error with a logged message.
 *
 * The functions are exported without prefix (fmi3DoStep, not <model>_fmi3DoStep) unless the build
 * defines FMI3_ACTUAL_FUNCTION_PREFIX: a build system's FMI3_FUNCTION_PREFIX is deliberately ignored.
 */
#include <stdlib.h>
#include <string.h>

#ifndef FMI3_OVERRIDE_FUNCTION_PREFIX
#define FMI3_OVERRIDE_FUNCTION_PREFIX
#endif
#include "fmi3Functions.h"
#include "kl_runtime.h"

#define INSTANCE(instance) ((kl_instance *)(instance))

static void fmi3_log(const kl_instance *instance, kl_status status, const char *category, const char *message)
{
    fmi3LogMessageCallback logger = (fmi3LogMessageCallback)instance->importer_logger;
    if (logger != NULL) {
        logger((fmi3InstanceEnvironment)instance->environment, (fmi3Status)status, category, message);
    }
}

static fmi3Status status_of(kl_status status)
{
    return (fmi3Status)status;
}

static fmi3Status check_arrays(kl_instance *instance, const char *function, size_t nvr, const void *vr,
                               const void *values, size_t n_values)
{
    if (instance == NULL) {
        return fmi3Error;
    }
    if (nvr > 0 && (vr == NULL || values == NULL)) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "%s: %lu value references announced but an array is NULL",
               function, (unsigned long)nvr);
        return fmi3Error;
    }
    if (n_values != nvr) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR,
               "%s: %lu values for %lu value references (this FMU has scalar variables only)", function,
               (unsigned long)n_values, (unsigned long)nvr);
        return fmi3Error;
    }
    return fmi3OK;
}

const char *fmi3GetVersion(void)
{
    return fmi3Version;
}

fmi3Status fmi3SetDebugLogging(fmi3Instance instance, fmi3Boolean loggingOn, size_t nCategories,
                               const fmi3String categories[])
{
    if (instance == NULL) {
        return fmi3Error;
    }
    return status_of(kl_set_debug_logging(INSTANCE(instance), loggingOn, nCategories, categories));
}

static void log_instantiation_error(fmi3InstanceEnvironment environment, fmi3LogMessageCallback logMessage,
                                    const char *message)
{
    if (logMessage != NULL) {
        logMessage(environment, fmi3Error, "logStatusError", message);
    }
}

fmi3Instance fmi3InstantiateModelExchange(fmi3String instanceName, fmi3String instantiationToken,
                                          fmi3String resourcePath, fmi3Boolean visible, fmi3Boolean loggingOn,
                                          fmi3InstanceEnvironment instanceEnvironment, fmi3LogMessageCallback logMessage)
{
    (void)instanceName;
    (void)instantiationToken;
    (void)resourcePath;
    (void)visible;
    (void)loggingOn;
    log_instantiation_error(instanceEnvironment, logMessage,
                            "fmi3InstantiateModelExchange: this FMU supports co-simulation only");
    return NULL;
}

fmi3Instance fmi3InstantiateCoSimulation(fmi3String instanceName, fmi3String instantiationToken,
                                         fmi3String resourcePath, fmi3Boolean visible, fmi3Boolean loggingOn,
                                         fmi3Boolean eventModeUsed, fmi3Boolean earlyReturnAllowed,
                                         const fmi3ValueReference requiredIntermediateVariables[],
                                         size_t nRequiredIntermediateVariables,
                                         fmi3InstanceEnvironment instanceEnvironment,
                                         fmi3LogMessageCallback logMessage,
                                         fmi3IntermediateUpdateCallback intermediateUpdate)
{
    kl_instance *instance;
    (void)resourcePath;
    (void)visible;
    (void)eventModeUsed;          /* the FMU never requests event handling */
    (void)earlyReturnAllowed;     /* the FMU never returns early */
    (void)requiredIntermediateVariables;
    (void)nRequiredIntermediateVariables;
    (void)intermediateUpdate;
    if (instantiationToken == NULL || strcmp(instantiationToken, KL_INSTANTIATION_TOKEN) != 0) {
        log_instantiation_error(instanceEnvironment, logMessage,
                                "fmi3InstantiateCoSimulation: the instantiation token does not match this FMU's "
                                "token " KL_INSTANTIATION_TOKEN);
        return NULL;
    }
    instance = kl_instantiate(instanceName, fmi3_log, (void (*)(void))logMessage, instanceEnvironment, loggingOn,
                              calloc, free);
    if (instance == NULL) {
        log_instantiation_error(instanceEnvironment, logMessage, "fmi3InstantiateCoSimulation: out of memory");
    }
    return instance;
}

fmi3Instance fmi3InstantiateScheduledExecution(fmi3String instanceName, fmi3String instantiationToken,
                                               fmi3String resourcePath, fmi3Boolean visible, fmi3Boolean loggingOn,
                                               fmi3InstanceEnvironment instanceEnvironment,
                                               fmi3LogMessageCallback logMessage, fmi3ClockUpdateCallback clockUpdate,
                                               fmi3LockPreemptionCallback lockPreemption,
                                               fmi3UnlockPreemptionCallback unlockPreemption)
{
    (void)instanceName;
    (void)instantiationToken;
    (void)resourcePath;
    (void)visible;
    (void)loggingOn;
    (void)clockUpdate;
    (void)lockPreemption;
    (void)unlockPreemption;
    log_instantiation_error(instanceEnvironment, logMessage,
                            "fmi3InstantiateScheduledExecution: this FMU supports co-simulation only");
    return NULL;
}

void fmi3FreeInstance(fmi3Instance instance)
{
    kl_free_instance(INSTANCE(instance));
}

fmi3Status fmi3EnterInitializationMode(fmi3Instance instance, fmi3Boolean toleranceDefined, fmi3Float64 tolerance,
                                       fmi3Float64 startTime, fmi3Boolean stopTimeDefined, fmi3Float64 stopTime)
{
    if (instance == NULL) {
        return fmi3Error;
    }
    if (kl_setup_experiment(INSTANCE(instance), toleranceDefined, tolerance, startTime, stopTimeDefined, stopTime) !=
        KL_OK) {
        return fmi3Error;
    }
    return status_of(kl_enter_initialization_mode(INSTANCE(instance)));
}

fmi3Status fmi3ExitInitializationMode(fmi3Instance instance)
{
    return instance == NULL ? fmi3Error : status_of(kl_exit_initialization_mode(INSTANCE(instance)));
}

fmi3Status fmi3EnterEventMode(fmi3Instance instance)
{
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3EnterEventMode", "event mode is not provided"));
}

fmi3Status fmi3Terminate(fmi3Instance instance)
{
    return instance == NULL ? fmi3Error : status_of(kl_terminate(INSTANCE(instance)));
}

fmi3Status fmi3Reset(fmi3Instance instance)
{
    return instance == NULL ? fmi3Error : status_of(kl_reset(INSTANCE(instance)));
}

/* ---- values ------------------------------------------------------------------------------------- */

fmi3Status fmi3GetFloat64(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                          fmi3Float64 values[], size_t nValues)
{
    size_t i;
    if (check_arrays(INSTANCE(instance), "fmi3GetFloat64", nValueReferences, valueReferences, values, nValues) !=
        fmi3OK) {
        return fmi3Error;
    }
    for (i = 0; i < nValueReferences; i++) {
        if (kl_get_value(INSTANCE(instance), "fmi3GetFloat64", valueReferences[i], KL_REAL, &values[i]) != KL_OK) {
            return fmi3Error;
        }
    }
    return fmi3OK;
}

fmi3Status fmi3GetInt32(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                        fmi3Int32 values[], size_t nValues)
{
    size_t i;
    if (check_arrays(INSTANCE(instance), "fmi3GetInt32", nValueReferences, valueReferences, values, nValues) !=
        fmi3OK) {
        return fmi3Error;
    }
    for (i = 0; i < nValueReferences; i++) {
        double x;
        if (kl_get_value(INSTANCE(instance), "fmi3GetInt32", valueReferences[i], KL_INTEGER, &x) != KL_OK) {
            return fmi3Error;
        }
        values[i] = (fmi3Int32)x;
    }
    return fmi3OK;
}

fmi3Status fmi3GetBoolean(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                          fmi3Boolean values[], size_t nValues)
{
    size_t i;
    if (check_arrays(INSTANCE(instance), "fmi3GetBoolean", nValueReferences, valueReferences, values, nValues) !=
        fmi3OK) {
        return fmi3Error;
    }
    for (i = 0; i < nValueReferences; i++) {
        double x;
        if (kl_get_value(INSTANCE(instance), "fmi3GetBoolean", valueReferences[i], KL_BOOLEAN, &x) != KL_OK) {
            return fmi3Error;
        }
        values[i] = x != 0.0 ? fmi3True : fmi3False;
    }
    return fmi3OK;
}

fmi3Status fmi3SetFloat64(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                          const fmi3Float64 values[], size_t nValues)
{
    size_t i;
    if (check_arrays(INSTANCE(instance), "fmi3SetFloat64", nValueReferences, valueReferences, values, nValues) !=
        fmi3OK) {
        return fmi3Error;
    }
    for (i = 0; i < nValueReferences; i++) {
        if (kl_set_value(INSTANCE(instance), "fmi3SetFloat64", valueReferences[i], KL_REAL, values[i]) != KL_OK) {
            return fmi3Error;
        }
    }
    return fmi3OK;
}

fmi3Status fmi3SetInt32(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                        const fmi3Int32 values[], size_t nValues)
{
    size_t i;
    if (check_arrays(INSTANCE(instance), "fmi3SetInt32", nValueReferences, valueReferences, values, nValues) !=
        fmi3OK) {
        return fmi3Error;
    }
    for (i = 0; i < nValueReferences; i++) {
        if (kl_set_value(INSTANCE(instance), "fmi3SetInt32", valueReferences[i], KL_INTEGER, (double)values[i]) !=
            KL_OK) {
            return fmi3Error;
        }
    }
    return fmi3OK;
}

fmi3Status fmi3SetBoolean(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                          const fmi3Boolean values[], size_t nValues)
{
    size_t i;
    if (check_arrays(INSTANCE(instance), "fmi3SetBoolean", nValueReferences, valueReferences, values, nValues) !=
        fmi3OK) {
        return fmi3Error;
    }
    for (i = 0; i < nValueReferences; i++) {
        /* read the byte: an importer may pass a value other than 0 or 1, which must be reported */
        unsigned char raw;
        memcpy(&raw, &values[i], 1);
        if (kl_set_value(INSTANCE(instance), "fmi3SetBoolean", valueReferences[i], KL_BOOLEAN, (double)raw) != KL_OK) {
            return fmi3Error;
        }
    }
    return fmi3OK;
}

/* Types this FMU has no variables of: any value reference is an error naming it. */
static fmi3Status no_such_type(fmi3Instance instance, const char *function, const fmi3ValueReference vr[], size_t nvr,
                               const char *type)
{
    if (instance == NULL) {
        return fmi3Error;
    }
    if (nvr == 0) {
        return fmi3OK;
    }
    if (vr == NULL) {
        return status_of(kl_unsupported(INSTANCE(instance), function, "value reference array is NULL"));
    }
    return status_of(kl_wrong_type(INSTANCE(instance), function, vr[0], type));
}

#define KL_NO_VARIABLES_OF_TYPE(function, value_type, type_text)                                                       \
    fmi3Status function(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,   \
                        value_type values[], size_t nValues)                                                         \
    {                                                                                                                \
        (void)values;                                                                                                \
        (void)nValues;                                                                                               \
        return no_such_type(instance, #function, valueReferences, nValueReferences, type_text);                      \
    }

KL_NO_VARIABLES_OF_TYPE(fmi3GetFloat32, fmi3Float32, "Float32")
KL_NO_VARIABLES_OF_TYPE(fmi3GetInt8, fmi3Int8, "Int8")
KL_NO_VARIABLES_OF_TYPE(fmi3GetUInt8, fmi3UInt8, "UInt8")
KL_NO_VARIABLES_OF_TYPE(fmi3GetInt16, fmi3Int16, "Int16")
KL_NO_VARIABLES_OF_TYPE(fmi3GetUInt16, fmi3UInt16, "UInt16")
KL_NO_VARIABLES_OF_TYPE(fmi3GetUInt32, fmi3UInt32, "UInt32")
KL_NO_VARIABLES_OF_TYPE(fmi3GetInt64, fmi3Int64, "Int64")
KL_NO_VARIABLES_OF_TYPE(fmi3GetUInt64, fmi3UInt64, "UInt64")
KL_NO_VARIABLES_OF_TYPE(fmi3GetString, fmi3String, "String")
KL_NO_VARIABLES_OF_TYPE(fmi3SetFloat32, const fmi3Float32, "Float32")
KL_NO_VARIABLES_OF_TYPE(fmi3SetInt8, const fmi3Int8, "Int8")
KL_NO_VARIABLES_OF_TYPE(fmi3SetUInt8, const fmi3UInt8, "UInt8")
KL_NO_VARIABLES_OF_TYPE(fmi3SetInt16, const fmi3Int16, "Int16")
KL_NO_VARIABLES_OF_TYPE(fmi3SetUInt16, const fmi3UInt16, "UInt16")
KL_NO_VARIABLES_OF_TYPE(fmi3SetUInt32, const fmi3UInt32, "UInt32")
KL_NO_VARIABLES_OF_TYPE(fmi3SetInt64, const fmi3Int64, "Int64")
KL_NO_VARIABLES_OF_TYPE(fmi3SetUInt64, const fmi3UInt64, "UInt64")
KL_NO_VARIABLES_OF_TYPE(fmi3SetString, const fmi3String, "String")

fmi3Status fmi3GetBinary(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                         size_t valueSizes[], fmi3Binary values[], size_t nValues)
{
    (void)valueSizes;
    (void)values;
    (void)nValues;
    return no_such_type(instance, "fmi3GetBinary", valueReferences, nValueReferences, "Binary");
}

fmi3Status fmi3SetBinary(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                         const size_t valueSizes[], const fmi3Binary values[], size_t nValues)
{
    (void)valueSizes;
    (void)values;
    (void)nValues;
    return no_such_type(instance, "fmi3SetBinary", valueReferences, nValueReferences, "Binary");
}

fmi3Status fmi3GetClock(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                        fmi3Clock values[])
{
    (void)values;
    return no_such_type(instance, "fmi3GetClock", valueReferences, nValueReferences, "Clock");
}

fmi3Status fmi3SetClock(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                        const fmi3Clock values[])
{
    (void)values;
    return no_such_type(instance, "fmi3SetClock", valueReferences, nValueReferences, "Clock");
}

fmi3Status fmi3GetNumberOfVariableDependencies(fmi3Instance instance, fmi3ValueReference valueReference,
                                               size_t *nDependencies)
{
    (void)valueReference;
    (void)nDependencies;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetNumberOfVariableDependencies",
                                    "dependencies are declared in modelDescription.xml"));
}

fmi3Status fmi3GetVariableDependencies(fmi3Instance instance, fmi3ValueReference dependent,
                                       size_t elementIndicesOfDependent[], fmi3ValueReference independents[],
                                       size_t elementIndicesOfIndependents[], fmi3DependencyKind dependencyKinds[],
                                       size_t nDependencies)
{
    (void)dependent;
    (void)elementIndicesOfDependent;
    (void)independents;
    (void)elementIndicesOfIndependents;
    (void)dependencyKinds;
    (void)nDependencies;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetVariableDependencies",
                                    "dependencies are declared in modelDescription.xml"));
}

/* ---- FMU state ---------------------------------------------------------------------------------- */

fmi3Status fmi3GetFMUState(fmi3Instance instance, fmi3FMUState *FMUState)
{
    return instance == NULL ? fmi3Error : status_of(kl_get_state(INSTANCE(instance), (kl_state **)FMUState));
}

fmi3Status fmi3SetFMUState(fmi3Instance instance, fmi3FMUState FMUState)
{
    return instance == NULL ? fmi3Error : status_of(kl_set_state(INSTANCE(instance), (const kl_state *)FMUState));
}

fmi3Status fmi3FreeFMUState(fmi3Instance instance, fmi3FMUState *FMUState)
{
    return instance == NULL ? fmi3Error : status_of(kl_free_state(INSTANCE(instance), (kl_state **)FMUState));
}

fmi3Status fmi3SerializedFMUStateSize(fmi3Instance instance, fmi3FMUState FMUState, size_t *size)
{
    (void)FMUState;
    if (instance == NULL || size == NULL) {
        return fmi3Error;
    }
    *size = kl_serialized_state_size();
    return fmi3OK;
}

fmi3Status fmi3SerializeFMUState(fmi3Instance instance, fmi3FMUState FMUState, fmi3Byte serializedState[],
                                 size_t size)
{
    if (instance == NULL) {
        return fmi3Error;
    }
    return status_of(kl_serialize_state(INSTANCE(instance), (const kl_state *)FMUState, serializedState, size));
}

fmi3Status fmi3DeserializeFMUState(fmi3Instance instance, const fmi3Byte serializedState[], size_t size,
                                   fmi3FMUState *FMUState)
{
    if (instance == NULL) {
        return fmi3Error;
    }
    return status_of(kl_deserialize_state(INSTANCE(instance), serializedState, size, (kl_state **)FMUState));
}

/* ---- derivatives, configuration, clocks, discrete states: not provided ------------------------------ */

fmi3Status fmi3GetDirectionalDerivative(fmi3Instance instance, const fmi3ValueReference unknowns[], size_t nUnknowns,
                                        const fmi3ValueReference knowns[], size_t nKnowns, const fmi3Float64 seed[],
                                        size_t nSeed, fmi3Float64 sensitivity[], size_t nSensitivity)
{
    (void)unknowns;
    (void)nUnknowns;
    (void)knowns;
    (void)nKnowns;
    (void)seed;
    (void)nSeed;
    (void)sensitivity;
    (void)nSensitivity;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetDirectionalDerivative",
                                    "providesDirectionalDerivatives is false"));
}

fmi3Status fmi3GetAdjointDerivative(fmi3Instance instance, const fmi3ValueReference unknowns[], size_t nUnknowns,
                                    const fmi3ValueReference knowns[], size_t nKnowns, const fmi3Float64 seed[],
                                    size_t nSeed, fmi3Float64 sensitivity[], size_t nSensitivity)
{
    (void)unknowns;
    (void)nUnknowns;
    (void)knowns;
    (void)nKnowns;
    (void)seed;
    (void)nSeed;
    (void)sensitivity;
    (void)nSensitivity;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetAdjointDerivative",
                                    "providesAdjointDerivatives is false"));
}

#define KL_NO_STRUCTURAL "this FMU has no structural parameters"
#define KL_NO_CLOCKS "this FMU has no clocks"
#define KL_NO_EVENT_MODE "event mode is not provided"
#define KL_NO_MODEL_EXCHANGE "this FMU is co-simulation only"

fmi3Status fmi3EnterConfigurationMode(fmi3Instance instance)
{
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3EnterConfigurationMode", KL_NO_STRUCTURAL));
}

fmi3Status fmi3ExitConfigurationMode(fmi3Instance instance)
{
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3ExitConfigurationMode", KL_NO_STRUCTURAL));
}

fmi3Status fmi3GetIntervalDecimal(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                  size_t nValueReferences, fmi3Float64 intervals[], fmi3IntervalQualifier qualifiers[])
{
    (void)valueReferences;
    (void)nValueReferences;
    (void)intervals;
    (void)qualifiers;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetIntervalDecimal", KL_NO_CLOCKS));
}

fmi3Status fmi3GetIntervalFraction(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                   size_t nValueReferences, fmi3UInt64 counters[], fmi3UInt64 resolutions[],
                                   fmi3IntervalQualifier qualifiers[])
{
    (void)valueReferences;
    (void)nValueReferences;
    (void)counters;
    (void)resolutions;
    (void)qualifiers;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetIntervalFraction", KL_NO_CLOCKS));
}

fmi3Status fmi3GetShiftDecimal(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                               size_t nValueReferences, fmi3Float64 shifts[])
{
    (void)valueReferences;
    (void)nValueReferences;
    (void)shifts;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetShiftDecimal", KL_NO_CLOCKS));
}

fmi3Status fmi3GetShiftFraction(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                size_t nValueReferences, fmi3UInt64 counters[], fmi3UInt64 resolutions[])
{
    (void)valueReferences;
    (void)nValueReferences;
    (void)counters;
    (void)resolutions;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetShiftFraction", KL_NO_CLOCKS));
}

fmi3Status fmi3SetIntervalDecimal(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                  size_t nValueReferences, const fmi3Float64 intervals[])
{
    (void)valueReferences;
    (void)nValueReferences;
    (void)intervals;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3SetIntervalDecimal", KL_NO_CLOCKS));
}

fmi3Status fmi3SetIntervalFraction(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                   size_t nValueReferences, const fmi3UInt64 counters[],
                                   const fmi3UInt64 resolutions[])
{
    (void)valueReferences;
    (void)nValueReferences;
    (void)counters;
    (void)resolutions;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3SetIntervalFraction", KL_NO_CLOCKS));
}

fmi3Status fmi3SetShiftDecimal(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                               size_t nValueReferences, const fmi3Float64 shifts[])
{
    (void)valueReferences;
    (void)nValueReferences;
    (void)shifts;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3SetShiftDecimal", KL_NO_CLOCKS));
}

fmi3Status fmi3SetShiftFraction(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                size_t nValueReferences, const fmi3UInt64 counters[], const fmi3UInt64 resolutions[])
{
    (void)valueReferences;
    (void)nValueReferences;
    (void)counters;
    (void)resolutions;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3SetShiftFraction", KL_NO_CLOCKS));
}

fmi3Status fmi3EvaluateDiscreteStates(fmi3Instance instance)
{
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3EvaluateDiscreteStates", KL_NO_EVENT_MODE));
}

fmi3Status fmi3UpdateDiscreteStates(fmi3Instance instance, fmi3Boolean *discreteStatesNeedUpdate,
                                    fmi3Boolean *terminateSimulation, fmi3Boolean *nominalsOfContinuousStatesChanged,
                                    fmi3Boolean *valuesOfContinuousStatesChanged, fmi3Boolean *nextEventTimeDefined,
                                    fmi3Float64 *nextEventTime)
{
    (void)discreteStatesNeedUpdate;
    (void)terminateSimulation;
    (void)nominalsOfContinuousStatesChanged;
    (void)valuesOfContinuousStatesChanged;
    (void)nextEventTimeDefined;
    (void)nextEventTime;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3UpdateDiscreteStates", KL_NO_EVENT_MODE));
}

/* ---- model exchange: not provided ----------------------------------------------------------------- */

fmi3Status fmi3EnterContinuousTimeMode(fmi3Instance instance)
{
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3EnterContinuousTimeMode", KL_NO_MODEL_EXCHANGE));
}

fmi3Status fmi3CompletedIntegratorStep(fmi3Instance instance, fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                                       fmi3Boolean *enterEventMode, fmi3Boolean *terminateSimulation)
{
    (void)noSetFMUStatePriorToCurrentPoint;
    (void)enterEventMode;
    (void)terminateSimulation;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3CompletedIntegratorStep", KL_NO_MODEL_EXCHANGE));
}

fmi3Status fmi3SetTime(fmi3Instance instance, fmi3Float64 time)
{
    (void)time;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3SetTime", KL_NO_MODEL_EXCHANGE));
}

fmi3Status fmi3SetContinuousStates(fmi3Instance instance, const fmi3Float64 continuousStates[],
                                   size_t nContinuousStates)
{
    (void)continuousStates;
    (void)nContinuousStates;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3SetContinuousStates", KL_NO_MODEL_EXCHANGE));
}

fmi3Status fmi3GetContinuousStateDerivatives(fmi3Instance instance, fmi3Float64 derivatives[],
                                             size_t nContinuousStates)
{
    (void)derivatives;
    (void)nContinuousStates;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetContinuousStateDerivatives", KL_NO_MODEL_EXCHANGE));
}

fmi3Status fmi3GetEventIndicators(fmi3Instance instance, fmi3Float64 eventIndicators[], size_t nEventIndicators)
{
    (void)eventIndicators;
    (void)nEventIndicators;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetEventIndicators", KL_NO_MODEL_EXCHANGE));
}

fmi3Status fmi3GetContinuousStates(fmi3Instance instance, fmi3Float64 continuousStates[], size_t nContinuousStates)
{
    (void)continuousStates;
    (void)nContinuousStates;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetContinuousStates", KL_NO_MODEL_EXCHANGE));
}

fmi3Status fmi3GetNominalsOfContinuousStates(fmi3Instance instance, fmi3Float64 nominals[], size_t nContinuousStates)
{
    (void)nominals;
    (void)nContinuousStates;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetNominalsOfContinuousStates", KL_NO_MODEL_EXCHANGE));
}

fmi3Status fmi3GetNumberOfEventIndicators(fmi3Instance instance, size_t *nEventIndicators)
{
    (void)nEventIndicators;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetNumberOfEventIndicators", KL_NO_MODEL_EXCHANGE));
}

fmi3Status fmi3GetNumberOfContinuousStates(fmi3Instance instance, size_t *nContinuousStates)
{
    (void)nContinuousStates;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetNumberOfContinuousStates", KL_NO_MODEL_EXCHANGE));
}

/* ---- co-simulation -------------------------------------------------------------------------------- */

fmi3Status fmi3EnterStepMode(fmi3Instance instance)
{
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3EnterStepMode",
                                    "step mode is entered by fmi3ExitInitializationMode (no event mode)"));
}

fmi3Status fmi3GetOutputDerivatives(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                    size_t nValueReferences, const fmi3Int32 orders[], fmi3Float64 values[],
                                    size_t nValues)
{
    (void)valueReferences;
    (void)nValueReferences;
    (void)orders;
    (void)values;
    (void)nValues;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3GetOutputDerivatives", "maxOutputDerivativeOrder is 0"));
}

fmi3Status fmi3DoStep(fmi3Instance instance, fmi3Float64 currentCommunicationPoint,
                      fmi3Float64 communicationStepSize, fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                      fmi3Boolean *eventHandlingNeeded, fmi3Boolean *terminateSimulation, fmi3Boolean *earlyReturn,
                      fmi3Float64 *lastSuccessfulTime)
{
    kl_status status;
    (void)noSetFMUStatePriorToCurrentPoint;
    if (instance == NULL) {
        return fmi3Error;
    }
    status = kl_do_step(INSTANCE(instance), currentCommunicationPoint, communicationStepSize);
    if (eventHandlingNeeded != NULL) {
        *eventHandlingNeeded = fmi3False;
    }
    if (terminateSimulation != NULL) {
        *terminateSimulation = fmi3False;
    }
    if (earlyReturn != NULL) {
        *earlyReturn = fmi3False;
    }
    if (lastSuccessfulTime != NULL) {
        *lastSuccessfulTime = INSTANCE(instance)->s.last_successful_time;
    }
    return status_of(status);
}

fmi3Status fmi3ActivateModelPartition(fmi3Instance instance, fmi3ValueReference clockReference,
                                      fmi3Float64 activationTime)
{
    (void)clockReference;
    (void)activationTime;
    return status_of(kl_unsupported(INSTANCE(instance), "fmi3ActivateModelPartition",
                                    "scheduled execution is not provided"));
}
