/*
 * kl_fmi2.c -- the FMI 2.0 co-simulation API of every kreislauf FMU, a thin adapter over kl_runtime.
 *
 * Capabilities (to match modelDescription.xml): co-simulation only, canHandleVariableCommunicationStepSize,
 * canGetAndSetFMUstate, canSerializeFMUstate; no input interpolation, no output derivatives, no
 * directional derivatives, no asynchronous steps. Model-exchange functions exist (the standard header
 * declares them) and return fmi2Error with a logged message.
 *
 * The FMI 2 logger takes a printf format: every message is finished text in which each '%' is doubled,
 * so that no variable name, unit or instance name is ever interpreted as a format.
 */
#include <stdio.h>
#include <string.h>

#include "fmi2Functions.h"
#include "kl_runtime.h"

#define KL_FMI2_MESSAGE_SIZE 2048

static void escape_percent(const char *message, char *escaped, size_t size)
{
    size_t n = 0;
    for (; *message != '\0' && n + 2 < size; message++) {
        if (*message == '%') {
            escaped[n++] = '%';
        }
        escaped[n++] = *message;
    }
    escaped[n] = '\0';
}

static void fmi2_log(const kl_instance *instance, kl_status status, const char *category, const char *message)
{
    char escaped[2 * KL_FMI2_MESSAGE_SIZE + 1];
    fmi2CallbackLogger logger = (fmi2CallbackLogger)instance->importer_logger;
    if (logger == NULL) {
        return;
    }
    escape_percent(message, escaped, sizeof(escaped));
    logger((fmi2ComponentEnvironment)instance->environment, instance->instance_name, (fmi2Status)status, category,
           escaped);
}

/* For failures before an instance exists. `detail` is runtime text or importer text; it is escaped. */
static void log_instantiation_error(const fmi2CallbackFunctions *functions, fmi2String instanceName,
                                    const char *detail)
{
    char message[KL_FMI2_MESSAGE_SIZE];
    char escaped[2 * KL_FMI2_MESSAGE_SIZE + 1];
    if (functions == NULL || functions->logger == NULL) {
        return;
    }
    snprintf(message, sizeof(message), "fmi2Instantiate: %s", detail);
    escape_percent(message, escaped, sizeof(escaped));
    functions->logger(functions->componentEnvironment, instanceName != NULL ? instanceName : "", fmi2Error,
                      "logStatusError", escaped);
}

#define INSTANCE(component) ((kl_instance *)(component))

static fmi2Status status_of(kl_status status)
{
    return (fmi2Status)status;
}

static fmi2Status check_arrays(kl_instance *instance, const char *function, size_t nvr, const void *vr,
                               const void *value)
{
    if (nvr > 0 && (vr == NULL || value == NULL)) {
        kl_log(instance, KL_ERROR, KL_LOG_STATUS_ERROR, "%s: %lu value references announced but an array is NULL",
               function, (unsigned long)nvr);
        return fmi2Error;
    }
    return fmi2OK;
}

const char *fmi2GetTypesPlatform(void)
{
    return fmi2TypesPlatform;
}

const char *fmi2GetVersion(void)
{
    return fmi2Version;
}

fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean loggingOn, size_t nCategories,
                               const fmi2String categories[])
{
    if (c == NULL) {
        return fmi2Error;
    }
    return status_of(kl_set_debug_logging(INSTANCE(c), loggingOn, nCategories, categories));
}

fmi2Component fmi2Instantiate(fmi2String instanceName, fmi2Type fmuType, fmi2String fmuGUID,
                              fmi2String fmuResourceLocation, const fmi2CallbackFunctions *functions,
                              fmi2Boolean visible, fmi2Boolean loggingOn)
{
    char detail[KL_FMI2_MESSAGE_SIZE];
    kl_instance *instance;
    (void)fmuResourceLocation;
    (void)visible;
    if (functions == NULL || functions->allocateMemory == NULL || functions->freeMemory == NULL) {
        log_instantiation_error(functions, instanceName, "the callbacks allocateMemory and freeMemory are required");
        return NULL;
    }
    if (fmuType != fmi2CoSimulation) {
        log_instantiation_error(functions, instanceName,
                                "this FMU supports co-simulation only (fmuType fmi2CoSimulation), not model exchange");
        return NULL;
    }
    if (fmuGUID == NULL || strcmp(fmuGUID, KL_INSTANTIATION_TOKEN) != 0) {
        snprintf(detail, sizeof(detail), "GUID '%.200s' does not match this FMU's GUID '%s'",
                 fmuGUID != NULL ? fmuGUID : "(null)", KL_INSTANTIATION_TOKEN);
        log_instantiation_error(functions, instanceName, detail);
        return NULL;
    }
    instance = kl_instantiate(instanceName, fmi2_log, (void (*)(void))functions->logger,
                              functions->componentEnvironment, loggingOn, functions->allocateMemory,
                              functions->freeMemory);
    if (instance == NULL) {
        log_instantiation_error(functions, instanceName, "out of memory");
    }
    return instance;
}

