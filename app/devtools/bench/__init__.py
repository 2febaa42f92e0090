"""`mpanel bench ...`: speed figures against the local servers.

figures: providers, converge, journey, imports, standins; engine: floor and profile;
scale: many stacks at once; console: the operators' pages over many rows (console_rows
seeds and removes them).
"""
