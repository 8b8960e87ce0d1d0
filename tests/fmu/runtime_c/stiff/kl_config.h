/*
 * Test model "stiff_pair" for the kreislauf FMU runtime (hand-written in the form the exporter generates).
 *
 * States: x1' = -k1 x1 + s,  x2' = -k2 (x2 - x1),  quadrature' = x2,  clock' = 1,
 * with the source s = u * stage * efficiency / 100 held constant over a step. For k1 >> k2 the pair is
 * stiff; for constant s it has the closed-form solution used by the tests.
 * Events: every timer_period seconds (a time event) clock is reset to 0 and timer_resets counts up;
 * a rising edge of the input reset_request (an input event) resets quadrature to 0 and counts
 * quadrature_resets. Test hooks: fault = true makes der(x2) NaN, and so does t > fault_time; x2_exp = exp(output_gain * x2)
 * overflows to +inf for large output_gain.
 */
#ifndef KL_CONFIG_H
#define KL_CONFIG_H

#define KL_MODEL_IDENTIFIER stiff_pair
#define KL_MODEL_NAME "stiff_pair"
#define KL_INSTANTIATION_TOKEN "{8c1d2f0e-5b7a-4c3e-9f21-stiffpair0001}"
#define KL_N_VARIABLES 24
#define KL_N_STATES 4
#define KL_VR_RELATIVE_TOLERANCE 1
#define KL_VR_ABSOLUTE_TOLERANCE 2
#define KL_VR_MAX_SOLVER_STEP 3

#define VR_K1 4
#define VR_K2 5
#define VR_X1_INITIAL 6
#define VR_X2_INITIAL 7
#define VR_TIMER_PERIOD 8
#define VR_U 9
#define VR_STAGE 10
#define VR_RESET_REQUEST 11
#define VR_FAULT 12
#define VR_OUTPUT_GAIN 13
#define VR_X1 14
#define VR_X2 15
#define VR_QUADRATURE 16
#define VR_CLOCK 17
#define VR_TIMER_RESETS 18
#define VR_QUADRATURE_RESETS 19
#define VR_X2_EXP 20
#define VR_EFFICIENCY 21
#define VR_TIME_CONSTANT_1 22
#define VR_FAULT_TIME 23

#endif
