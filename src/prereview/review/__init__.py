"""The review workflow: a submitted model's way from submission to delivered findings.

- `service`: `ReviewService`, acting for one authenticated principal: submit, status, plan,
  the non-AI baselines, withdraw, deliver findings, close; every state change audited.
- `assessment`: runs a review's plan through Inspect's `eval_set` (resumable, one lock per
  review) and records every sample (`results`).
- `views`: the read-only records it hands to the CLI, the service API and reports.
- `errors`: its one-line errors.

Imports stay in the modules (`from prereview.review.service import ReviewService`): importing
this package does not load Inspect or the store.
"""
