"""A gate run's context for the doors (CLI, pytest plugin, suites): the options both share,
the run's parts loaded once (`parts.Run`: spec, model, data, scores, serving), and the steps that
combine probes and gates."""
