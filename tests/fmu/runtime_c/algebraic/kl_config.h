/*
 * Test model "heat_meter" for the kreislauf FMU runtime: a purely algebraic model (no states).
 * heat_flow = mass_flow * specific_heat * (supply_temperature - return_temperature) * efficiency / 100,
 * elapsed = time.
 */
#ifndef KL_CONFIG_H
#define KL_CONFIG_H

#define KL_MODEL_IDENTIFIER heat_meter
#define KL_MODEL_NAME "heat_meter"
#define KL_INSTANTIATION_TOKEN "{2b6c0a51-7e3d-4f8a-8d10-heatmeter0001}"
#define KL_N_VARIABLES 11
#define KL_N_STATES 0
#define KL_VR_RELATIVE_TOLERANCE 1
#define KL_VR_ABSOLUTE_TOLERANCE 2
#define KL_VR_MAX_SOLVER_STEP 3

#define VR_SUPPLY_TEMPERATURE 4
#define VR_RETURN_TEMPERATURE 5
#define VR_MASS_FLOW 6
#define VR_SPECIFIC_HEAT 7
#define VR_EFFICIENCY 8
#define VR_HEAT_FLOW 9
#define VR_ELAPSED 10

#endif
