"""Reports from results.json: the roll-up rules, renderers, diff, merge and waivers.

Everything here works on the results dictionary alone (plus the catalogue for roll-ups), so
a run can be re-rendered, compared or merged offline, long after it finished.
"""
