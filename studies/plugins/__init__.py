"""Selectors and pruners that live outside `methods/`: a study imports them with one gin line
(`import studies.plugins.hardest`), and each run records that line, so its config.gin re-runs it."""