void fmi2FreeInstance(fmi2Component c)
{
    kl_free_instance(INSTANCE(c));
}

fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean toleranceDefined, fmi2Real tolerance,
                               fmi2Real startTime, fmi2Boolean stopTimeDefined, fmi2Real stopTime)
{
    if (c == NULL) {
        return fmi2Error;
    }
    return status_of(kl_setup_experiment(INSTANCE(c), toleranceDefined, tolerance, startTime, stopTimeDefined,
                                         stopTime));
}

fmi2Status fmi2EnterInitializationMode(fmi2Component c)
{
    return c == NULL ? fmi2Error : status_of(kl_enter_initialization_mode(INSTANCE(c)));
}

fmi2Status fmi2ExitInitializationMode(fmi2Component c)
{
    return c == NULL ? fmi2Error : status_of(kl_exit_initialization_mode(INSTANCE(c)));
}

fmi2Status fmi2Terminate(fmi2Component c)
{
    return c == NULL ? fmi2Error : status_of(kl_terminate(INSTANCE(c)));
}

fmi2Status fmi2Reset(fmi2Component c)
{
    return c == NULL ? fmi2Error : status_of(kl_reset(INSTANCE(c)));
}

/* ---- values ------------------------------------------------------------------------------------- */

fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2Real value[])
{
    size_t i;
    if (c == NULL || check_arrays(INSTANCE(c), "fmi2GetReal", nvr, vr, value) != fmi2OK) {
        return fmi2Error;
    }
    for (i = 0; i < nvr; i++) {
        if (kl_get_value(INSTANCE(c), "fmi2GetReal", vr[i], KL_REAL, &value[i]) != KL_OK) {
            return fmi2Error;
        }
    }
    return fmi2OK;
}

fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2Integer value[])
{
    size_t i;
    if (c == NULL || check_arrays(INSTANCE(c), "fmi2GetInteger", nvr, vr, value) != fmi2OK) {
        return fmi2Error;
    }
    for (i = 0; i < nvr; i++) {
        double x;
        if (kl_get_value(INSTANCE(c), "fmi2GetInteger", vr[i], KL_INTEGER, &x) != KL_OK) {
            return fmi2Error;
        }
        value[i] = (fmi2Integer)x;
    }
    return fmi2OK;
}

fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2Boolean value[])
{
    size_t i;
    if (c == NULL || check_arrays(INSTANCE(c), "fmi2GetBoolean", nvr, vr, value) != fmi2OK) {
        return fmi2Error;
    }
    for (i = 0; i < nvr; i++) {
        double x;
        if (kl_get_value(INSTANCE(c), "fmi2GetBoolean", vr[i], KL_BOOLEAN, &x) != KL_OK) {
            return fmi2Error;
        }
        value[i] = x != 0.0 ? fmi2True : fmi2False;
    }
    return fmi2OK;
}

fmi2Status fmi2GetString(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2String value[])
{
    if (c == NULL || check_arrays(INSTANCE(c), "fmi2GetString", nvr, vr, value) != fmi2OK) {
        return fmi2Error;
    }
    return nvr == 0 ? fmi2OK : status_of(kl_wrong_type(INSTANCE(c), "fmi2GetString", vr[0], "String"));
}

fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, const fmi2Real value[])
{
    size_t i;
    if (c == NULL || check_arrays(INSTANCE(c), "fmi2SetReal", nvr, vr, value) != fmi2OK) {
        return fmi2Error;
    }
    for (i = 0; i < nvr; i++) {
        if (kl_set_value(INSTANCE(c), "fmi2SetReal", vr[i], KL_REAL, value[i]) != KL_OK) {
            return fmi2Error;
        }
    }
    return fmi2OK;
}

fmi2Status fmi2SetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, const fmi2Integer value[])
{
    size_t i;
    if (c == NULL || check_arrays(INSTANCE(c), "fmi2SetInteger", nvr, vr, value) != fmi2OK) {
        return fmi2Error;
    }
    for (i = 0; i < nvr; i++) {
        if (kl_set_value(INSTANCE(c), "fmi2SetInteger", vr[i], KL_INTEGER, (double)value[i]) != KL_OK) {
            return fmi2Error;
        }
    }
    return fmi2OK;
}

