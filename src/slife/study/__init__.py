"""slife.study: the paper's experiment as one declarative file and one resumable command.

``slife study STUDY.yaml``: lives and controls (ingested, or rendered from the synthetic world), one
training run per life, then the CAS matrix, emergence, ground-truth alignment, source use, the shift
mechanism test and downstream evaluation, in ``report.md`` / ``report.html`` / ``results.json``.
See docs/study.md.
"""
