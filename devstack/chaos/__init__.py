"""The randomized fault run (issue 16): a seeded schedule of faults, a file generator with exact expected outcomes,
a nemesis that injects the faults into processes the run started, a checker, and the JSON report."""