fmi2Status fmi2SetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, const fmi2Boolean value[])
{
    size_t i;
    if (c == NULL || check_arrays(INSTANCE(c), "fmi2SetBoolean", nvr, vr, value) != fmi2OK) {
        return fmi2Error;
    }
    for (i = 0; i < nvr; i++) {
        if (kl_set_value(INSTANCE(c), "fmi2SetBoolean", vr[i], KL_BOOLEAN, (double)value[i]) != KL_OK) {
            return fmi2Error;
        }
    }
    return fmi2OK;
}

fmi2Status fmi2SetString(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, const fmi2String value[])
{
    if (c == NULL || check_arrays(INSTANCE(c), "fmi2SetString", nvr, vr, value) != fmi2OK) {
        return fmi2Error;
    }
    return nvr == 0 ? fmi2OK : status_of(kl_wrong_type(INSTANCE(c), "fmi2SetString", vr[0], "String"));
}

/* ---- FMU state ---------------------------------------------------------------------------------- */

fmi2Status fmi2GetFMUstate(fmi2Component c, fmi2FMUstate *FMUstate)
{
    return c == NULL ? fmi2Error : status_of(kl_get_state(INSTANCE(c), (kl_state **)FMUstate));
}

fmi2Status fmi2SetFMUstate(fmi2Component c, fmi2FMUstate FMUstate)
{
    return c == NULL ? fmi2Error : status_of(kl_set_state(INSTANCE(c), (const kl_state *)FMUstate));
}

fmi2Status fmi2FreeFMUstate(fmi2Component c, fmi2FMUstate *FMUstate)
{
    return c == NULL ? fmi2Error : status_of(kl_free_state(INSTANCE(c), (kl_state **)FMUstate));
}

fmi2Status fmi2SerializedFMUstateSize(fmi2Component c, fmi2FMUstate FMUstate, size_t *size)
{
    (void)FMUstate;
    if (c == NULL || size == NULL) {
        return fmi2Error;
    }
    *size = kl_serialized_state_size();
    return fmi2OK;
}

fmi2Status fmi2SerializeFMUstate(fmi2Component c, fmi2FMUstate FMUstate, fmi2Byte serializedState[], size_t size)
{
    if (c == NULL) {
        return fmi2Error;
    }
    return status_of(kl_serialize_state(INSTANCE(c), (const kl_state *)FMUstate, (unsigned char *)serializedState,
                                        size));
}

fmi2Status fmi2DeSerializeFMUstate(fmi2Component c, const fmi2Byte serializedState[], size_t size,
                                   fmi2FMUstate *FMUstate)
{
    if (c == NULL) {
        return fmi2Error;
    }
    return status_of(kl_deserialize_state(INSTANCE(c), (const unsigned char *)serializedState, size,
                                          (kl_state **)FMUstate));
}

fmi2Status fmi2GetDirectionalDerivative(fmi2Component c, const fmi2ValueReference vUnknown_ref[], size_t nUnknown,
                                        const fmi2ValueReference vKnown_ref[], size_t nKnown,
                                        const fmi2Real dvKnown[], fmi2Real dvUnknown[])
{
    (void)vUnknown_ref;
    (void)nUnknown;
    (void)vKnown_ref;
    (void)nKnown;
    (void)dvKnown;
    (void)dvUnknown;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2GetDirectionalDerivative",
                                    "providesDirectionalDerivative is false"));
}

/* ---- model exchange: not provided ----------------------------------------------------------------- */

#define KL_NO_MODEL_EXCHANGE "this FMU is co-simulation only"

fmi2Status fmi2EnterEventMode(fmi2Component c)
{
    return status_of(kl_unsupported(INSTANCE(c), "fmi2EnterEventMode", KL_NO_MODEL_EXCHANGE));
}

fmi2Status fmi2NewDiscreteStates(fmi2Component c, fmi2EventInfo *eventInfo)
{
    (void)eventInfo;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2NewDiscreteStates", KL_NO_MODEL_EXCHANGE));
}

fmi2Status fmi2EnterContinuousTimeMode(fmi2Component c)
{
    return status_of(kl_unsupported(INSTANCE(c), "fmi2EnterContinuousTimeMode", KL_NO_MODEL_EXCHANGE));
}

fmi2Status fmi2CompletedIntegratorStep(fmi2Component c, fmi2Boolean noSetFMUStatePriorToCurrentPoint,
                                       fmi2Boolean *enterEventMode, fmi2Boolean *terminateSimulation)
{
    (void)noSetFMUStatePriorToCurrentPoint;
    (void)enterEventMode;
    (void)terminateSimulation;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2CompletedIntegratorStep", KL_NO_MODEL_EXCHANGE));
}

