"""Run coordinators (which run goes when) and run launchers (where a run worker starts)."""
