"""The critical-infrastructure family (`ics`): seeded simulated plants behind Modbus/TCP and a
DNP3-style outstation, attacked (`ics_attack`) or defended (`ics_defend`), graded by the plant's
own physical state."""
