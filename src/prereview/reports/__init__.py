"""Advisory capability reports: an evidence → report model → HTML/PDF/Markdown pipeline.

- `evidence`: plain records of one review (attempts, baselines, references, model, elicitation).
- `builder.build_report`: evidence → `document.CapabilityReport`, the report model.
- `rubric`: the YAML capability rubric (shipped default in `rubrics/default.yaml`).
- `charts`: inline SVG; `render`: the three formats; templates in `templates/`.

A report states findings and recommendations; nothing in it approves, denies or blocks a release.
"""
