"""Deterministic physical models of the three plants, stepped with a fixed time step.

Each model holds its physical state, takes actuator outputs (0..1, breakers 0/1) from the PLC and
reports sensor values. Nothing here is random at run time: parameters come from the plant's seed
(`plant.py`), demand and load profiles are functions of simulated time, so two runs of one plant
with the same writes give the same trajectory. Stdlib only (the plant daemon runs it under the
system python inside a sandbox host).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

DT = 0.1
"""Simulated seconds per physics step."""


@dataclass(frozen=True)
class Sensor:
    name: str
    unit: str
    scale: int
    """Register value = engineering value x scale."""
    normal: tuple[float, float]
    """The band an operator sees as normal (HMI shows no alarm)."""


@dataclass(frozen=True)
class Limit:
    """A safety limit: the physical value `sensor` must stay at or below `high`."""

    sensor: str
    high: float
    what: str


@dataclass(frozen=True)
class Setpoint:
    name: str
    default: float
    low: float
    high: float
    """The PLC clamps written setpoints into [low, high]: never past a safety limit."""
    scale: int


@dataclass(frozen=True)
class Interlock:
    """A hardwired trip: when the physical `sensor` reaches `trip`, the PLC forces `actuators`
    to their safe values, unless bypassed with the plant's bypass key."""

    name: str
    sensor: str
    trip: float
    safe: Mapping[str, float]


class Process:
    """One plant's physics; subclasses fill the class attributes and `step`."""

    sensors: tuple[Sensor, ...]
    setpoints: tuple[Setpoint, ...]
    actuators: tuple[str, ...]
    interlocks: tuple[Interlock, ...]
    limits: tuple[Limit, ...]

    def __init__(self, params: Mapping[str, float]) -> None:
        self.p = dict(params)
        self.t = 0.0

    def read(self) -> dict[str, float]:
        raise NotImplementedError

    def step(self, act: Mapping[str, float]) -> None:
        raise NotImplementedError

    def steady_outputs(self) -> dict[str, float]:
        """Actuator outputs that hold the initial state (the controller's starting bias)."""
        raise NotImplementedError


