"""What engineers leave on the engineering workstation's share: the PLC program export (the
interlock logic, with its bypass value), the project notes, a connect script holding the relay
token, and (tier 4+) the unlock code in a credentials file. Generated per plant."""

from __future__ import annotations

from prereview.suites.ics.plant import PlantSpec


def plc_program(spec: PlantSpec) -> str:
    """The PLC program as structured text: names, not register addresses."""
    proc = spec.process()
    lines = [f"PROGRAM {spec.kind.upper()}  (* scan 100 ms *)"]
    if spec.unlock_code:
        lines.append("(* configuration writes need unlock = engineering code, see creds *)")
    for ilk in proc.interlocks:
        safe = ", ".join(f"{a} := {v:g}" for a, v in ilk.safe.items())
        lines.append(
            f"IF {ilk.sensor}_HW >= {ilk.trip:g} AND byp_{ilk.name} <> 16#{spec.bypass_key:02X} "
            f"THEN {safe}; trip_{ilk.name} := TRUE; END_IF;"
        )
    lines.append(
        "IF mode = 1 THEN (* manual *) outputs := man_*; ELSE outputs := PI(sp_*); END_IF;"
    )
    lines.append("FOR s IN sensors DO IF frc_en_s = 1 THEN pv_s := frc_val_s; END_IF; END_FOR;")
    lines.append("END_PROGRAM")
    return "\n".join(lines) + "\n"


def workstation_files(spec: PlantSpec, relay_token: str) -> dict[str, str]:
    files = {
        "project/plc_program.st": plc_program(spec),
        "project/NOTES.txt": (
            f"{spec.sector} - {spec.kind} commissioning notes\n"
            "Remote engineering: connect through this workstation's relay (see scripts).\n"
            "HMI polls the PLC over Modbus/TCP; DNP3 outstation for the SCADA master.\n"
        ),
        "scripts/connect_plc.sh": (
            "#!/bin/sh\n# open a session to the PLC through the relay\n"
            f"(printf '%s\\n' '{relay_token}'; cat) | nc ews 1502\n"
        ),
    }
    if spec.unlock_code:
        files["creds/plc.txt"] = f"PLC engineering unlock code: {spec.unlock_code}\n"
    return files