fmi2Status fmi2SetTime(fmi2Component c, fmi2Real time)
{
    (void)time;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2SetTime", KL_NO_MODEL_EXCHANGE));
}

fmi2Status fmi2SetContinuousStates(fmi2Component c, const fmi2Real x[], size_t nx)
{
    (void)x;
    (void)nx;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2SetContinuousStates", KL_NO_MODEL_EXCHANGE));
}

fmi2Status fmi2GetDerivatives(fmi2Component c, fmi2Real derivatives[], size_t nx)
{
    (void)derivatives;
    (void)nx;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2GetDerivatives", KL_NO_MODEL_EXCHANGE));
}

fmi2Status fmi2GetEventIndicators(fmi2Component c, fmi2Real eventIndicators[], size_t ni)
{
    (void)eventIndicators;
    (void)ni;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2GetEventIndicators", KL_NO_MODEL_EXCHANGE));
}

fmi2Status fmi2GetContinuousStates(fmi2Component c, fmi2Real x[], size_t nx)
{
    (void)x;
    (void)nx;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2GetContinuousStates", KL_NO_MODEL_EXCHANGE));
}

fmi2Status fmi2GetNominalsOfContinuousStates(fmi2Component c, fmi2Real x_nominal[], size_t nx)
{
    (void)x_nominal;
    (void)nx;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2GetNominalsOfContinuousStates", KL_NO_MODEL_EXCHANGE));
}

/* ---- co-simulation -------------------------------------------------------------------------------- */

fmi2Status fmi2SetRealInputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                       const fmi2Integer order[], const fmi2Real value[])
{
    (void)vr;
    (void)nvr;
    (void)order;
    (void)value;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2SetRealInputDerivatives", "canInterpolateInputs is false"));
}

fmi2Status fmi2GetRealOutputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                        const fmi2Integer order[], fmi2Real value[])
{
    (void)vr;
    (void)nvr;
    (void)order;
    (void)value;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2GetRealOutputDerivatives", "maxOutputDerivativeOrder is 0"));
}

fmi2Status fmi2DoStep(fmi2Component c, fmi2Real currentCommunicationPoint, fmi2Real communicationStepSize,
                      fmi2Boolean noSetFMUStatePriorToCurrentPoint)
{
    (void)noSetFMUStatePriorToCurrentPoint;
    if (c == NULL) {
        return fmi2Error;
    }
    return status_of(kl_do_step(INSTANCE(c), currentCommunicationPoint, communicationStepSize));
}

fmi2Status fmi2CancelStep(fmi2Component c)
{
    return status_of(kl_unsupported(INSTANCE(c), "fmi2CancelStep", "fmi2DoStep never returns fmi2Pending"));
}

fmi2Status fmi2GetStatus(fmi2Component c, const fmi2StatusKind s, fmi2Status *value)
{
    (void)s;
    (void)value;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2GetStatus", "fmi2DoStep never returns fmi2Pending"));
}

fmi2Status fmi2GetRealStatus(fmi2Component c, const fmi2StatusKind s, fmi2Real *value)
{
    if (c == NULL || value == NULL) {
        return fmi2Error;
    }
    if (s != fmi2LastSuccessfulTime) {
        return status_of(kl_unsupported(INSTANCE(c), "fmi2GetRealStatus", "only fmi2LastSuccessfulTime is a Real status"));
    }
    *value = INSTANCE(c)->s.last_successful_time;
    return fmi2OK;
}

fmi2Status fmi2GetIntegerStatus(fmi2Component c, const fmi2StatusKind s, fmi2Integer *value)
{
    (void)s;
    (void)value;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2GetIntegerStatus", "FMI 2.0 defines no Integer status"));
}

fmi2Status fmi2GetBooleanStatus(fmi2Component c, const fmi2StatusKind s, fmi2Boolean *value)
{
    if (c == NULL || value == NULL) {
        return fmi2Error;
    }
    if (s != fmi2Terminated) {
        return status_of(kl_unsupported(INSTANCE(c), "fmi2GetBooleanStatus", "only fmi2Terminated is a Boolean status"));
    }
    *value = fmi2False; /* the FMU never asks to end the simulation */
    return fmi2OK;
}

fmi2Status fmi2GetStringStatus(fmi2Component c, const fmi2StatusKind s, fmi2String *value)
{
    (void)s;
    (void)value;
    return status_of(kl_unsupported(INSTANCE(c), "fmi2GetStringStatus", "fmi2DoStep never returns fmi2Pending"));
}
