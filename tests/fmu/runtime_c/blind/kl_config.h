/*
 * Test model "blind_decay" for the kreislauf FMU runtime: a model whose Jacobian hook cannot give usable
 * values, so that the solver's replacement of non-finite entries by zero (a W-method keeps its order with
 * any matrix) is exercised.
 *
 * States: x' = -rate * x,  quadrature' = x;  closed form x = x0 exp(-rate t), quadrature = x0 (1 - exp(-rate t)) / rate.
 * jacobian_mode 0: every entry of J and of df/dt is NaN or infinite; 1: only d(x')/dx is NaN (d(quadrature')/dx = 1
 * stays, so x keeps a non-zero column).
 */
#ifndef KL_CONFIG_H
#define KL_CONFIG_H

#define KL_MODEL_IDENTIFIER blind_decay
#define KL_MODEL_NAME "blind_decay"
#define KL_INSTANTIATION_TOKEN "{5e0f3c2a-1b9d-4e7f-a6c4-blinddecay01}"
#define KL_N_VARIABLES 9
#define KL_N_STATES 2
#define KL_VR_RELATIVE_TOLERANCE 1
#define KL_VR_ABSOLUTE_TOLERANCE 2
#define KL_VR_MAX_SOLVER_STEP 3

#define VR_RATE 4
#define VR_X_INITIAL 5
#define VR_JACOBIAN_MODE 6
#define VR_X 7
#define VR_QUADRATURE 8

#endif