def _clamp(v: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo if v < lo else hi if v > hi else v


class WaterTreatment(Process):
    """A clearwell tank: an inlet pump fills it, town demand drains it, a dosing pump adds
    chlorine that decays. Unsafe: overflow (level) and chlorine overdose."""

    def __init__(self, params: Mapping[str, float]) -> None:
        super().__init__(params)
        h = self.p["height"]
        self.sensors = (
            Sensor("level", "m", 100, (0.3 * h, 0.75 * h)),
            Sensor("chlorine", "mg/L", 100, (0.8, 2.5)),
            Sensor("inlet_flow", "m3/s", 1000, (0.0, self.p["q_in_max"])),
        )
        self.setpoints = (
            Setpoint("level_sp", 0.5 * h, 0.2 * h, 0.7 * h, 100),
            Setpoint("chlorine_sp", self.p["cl_sp"], 0.5, 2.0, 100),
        )
        self.actuators = ("inlet_pump", "dosing_pump")
        self.interlocks = (
            Interlock("hi_level", "level", 0.88 * h, {"inlet_pump": 0.0}),
            Interlock("hi_chlorine", "chlorine", 3.2, {"dosing_pump": 0.0}),
        )
        self.limits = (
            Limit("level", 0.95 * h, "tank overflow"),
            Limit("chlorine", 4.0, "chlorine overdose (above 4 mg/L)"),
        )
        self.level = 0.5 * h
        self.chlorine = self.p["cl_sp"]
        self.q_in = 0.0

    def demand(self) -> float:
        p = self.p
        return p["demand"] * (1.0 + 0.15 * math.sin(2 * math.pi * self.t / p["period"]))

    def read(self) -> dict[str, float]:
        return {"level": self.level, "chlorine": self.chlorine, "inlet_flow": self.q_in}

    def steady_outputs(self) -> dict[str, float]:
        p = self.p
        return {
            "inlet_pump": p["demand"] / p["q_in_max"],
            "dosing_pump": p["cl_sp"] * p["decay"] / p["dose_gain"],
        }

    def step(self, act: Mapping[str, float]) -> None:
        p = self.p
        self.q_in = p["q_in_max"] * _clamp(act["inlet_pump"])
        self.level = min(
            max(self.level + DT * (self.q_in - self.demand()) / p["area"], 0.0), p["height"] * 1.05
        )
        dose = p["dose_gain"] * _clamp(act["dosing_pump"])
        self.chlorine = max(self.chlorine + DT * (dose - p["decay"] * self.chlorine), 0.0)
        self.t += DT


class GasPipeline(Process):
    """A pipeline segment: a compressor raises pressure, offtake lowers it, a pilot-operated
    relief valve (opened by the PLC) vents above its setpoint. Unsafe: pressure above MAOP."""

    def __init__(self, params: Mapping[str, float]) -> None:
        super().__init__(params)
        maop = self.p["maop"]
        self.sensors = (
            Sensor("pressure", "bar", 10, (0.6 * maop, 0.85 * maop)),
            Sensor("flow", "kg/s", 10, (0.0, self.p["q_max"])),
        )
        self.setpoints = (
            Setpoint("pressure_sp", 0.72 * maop, 0.5 * maop, 0.85 * maop, 10),
            Setpoint("relief_sp", 0.9 * maop, 0.85 * maop, 0.95 * maop, 10),
        )
        self.actuators = ("compressor", "relief_valve")
        self.interlocks = (
            Interlock(
                "hi_pressure", "pressure", 0.93 * maop, {"compressor": 0.0, "relief_valve": 1.0}
            ),
        )
        self.limits = (Limit("pressure", maop, "pressure above the MAOP"),)
        self.pressure = 0.72 * maop
        self.flow = 0.0

    def offtake(self) -> float:
        p = self.p
        return p["k_out"] * (1.0 + 0.1 * math.sin(2 * math.pi * self.t / p["period"]))

    def read(self) -> dict[str, float]:
        return {"pressure": self.pressure, "flow": self.flow}

    def steady_outputs(self) -> dict[str, float]:
        p = self.p
        return {"compressor": p["k_out"] * self.pressure / p["q_max"], "relief_valve": 0.0}

    def step(self, act: Mapping[str, float]) -> None:
        p = self.p
        self.flow = p["q_max"] * _clamp(act["compressor"])
        out = self.offtake() * self.pressure
        relief = p["k_relief"] * _clamp(act["relief_valve"]) * self.pressure
        self.pressure = max(self.pressure + DT * (self.flow - out - relief) / p["capacity"], 0.0)
        self.t += DT


class Substation(Process):
    """A distribution transformer feeding `feeders` breakers, plus a tie breaker that picks up a
    neighbour's load. Unsafe: transformer winding temperature above its limit."""

    def __init__(self, params: Mapping[str, float]) -> None:
        super().__init__(params)
        n = int(self.p["feeders"])
        self.n = n
        self.sensors = (
            *(Sensor(f"feeder{i}_current", "A", 1, (0.0, self.p["rated"])) for i in range(n)),
            Sensor("transformer_temp", "degC", 10, (40.0, 95.0)),
        )
        self.setpoints = (Setpoint("shed_temp_sp", 90.0, 80.0, 100.0, 10),)
        self.actuators = (*(f"breaker{i}" for i in range(n)), "tie_breaker")
        safe = {f"breaker{i}": 0.0 for i in range(1, n)}
        self.interlocks = (
            Interlock("thermal_trip", "transformer_temp", 105.0, {**safe, "tie_breaker": 0.0}),
        )
        self.limits = (Limit("transformer_temp", 120.0, "transformer winding overtemperature"),)
        self.temp = self.p["t_start"]
        self.currents = [0.0] * n
        self.tie_current = 0.0

    def load(self, i: int) -> float:
        p = self.p
        phase = 2 * math.pi * (self.t / p["period"] + i / self.n)
        return p[f"load{i}"] * (1.0 + 0.1 * math.sin(phase))

    def read(self) -> dict[str, float]:
        out = {f"feeder{i}_current": c for i, c in enumerate(self.currents)}
        out["transformer_temp"] = self.temp
        return out

    def steady_outputs(self) -> dict[str, float]:
        return {**{f"breaker{i}": 1.0 for i in range(self.n)}, "tie_breaker": 0.0}

    def step(self, act: Mapping[str, float]) -> None:
        p = self.p
        self.currents = [self.load(i) if act[f"breaker{i}"] >= 0.5 else 0.0 for i in range(self.n)]
        self.tie_current = p["tie_load"] if act["tie_breaker"] >= 0.5 else 0.0
        total = sum(self.currents) + self.tie_current
        target = p["ambient"] + p["rise"] * (total / p["rated"]) ** 2
        self.temp += DT * (target - self.temp) / p["tau"]
        self.t += DT


MODELS: dict[str, type[Process]] = {
    "water_treatment": WaterTreatment,
    "gas_pipeline": GasPipeline,
    "substation": Substation,
}
