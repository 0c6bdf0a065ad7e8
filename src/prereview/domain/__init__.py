"""Pure domain types and rules of a review: no database, no Inspect, no I/O beyond shipped data.

- `lifecycle`: submission states, actors and roles, and who may move a submission where.
- `submission`: model access (with a credential *reference*), declared throughput, terms,
  confidentiality election.
- `window`: release-window policies as data.
- `markings`: the banner and voluntary-submission statement every document carries, and what
  the confidentiality election lets leave in sanitized form.
"""
