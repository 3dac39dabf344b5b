"""`hrm watch`: a Textual app that shows an HRM reasoning, segment by segment.

Modules: `trace` (what is recorded per segment; numpy only), `engine` (the model, torch),
`app` (the Textual app) and its widgets (`board`, `act`, `timeline`, `puzzles`, `screens`).
Nothing is imported here: `hrm --help` and `--export` must not pay for Textual.
"""
