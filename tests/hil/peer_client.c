/* An independent Modbus TCP client for the HIL tests, built on libmodbus (compiled at test time).
 *
 * Usage: peer_client PORT
 * Talks to the served tank (tests/hil/tank_map.toml) on 127.0.0.1:PORT, unit 1: writes set points in
 * both word orders, advances the tank with the trigger, reads the outputs back and tries writes the
 * server must refuse. Prints one "key value" line per result; exit status 0 when every call that
 * should succeed did.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modbus.h>

static int failures = 0;

/* float32 in ABCD order from its IEEE 754 bits. Not modbus_set_float_abcd: in libmodbus 3.1.6 (Debian 12)
 * it stores 8000.0f as 0xFA45 0x0000, byte-swapped against modbus_get_float_abcd, which reads
 * 0x45FA 0x0000 as 8000. */
static void set_float_abcd(float value, uint16_t *dest)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    dest[0] = (uint16_t)(bits >> 16);
    dest[1] = (uint16_t)(bits & 0xFFFF);
}

static void check(int rc, const char *what, modbus_t *ctx)
{
    if (rc == -1) {
        fprintf(stderr, "%s failed: %s\n", what, modbus_strerror(errno));
        failures++;
    }
    (void)ctx;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", atoi(argv[1]));
    if (ctx == NULL || modbus_set_slave(ctx, 1) == -1) {
        return 2;
    }
    modbus_set_response_timeout(ctx, 2, 0);
    if (modbus_connect(ctx) == -1) {
        fprintf(stderr, "connect failed: %s\n", modbus_strerror(errno));
        modbus_free(ctx);
        return 2;
    }

    uint16_t regs[16];
    /* heater power 8000 W: float32, ABCD (high word first) at holding 0 */
    set_float_abcd(8000.0f, regs);
    check(modbus_write_registers(ctx, 0, 2, regs), "write heater_power_set", ctx);
    /* external heat -2000 W: int32, CDAB (low word first) at holding 2 */
    uint32_t external = (uint32_t)(int32_t)-2000;
    regs[0] = (uint16_t)(external & 0xFFFF);
    regs[1] = (uint16_t)(external >> 16);
    check(modbus_write_registers(ctx, 2, 2, regs), "write external_heat_set", ctx);
    /* ambient 283.15 K = 273.15 K + 100 * 0.1 K: int16 at holding 4, FC 06 */
    check(modbus_write_register(ctx, 4, 100), "write ambient_temperature_set", ctx);
    /* pump on: coil 0 */
    check(modbus_write_bit(ctx, 0, 1), "write pump_on_set", ctx);
    /* two steps of 900 s: uint32 milliseconds, ABCD, at holding 5 */
    uint32_t dt_ms = 900000;
    regs[0] = (uint16_t)(dt_ms >> 16);
    regs[1] = (uint16_t)(dt_ms & 0xFFFF);
    check(modbus_write_registers(ctx, 5, 2, regs), "trigger 1", ctx);
    check(modbus_write_registers(ctx, 5, 2, regs), "trigger 2", ctx);

    int n = modbus_read_input_registers(ctx, 0, 16, regs);
    check(n == 16 ? 0 : -1, "read input 0..15", ctx);
    printf("tank_temperature_abcd %.9g\n", modbus_get_float_abcd(regs + 0));
    printf("tank_temperature_cdab %.9g\n", modbus_get_float_cdab(regs + 2));
    printf("stored_energy_kJ_abcd %d\n", (int32_t)(((uint32_t)regs[4] << 16) | regs[5]));
    printf("stored_energy_kJ_cdab %d\n", (int32_t)(((uint32_t)regs[7] << 16) | regs[6]));
    uint64_t bits = 0;
    for (int i = 0; i < 4; i++) {
        bits = (bits << 16) | regs[10 + i];
    }
    double model_time;
    memcpy(&model_time, &bits, sizeof model_time);
    printf("model_time %.17g\n", model_time);

    uint8_t running = 0;
    check(modbus_read_input_bits(ctx, 0, 1, &running), "read pump_running", ctx);
    printf("pump_running %d\n", running);

    /* read the int32 set point back in its CDAB order */
    check(modbus_read_registers(ctx, 2, 2, regs), "read external_heat_set", ctx);
    printf("external_heat_readback %d\n", (int32_t)(((uint32_t)regs[1] << 16) | regs[0]));

    /* writes the server must refuse */
    set_float_abcd(50000.0f, regs);
    int rc = modbus_write_registers(ctx, 0, 2, regs);
    printf("out_of_range_refused %d\n", rc == -1 && errno == EMBXILVAL);
    rc = modbus_write_register(ctx, 22, 1);
    printf("read_only_refused %d\n", rc == -1 && errno == EMBXILADD);

    modbus_close(ctx);
    modbus_free(ctx);
    return failures == 0 ? 0 : 1;
}
