"""A gate run's context for the doors (CLI, pytest plugin, suites): the options both share,
the inputs loaded once, and the steps that combine probes and gates."""
